package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Spec says how to start one session's job.
type Spec struct {
	// SessionID names the job: JobPrefix + SessionID.
	SessionID string
	// Dir is the session's directory, on the shared file system: the
	// job's working directory, with the key, the agent's address and
	// ChimeraX's output in it.
	Dir string
	// Agent is the command that runs the node agent on the node (chimerad
	// and AgentCommand); Command is ChimeraX's command line there, Env
	// added to its environment.
	Agent   []string
	Command []string
	Env     []string
	// Timeout bounds the wait for the job to be scheduled and ChimeraX to
	// be ready.
	Timeout time.Duration
	// OrphanAfter ends a job that has had no daemon for that long (0:
	// never; adopt mode leaves jobs for the next daemon).
	OrphanAfter time.Duration
	// LogMaxBytes caps ChimeraX's output log (0: the agent's default).
	LogMaxBytes int64
	// OnStatus, if set, is told of the job's status while it starts.
	OnStatus func(JobStatus)
}

// Job is one session's ChimeraX as a Slurm job, as the daemon holds it.
// It offers what a local child offers (Dial, Done, Stop…). The exit fields
// are set before done is closed.
type Job struct {
	cl        *Cluster
	id        string
	sessionID string
	dir       string
	key       []byte
	info      agentInfo

	mu       sync.Mutex
	ctrl     net.Conn
	last     JobStatus // as squeue last showed it
	stopping atomic.Bool
	detached atomic.Bool

	done    chan struct{}
	code    *int
	signal  string
	failure string
	end     JobStatus // the job's final status, if it ended by Slurm
}

// ID is the Slurm job id.
func (j *Job) ID() string { return j.id }

// Node is where the job runs, once it does.
func (j *Job) Node() string { return j.info.Node }

// Addr is the agent's address, once it is ready.
func (j *Job) Addr() string { return j.info.Addr }

// Dir is the session directory the job runs in.
func (j *Job) Dir() string { return j.dir }

// Port is ChimeraX's REST port on its node's loopback (for the record
// and for redacting logs; only the agent dials it).
func (j *Job) Port() int { return j.info.Port }

// Status is the job's status as last seen.
func (j *Job) Status() JobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.last
}

func (j *Job) setStatus(st JobStatus) {
	j.mu.Lock()
	j.last = st
	j.mu.Unlock()
}

// quote quotes s for sh: the batch script's only dynamic text is paths
// and arguments chimerad chose, quoted whole.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// script is the batch script: exec the agent, with ChimeraX after --.
func script(spec Spec) string {
	args := append([]string(nil), spec.Agent...)
	args = append(args, "--dir", spec.Dir)
	if spec.OrphanAfter > 0 {
		args = append(args, "--orphan-after", spec.OrphanAfter.String())
	}
	if spec.LogMaxBytes > 0 {
		args = append(args, "--log-max", strconv.FormatInt(spec.LogMaxBytes, 10))
	}
	for _, kv := range spec.Env {
		args = append(args, "--env", kv)
	}
	args = append(append(args, "--"), spec.Command...)
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = quote(a)
	}
	return "#!/bin/sh\n# chimerad session " + spec.SessionID + ": the node agent and its ChimeraX\nexec " + strings.Join(q, " ") + "\n"
}

// Launch submits the session's job and waits until its agent reports
// ChimeraX ready, the job ends, spec.Timeout passes (the job is
// cancelled: ErrStartTimeout names what Slurm said, e.g. "PENDING
// (Resources)") or ctx ends (cancelled too). A job that was submitted is
// returned even with an error, for its id and output.
func (cl *Cluster) Launch(ctx context.Context, spec Spec) (*Job, error) {
	for _, d := range []string{spec.Dir, filepath.Join(spec.Dir, "home"), filepath.Join(spec.Dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
		}
	}
	key, err := NewKey(spec.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
	}
	os.Remove(filepath.Join(spec.Dir, AgentFile))
	path := filepath.Join(spec.Dir, jobScript)
	if err := os.WriteFile(path, []byte(script(spec)), 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
	}
	deadline := time.Now().Add(spec.Timeout)
	id, err := cl.submit(ctx, JobPrefix+spec.SessionID, spec.Dir, path)
	if err != nil {
		return nil, err
	}
	j := &Job{cl: cl, id: id, sessionID: spec.SessionID, dir: spec.Dir, key: key, done: make(chan struct{}),
		last: JobStatus{ID: id, State: "PENDING"}}
	abandon := func(err error) (*Job, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*cl.timeout())
		defer cancel()
		cl.Cancel(cctx, id)
		if st, werr := cl.WaitGone(cctx, id, cl.timeout()); werr == nil && st.State != "" {
			j.setStatus(st)
		}
		close(j.done)
		return j, err
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastPoll time.Time
	for {
		if info, err := readAgentInfo(spec.Dir); err == nil {
			j.info = info
			if err := j.connect(); err == nil {
				j.setStatus(JobStatus{ID: id, Name: JobPrefix + spec.SessionID, State: "RUNNING", Node: info.Node, WorkDir: spec.Dir})
				go j.follow()
				return j, nil
			}
		}
		if time.Since(lastPoll) >= time.Second {
			lastPoll = time.Now()
			st, found, err := cl.Status(ctx, id)
			switch {
			case err != nil: // slurmctld busy or down: wait, never guess
			case !found:
				return abandon(fmt.Errorf("%w: job %s vanished from squeue before ChimeraX was ready", ErrStartFailed, id))
			case !st.Active():
				j.setStatus(st)
				close(j.done)
				return j, fmt.Errorf("%w: job %s ended %s before ChimeraX was ready", ErrStartFailed, id, st.Describe())
			default:
				j.setStatus(st)
				if spec.OnStatus != nil {
					spec.OnStatus(st)
				}
			}
		}
		select {
		case <-ctx.Done():
			return abandon(fmt.Errorf("%w: %v", ErrStartFailed, context.Cause(ctx)))
		case now := <-tick.C:
			if now.After(deadline) {
				st := j.Status()
				return abandon(fmt.Errorf("%w: job %s still %s after %v", ErrStartTimeout, id, st.Describe(), spec.Timeout))
			}
		}
	}
}

func readAgentInfo(dir string) (agentInfo, error) {
	var info agentInfo
	b, err := os.ReadFile(filepath.Join(dir, AgentFile))
	if err == nil {
		err = json.Unmarshal(b, &info)
	}
	if err == nil && info.Addr == "" {
		err = errors.New("no address")
	}
	return info, err
}

// dial connects to the agent and asks for op, after the handshake.
func (j *Job) dial(ctx context.Context, op string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", j.info.Addr)
	if err != nil {
		return nil, err
	}
	if err := clientHandshake(conn, j.key, op); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// connect opens the control stream and reads the agent's first report,
// which must say ChimeraX is ready.
func (j *Job) connect() error {
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	conn, err := j.dial(ctx, "control")
	if err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	var st status
	if err := json.NewDecoder(&oneByte{conn}).Decode(&st); err != nil || !st.Ready || st.Exited {
		conn.Close()
		if err == nil {
			err = errors.New("ChimeraX is not ready")
		}
		return err
	}
	conn.SetReadDeadline(time.Time{})
	j.mu.Lock()
	j.ctrl = conn
	j.mu.Unlock()
	return nil
}

// oneByte reads one byte at a time, so that a decoder of the first report
// leaves the next ones on the connection for follow's decoder.
type oneByte struct{ c net.Conn }

func (o *oneByte) Read(b []byte) (int, error) { return o.c.Read(b[:min(len(b), 1)]) }

// follow reads the agent's reports until ChimeraX has exited; if the
// stream breaks first, it finds out from Slurm what became of the job.
func (j *Job) follow() {
	defer close(j.done)
	for {
		j.mu.Lock()
		conn := j.ctrl
		j.mu.Unlock()
		dec := json.NewDecoder(conn)
		for {
			var st status
			if err := dec.Decode(&st); err != nil {
				break
			}
			if st.Exited {
				j.code, j.signal, j.failure = st.ExitCode, st.Signal, st.Error
				conn.Close()
				if st.Stopped != "" && !j.stopping.Load() {
					// Slurm told the agent to end: its state says why.
					j.settle(30 * time.Second)
				}
				return
			}
		}
		conn.Close()
		if j.detached.Load() {
			return
		}
		if !j.reconnect() {
			return
		}
	}
}

// reconnect, after the control stream broke, asks Slurm about the job
// until it has ended (settle) or the agent answers again (true). A Slurm
// that does not answer is asked again: a failed squeue is not a gone job.
func (j *Job) reconnect() bool {
	for i := 0; ; i++ {
		st, found, err := j.cl.Status(context.Background(), j.id)
		switch {
		case err != nil: // Slurm does not answer: the agent may
			if j.connect() == nil {
				return true
			}
		case !found:
			j.failure = "the Slurm job " + j.id + " is gone"
			return false
		case !st.Active() || st.State == "COMPLETING":
			j.settle(30 * time.Second)
			return false
		default:
			if j.connect() == nil {
				return true
			}
			if i >= 60 { // running, yet its agent has not answered for a minute
				j.failure = "the node agent of job " + j.id + " does not answer"
				return false
			}
		}
		if j.stopping.Load() && i >= 5 {
			return false
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// settle waits for the job's final state (Slurm shows CANCELLED, TIMEOUT
// … once its processes are gone) and keeps it as the end.
func (j *Job) settle(d time.Duration) {
	st, err := j.cl.WaitGone(context.Background(), j.id, d)
	if err == nil && st.State != "" {
		j.end = st
		j.setStatus(st)
	}
	if j.failure == "" && j.code == nil && j.signal == "" {
		j.failure = "the Slurm job " + j.id + " ended"
	}
}

// Adopt re-attaches to the agent of job id, left running by a previous
// daemon, through the address it published in dir.
func (cl *Cluster) Adopt(dir, id, sessionID string) (*Job, error) {
	key, err := ReadKey(dir)
	if err != nil {
		return nil, err
	}
	info, err := readAgentInfo(dir)
	if err != nil {
		return nil, fmt.Errorf("no agent address: %v", err)
	}
	j := &Job{cl: cl, id: id, sessionID: sessionID, dir: dir, key: key, info: info, done: make(chan struct{}),
		last: JobStatus{ID: id, Name: JobPrefix + sessionID, State: "RUNNING", Node: info.Node, WorkDir: dir}}
	if err := j.connect(); err != nil {
		return nil, fmt.Errorf("its agent does not answer: %v", err)
	}
	go j.follow()
	return j, nil
}

// Dial connects to ChimeraX's REST server through the agent.
func (j *Job) Dial(ctx context.Context) (net.Conn, error) { return j.dial(ctx, "rest") }

// send sends a request on the control stream; a lost stream is noticed
// by follow.
func (j *Job) send(op, data string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ctrl == nil {
		return
	}
	b, _ := json.Marshal(request{Op: op, Data: data})
	j.ctrl.SetWriteDeadline(time.Now().Add(5 * time.Second))
	j.ctrl.Write(append(b, '\n'))
}

// Done is closed once ChimeraX has exited or the job has ended.
func (j *Job) Done() <-chan struct{} { return j.done }

// Exited reports whether Done is closed.
func (j *Job) Exited() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// WaitDone waits up to d for Done and reports whether it came.
func (j *Job) WaitDone(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-j.done:
		return true
	case <-t.C:
		return false
	}
}

// End is the job's final status if Slurm ended it (cancelled, time limit,
// failed…) rather than ChimeraX exiting on its own; ok is false otherwise.
func (j *Job) End() (st JobStatus, ok bool) {
	if !j.Exited() || j.end.State == "" {
		return JobStatus{}, false
	}
	e := j.end.End()
	return j.end, e != "" && e != EndCompleted
}

// ExitStatus is ChimeraX's exit code or signal, once known.
func (j *Job) ExitStatus() (*int, string) {
	if !j.Exited() {
		return nil, ""
	}
	return j.code, j.signal
}

// DescribeExit says how the session's ChimeraX or job ended.
func (j *Job) DescribeExit() string {
	if st, ok := j.End(); ok {
		return "the Slurm job " + j.id + " ended " + st.Describe()
	}
	switch {
	case j.signal != "":
		return "signal: " + j.signal
	case j.code != nil:
		return "exit code " + strconv.Itoa(*j.code)
	case j.failure != "":
		return j.failure
	}
	return "unknown status"
}

// Stop ends ChimeraX gracefully if it will (`exit`, stdin closed), by
// signals after grace if not, and returns once the job has left the queue.
func (j *Job) Stop(grace time.Duration) {
	j.stopping.Store(true)
	j.send("write", "exit\n")
	j.send("close_stdin", "")
	if !j.WaitDone(grace) {
		j.Terminate(grace)
		return
	}
	j.ReapAll()
}

// Terminate ends ChimeraX by SIGTERM, then SIGKILL after grace, then
// cancels the job; it returns once the job has left the queue.
func (j *Job) Terminate(grace time.Duration) {
	j.stopping.Store(true)
	j.send("signal", "TERM")
	if !j.WaitDone(grace) {
		j.send("signal", "KILL")
		if !j.WaitDone(grace) {
			j.cancel()
			j.WaitDone(2 * j.cl.timeout())
		}
	}
	j.ReapAll()
}

// Kill kills ChimeraX and cancels the job at once.
func (j *Job) Kill() {
	j.stopping.Store(true)
	j.send("signal", "KILL")
	j.cancel()
	j.WaitDone(2 * j.cl.timeout())
	j.ReapAll()
}

// ReapAll, ChimeraX having exited, makes sure the job is gone: scancel if
// it still holds resources, and wait until squeue no longer shows it.
func (j *Job) ReapAll() {
	j.stopping.Store(true)
	j.mu.Lock()
	if j.ctrl != nil {
		j.ctrl.Close()
	}
	j.mu.Unlock()
	ctx := context.Background()
	if st, err := j.cl.WaitGone(ctx, j.id, 3*time.Second); err == nil {
		if st.State != "" {
			j.setStatus(st)
		}
		return
	}
	j.cancel()
	if st, err := j.cl.WaitGone(ctx, j.id, 30*time.Second); err == nil && st.State != "" {
		j.setStatus(st)
	}
}

func (j *Job) cancel() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*j.cl.timeout())
	defer cancel()
	j.cl.Cancel(ctx, j.id)
}

// Detach lets go of the job for the next daemon to adopt.
func (j *Job) Detach() {
	j.detached.Store(true)
	j.mu.Lock()
	if j.ctrl != nil {
		j.ctrl.Close()
	}
	j.mu.Unlock()
}

// Tail returns the last n lines of ChimeraX's output (or, if it printed
// nothing, of the agent's).
func (j *Job) Tail(n int) []string {
	if l := tailFile(filepath.Join(j.dir, LogFile), n); len(l) > 0 {
		return l
	}
	return tailFile(filepath.Join(j.dir, agentLog), n)
}

func tailFile(path string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	if len(b) > 64<<10 {
		b = b[len(b)-64<<10:]
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for strings.HasPrefix(l, "cmd> ") {
			l = l[len("cmd> "):]
		}
		if l = strings.TrimRight(l, "\r"); l != "" {
			out = append(out, l)
		}
	}
	return out[max(0, len(out)-n):]
}
