package process

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// SessionEnv is the environment variable that carries a child's session id,
// so that a child (and its shim) can be recognised after a daemon crash.
const SessionEnv = "CHIMERAD_SESSION_ID"

// PortLine is the line ChimeraX prints when its REST server listens.
var PortLine = regexp.MustCompile(`^REST server started on host (\S+) port (\d+)$`)

// LogFile is the child's output log in its session directory; the
// previous generation is LogFile + ".1".
const LogFile = "chimerax.log"

// Files in a session directory.
const (
	shimSocket = "shim.sock"
	shimLog    = "shim.log"
)

// Spec says how to start one child.
type Spec struct {
	// Path is the program, Args its arguments (ChimeraX's command line
	// without argv[0]), and Env is added to its environment.
	Path string
	Args []string
	Env  []string
	// SessionID goes into the child's environment as SessionEnv, so that
	// the child can be recognised after a daemon crash.
	SessionID string
	// Dir is the session's directory: the child's working directory, with
	// its HOME and TMPDIR below it and its output log in it.
	Dir string
	// Timeout bounds the wait for the port line.
	Timeout time.Duration
	// LogMaxBytes caps the output log file; older output is rotated out.
	LogMaxBytes int64
	// Shim is the command that runs the shim (before its flags); ShimEnv
	// is added to the shim's environment and kept from ChimeraX's.
	Shim    []string
	ShimEnv []string
	// Detach lets the shim and its child outlive the daemon (adoption);
	// otherwise both die with the daemon.
	Detach bool
	// Sandbox runs the child in its own user and network namespaces,
	// reached through the relay socket in its session dir. Zygote, if
	// set, starts it there without an init of its own (zygote_linux.go);
	// a shim (Detach) always starts it through the init.
	Sandbox bool
	Zygote  *Zygote
	// MemoryMax caps the resident memory of the child and all it starts,
	// 0 meaning none: its cgroup's memory.max where Cgroups can, else
	// Watch samples it and kills the child over it.
	MemoryMax int64
	Watch     *MemoryWatch
	// Cgroups, if set, gives the child and all it starts a cgroup of its
	// own (cgroup_linux.go), with CPUMax CPUs where it can.
	Cgroups *Cgroups
	CPUMax  float64
}

// Process is one running ChimeraX child. Its stdio is held by the daemon
// itself or, when the child is to outlive the daemon, by a shim. The exit
// fields are set before done is closed.
type Process struct {
	pid, shimPID               int
	startTicks, shimStartTicks uint64
	port                       int
	dir                        string
	sandboxed                  bool
	cg                         *sessionCgroup // nil without cgroups

	h      holder
	portCh <-chan int    // receives the port once it is known
	done   chan struct{} // closed once ChimeraX has exited (or its shim is gone)
	code   *int
	signal string
	cpu    float64 // CPU seconds of the reaped child and what it waited for
	// dial, if set, connects to ChimeraX's REST port (a zygote's child).
	dial func(context.Context) (net.Conn, error)
	// overMemory is the resident memory for which a MemoryWatch killed
	// the child, 0 if it did not.
	overMemory atomic.Int64
	failure    string // why ChimeraX could not be started at all
}

// holder holds a child's stdio and reaps it.
type holder interface {
	// write sends text to the child's stdin; closeStdin closes it.
	write(s string)
	closeStdin()
	// release lets go once the child has exited, reaping what is ours.
	release()
	// detach lets go of a live child for the next daemon to adopt.
	detach()
}

// Launch starts a session's ChimeraX, directly (sandboxed, through the
// sandbox's init) or through a shim when it is to outlive the daemon
// (spec.Detach), and waits until it announces its REST port. On failure
// everything it started is killed and reaped before it returns; the
// process it returns (if any) says how ChimeraX ended, and the error
// carries its last output.
func Launch(ctx context.Context, spec Spec) (*Process, error) {
	home := filepath.Join(spec.Dir, "home")
	tmp := filepath.Join(spec.Dir, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
		}
	}
	cg, err := spec.Cgroups.create(spec.SessionID, spec.MemoryMax, spec.CPUMax)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
	}
	timer := time.NewTimer(spec.Timeout)
	defer timer.Stop()
	var p *Process
	if spec.Detach {
		p, err = launchShim(ctx, spec, cg, home, tmp, timer.C)
	} else {
		p, err = launchDirect(spec, cg, home, tmp)
	}
	if err != nil {
		cg.destroy()
		return nil, err
	}
	p.cg = cg
	if !spec.Cgroups.EnforcesMemory() {
		spec.Watch.Add(p, spec.MemoryMax)
	}
	select {
	case p.port = <-p.portCh:
		return p, nil
	case <-p.done:
		p.h.release()
		cg.destroy()
		if p.failure != "" {
			return p, p.StartError(fmt.Errorf("%w: %s", ErrStartFailed, p.failure))
		}
		return p, p.StartError(fmt.Errorf("%w: ChimeraX exited (%s) before it was ready", ErrStartFailed, p.DescribeExit()))
	case <-timer.C:
		p.Kill()
		return p, p.StartError(fmt.Errorf("%w: no REST port line within %v", ErrStartTimeout, spec.Timeout))
	case <-ctx.Done():
		p.Kill()
		return p, fmt.Errorf("%w: %v", ErrStartFailed, context.Cause(ctx))
	}
}

// launchDirect starts ChimeraX as the daemon's own child: the daemon holds
// its stdin and drains its output, and the child dies with the daemon.
// Sandboxed, the child is the sandbox's init (sandbox_linux.go), which
// passes its stdio on to the ChimeraX it starts in the namespaces.
func launchDirect(spec Spec, cg *sessionCgroup, home, tmp string) (*Process, error) {
	if spec.Sandbox && spec.Zygote != nil {
		p, err := spec.Zygote.launch(spec, cg, home, tmp)
		if !errors.Is(err, errNoZygote) {
			return p, err
		}
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = childEnv(os.Environ(), spec, home, tmp)
	cmd.SysProcAttr = childProcAttr(false) // own group, dies with the daemon
	if spec.Sandbox {
		if len(spec.Shim) == 0 {
			return nil, fmt.Errorf("%w: no sandbox init command (chimerad's own binary was not found)", ErrStartFailed)
		}
		args := append(slices.Clone(spec.Shim[1:]), sandboxInitArgs(envKeys(spec.ShimEnv), cmd.Args)...)
		cmd = exec.Command(spec.Shim[0], args...)
		cmd.Env = append(childEnv(os.Environ(), spec, home, tmp), spec.ShimEnv...)
		cmd.SysProcAttr = sandboxProcAttr()
	}
	out, err := newOutputLog(filepath.Join(spec.Dir, LogFile), spec.LogMaxBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
	}
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = out, out
	// Output is copied by exec's goroutines; if a grandchild keeps the pipe
	// open after the child exits, Wait gives up on it after WaitDelay.
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err == nil {
		err = startInCgroup(cmd, cg)
	}
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("%w: run %s: %v", ErrStartFailed, cmd.Path, err)
	}
	p := &Process{pid: cmd.Process.Pid, dir: spec.Dir, h: directHolder{stdin}, portCh: out.port, done: make(chan struct{}), sandboxed: spec.Sandbox}
	p.startTicks, _ = StartTicks(p.pid)
	go func() {
		awaitExit(p.pid) // no thread held meanwhile (exitwait_linux.go)
		cmd.Wait()
		out.Close()
		p.code, p.signal = exitInfo(cmd.ProcessState)
		p.cpu = cpuSeconds(cmd.ProcessState)
		close(p.done)
	}()
	return p, nil
}

// startInCgroup starts cmd cloned into cg (nil: where the daemon is).
func startInCgroup(cmd *exec.Cmd, cg *sessionCgroup) error {
	closeFD, err := cg.procAttr(cmd.SysProcAttr)
	if err != nil {
		return err
	}
	defer closeFD()
	return startCommand(cmd)
}

// envKeys returns the names of environment entries ("NAME=value").
func envKeys(env []string) []string {
	keys := make([]string, len(env))
	for i, kv := range env {
		keys[i], _, _ = strings.Cut(kv, "=")
	}
	return keys
}

// directHolder is the daemon holding a child's stdin itself.
type directHolder struct{ stdin io.WriteCloser }

func (d directHolder) write(s string) { io.WriteString(d.stdin, s) }
func (d directHolder) closeStdin()    { d.stdin.Close() }
func (d directHolder) release()       {} // exec's Wait reaps the child
func (d directHolder) detach()        {} // a direct child cannot outlive us

// launchShim starts a session's shim, which starts ChimeraX and holds its
// stdio so that both can outlive the daemon.
func launchShim(ctx context.Context, spec Spec, cg *sessionCgroup, home, tmp string, timeout <-chan time.Time) (*Process, error) {
	if len(spec.Shim) == 0 {
		return nil, fmt.Errorf("%w: no shim command (chimerad's own binary was not found)", ErrStartFailed)
	}
	args := append([]string(nil), spec.Shim[1:]...)
	args = append(args,
		// Relative to the shim's working directory, the session dir: a Unix
		// socket path may not exceed 107 bytes, and data dirs can be deep.
		"--socket", shimSocket,
		"--log", filepath.Join(spec.Dir, LogFile),
		"--log-max", strconv.FormatInt(spec.LogMaxBytes, 10))
	for _, k := range envKeys(spec.ShimEnv) {
		args = append(args, "--unset", k)
	}
	if spec.Sandbox {
		args = append(args, "--sandbox")
	}
	args = append(append(args, "--", spec.Path), spec.Args...)

	cmd := exec.Command(spec.Shim[0], args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(childEnv(os.Environ(), spec, home, tmp), spec.ShimEnv...)
	cmd.SysProcAttr = childProcAttr(spec.Detach)
	errLog, err := os.OpenFile(filepath.Join(spec.Dir, shimLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
	}
	defer errLog.Close()
	cmd.Stderr = errLog
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
	}
	if err := startInCgroup(cmd, cg); err != nil {
		return nil, fmt.Errorf("%w: run shim %s: %v", ErrStartFailed, spec.Shim[0], err)
	}
	shimDone := make(chan struct{})
	go func() {
		cmd.Wait()
		close(shimDone)
	}()
	abandon := func(err error) (*Process, error) {
		cmd.Process.Kill()
		<-shimDone
		return nil, err
	}

	// The shim says one line once its socket listens, then closes stdout.
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line) == shimReady
	}()
	select {
	case ok := <-ready:
		if !ok {
			return abandon(fmt.Errorf("%w: the shim did not start (see %s)", ErrStartFailed, shimLog))
		}
	case <-timeout:
		return abandon(fmt.Errorf("%w: the shim did not start within %v", ErrStartTimeout, spec.Timeout))
	case <-ctx.Done():
		return abandon(fmt.Errorf("%w: %v", ErrStartFailed, context.Cause(ctx)))
	}
	p, err := attach(spec.Dir)
	if err != nil {
		return abandon(fmt.Errorf("%w: %v", ErrStartFailed, err))
	}
	sh := p.h.(*shimHolder)
	sh.cmd, sh.done = cmd, shimDone
	p.sandboxed = spec.Sandbox
	p.shimPID = cmd.Process.Pid
	p.shimStartTicks, _ = StartTicks(p.shimPID)
	return p, nil
}

// Adopt re-attaches to the shim serving the session in dir, left running
// by a previous daemon: it must report the very child recorded in want
// (pid and start time) with its REST port, within wait. The session's
// cgroup, if cgroups manages one, stays with the child.
func Adopt(dir string, want Info, cgroups *Cgroups, sessionID string, wait time.Duration) (*Process, error) {
	if want.ShimPID == 0 {
		return nil, errors.New("it has no shim")
	}
	if !IsChild(want.ShimPID, want.ShimStartTicks, sessionID) {
		return nil, errors.New("its shim is gone")
	}
	p, err := attach(dir)
	if err != nil {
		return nil, err
	}
	select {
	case p.port = <-p.portCh:
	case <-p.done:
	case <-time.After(wait):
	}
	if p.pid != want.PID || p.startTicks != want.StartTicks || p.port == 0 {
		p.h.detach()
		return nil, fmt.Errorf("its shim reports another child (pid %d, port %d)", p.pid, p.port)
	}
	p.shimPID, p.shimStartTicks = want.ShimPID, want.ShimStartTicks
	p.sandboxed = want.Sandboxed
	p.cg = cgroups.session(sessionID)
	return p, nil
}

// attach connects to the shim serving the session in dir and follows its
// status. The shim it returns is not our child (no cmd) until launchShim
// says otherwise.
func attach(dir string) (*Process, error) {
	conn, err := dialShim(dir)
	if err != nil {
		return nil, fmt.Errorf("connect to shim: %w", err)
	}
	dec := json.NewDecoder(conn)
	var st shimStatus
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := dec.Decode(&st); err != nil {
		conn.Close()
		return nil, fmt.Errorf("read shim status: %w", err)
	}
	conn.SetReadDeadline(time.Time{})
	portCh := make(chan int, 1)
	sh := &shimHolder{conn: conn}
	p := &Process{
		pid: st.PID, startTicks: st.StartTicks, dir: dir, h: sh,
		portCh: portCh, done: make(chan struct{}),
	}
	go p.follow(dec, st, sh, portCh)
	return p, nil
}

// follow applies the shim's status reports until ChimeraX has exited or the
// shim is gone.
func (p *Process) follow(dec *json.Decoder, st shimStatus, sh *shimHolder, portCh chan<- int) {
	defer close(p.done)
	announced := false
	for {
		if st.Port > 0 && !announced {
			announced = true
			portCh <- st.Port
		}
		if st.Exited {
			p.code, p.signal, p.failure, p.cpu = st.ExitCode, st.Signal, st.Error, st.CPUSeconds
			return
		}
		st = shimStatus{}
		if err := dec.Decode(&st); err != nil {
			if sh.detached.Load() {
				return
			}
			// The shim died: ChimeraX, whose parent-death signal is tied to
			// the shim, is gone or going too.
			p.failure = "the shim exited: " + errShimGone.Error()
			signalGroup(p.pid, syscall.SIGKILL)
			return
		}
	}
}

// dialShim connects to the shim socket in dir.
func dialShim(dir string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return dialUnix(ctx, dir, shimSocket)
}

// shimHolder is a shim holding a child's stdio, reached on its socket.
type shimHolder struct {
	conn     net.Conn
	mu       sync.Mutex    // one request at a time on conn
	cmd      *exec.Cmd     // nil for an adopted shim, which is not our child
	done     chan struct{} // closed once our shim is reaped
	detached atomic.Bool   // the daemon let go on purpose: the shim lives on
}

// send sends a request to the shim; a lost shim is noticed by follow.
func (sh *shimHolder) send(op, data string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, _ := json.Marshal(shimRequest{Op: op, Data: data})
	sh.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	sh.conn.Write(append(b, '\n'))
}

func (sh *shimHolder) write(s string) { sh.send("write", s) }
func (sh *shimHolder) closeStdin()    { sh.send("close_stdin", "") }

// release lets the shim exit, ChimeraX having exited, and reaps it.
func (sh *shimHolder) release() {
	sh.send("release", "")
	sh.conn.Close()
	if sh.cmd != nil {
		select {
		case <-sh.done:
		case <-time.After(5 * time.Second):
			sh.cmd.Process.Kill()
			<-sh.done
		}
	}
}

func (sh *shimHolder) detach() {
	sh.detached.Store(true)
	sh.conn.Close()
}

// StartError is a failed start of a child that did run: the reason, and
// the last lines the child printed.
type StartError struct {
	Err    error
	Output []string
}

func (e *StartError) Error() string {
	if len(e.Output) == 0 {
		return e.Err.Error() + "; ChimeraX printed nothing"
	}
	return e.Err.Error() + "; ChimeraX's last output:\n" + strings.Join(e.Output, "\n")
}

func (e *StartError) Unwrap() error { return e.Err }

// StartError wraps err with the last lines the child printed.
func (p *Process) StartError(err error) error {
	return &StartError{Err: err, Output: p.Tail(10)}
}

// childEnv is the daemon's environment with the child's own HOME and TMPDIR
// (so a user's ~/chimerax_start scripts never run), its session id, and the
// spec's extra variables.
func childEnv(env []string, spec Spec, home, tmp string) []string {
	out := make([]string, 0, len(env)+4+len(spec.Env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "TMPDIR", "CHIMERAX_START", SessionEnv:
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "HOME="+home, "TMPDIR="+tmp, SessionEnv+"="+spec.SessionID)
	return append(out, spec.Env...)
}

// Info is what identifies a running child, for its session's record and
// for adopting it after a daemon restart.
type Info struct {
	// PID and StartTicks name ChimeraX (the sandbox's init, when
	// sandboxed) safely: a reused pid has another start time.
	PID        int
	StartTicks uint64
	// Port is ChimeraX's REST port on its loopback.
	Port int
	// Dir is the session directory.
	Dir string
	// ShimPID and ShimStartTicks name the shim, if any.
	ShimPID        int
	ShimStartTicks uint64
	// Sandboxed: ChimeraX runs in its own namespaces, reached through the
	// relay socket in Dir.
	Sandboxed bool
}

// Info describes the child.
func (p *Process) Info() Info {
	return Info{
		PID: p.pid, StartTicks: p.startTicks, Port: p.port, Dir: p.dir,
		ShimPID: p.shimPID, ShimStartTicks: p.shimStartTicks,
		Sandboxed: p.sandboxed,
	}
}

// PID is the child's pid: it leads its process group.
func (p *Process) PID() int { return p.pid }

// Dial connects to the child's REST server: its loopback port; for a
// sandboxed child a socket its zygote connected in the child's namespace,
// or (started through the init) the relay socket in its session directory.
func (p *Process) Dial(ctx context.Context) (net.Conn, error) {
	if p.dial != nil {
		return p.dial(ctx)
	}
	if p.sandboxed {
		return dialUnix(ctx, p.dir, relaySocket)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(p.port))
}

// Done is closed once ChimeraX has exited (or its shim is gone).
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether ChimeraX has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitStatus returns ChimeraX's exit code, or the signal that ended it,
// once it has exited.
func (p *Process) ExitStatus() (code *int, signal string) {
	if !p.Exited() {
		return nil, ""
	}
	return p.code, p.signal
}

// CPUSeconds returns the CPU time of the reaped child (itself and the
// processes it waited for); false if it has not been reaped.
func (p *Process) CPUSeconds() (float64, bool) {
	if !p.Exited() {
		return 0, false
	}
	return p.cpu, p.code != nil || p.signal != ""
}

// OOMKilled reports whether the child was killed for its memory: by the
// kernel's OOM killer in its cgroup (memory.max), or by a MemoryWatch.
func (p *Process) OOMKilled() bool { return p.overMemory.Load() > 0 || p.cg.oomKills() > 0 }

// Detach lets go of a live child for the next daemon to adopt: its shim
// and ChimeraX run on.
func (p *Process) Detach() { p.h.detach() }

// Stop ends the child gracefully if it will, by force if not: `exit` on
// stdin and stdin closed, then SIGTERM to its process group after grace,
// then SIGKILL after grace again. It returns once the child is reaped and
// its shim gone.
func (p *Process) Stop(grace time.Duration) {
	p.h.write("exit\n")
	p.h.closeStdin()
	if !p.WaitDone(grace) {
		p.Terminate(grace)
		return
	}
	p.ReapAll()
}

// Terminate ends the child without asking it: SIGTERM to its process
// group, then SIGKILL after grace. For a child busy with a command, which
// reads no `exit` until the command is done. It returns once the child is
// reaped and its shim gone.
func (p *Process) Terminate(grace time.Duration) {
	p.signalGroup(syscall.SIGTERM)
	if !p.WaitDone(grace) {
		p.signalGroup(syscall.SIGKILL)
		<-p.done
	}
	p.ReapAll()
}

// Kill SIGKILLs the child's process group and returns once it is reaped
// and its shim gone.
func (p *Process) Kill() {
	p.signalGroup(syscall.SIGKILL)
	<-p.done
	p.ReapAll()
}

// ReapAll, once ChimeraX has exited, kills what it left behind in its
// process group and its cgroup, lets its shim go and removes its cgroup.
func (p *Process) ReapAll() {
	p.signalGroup(syscall.SIGKILL)
	p.h.release()
	p.cg.destroy()
}

// WaitDone waits up to d for ChimeraX to exit and reports whether it has.
func (p *Process) WaitDone(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// signalGroup sends sig to the child's process group (its pid, since the
// child leads its own group).
func (p *Process) signalGroup(sig syscall.Signal) {
	if p.pid > 0 {
		signalGroup(p.pid, sig)
	}
}

// DescribeExit says how ChimeraX ended: "exit code 70" or "signal: killed".
func (p *Process) DescribeExit() string {
	switch {
	case p.signal != "":
		return "signal: " + p.signal
	case p.code != nil:
		return "exit code " + strconv.Itoa(*p.code)
	case p.failure != "":
		return p.failure
	}
	return "unknown status"
}

// cpuSeconds is the CPU time of a reaped process and the children it waited for.
func cpuSeconds(st *os.ProcessState) float64 {
	if st == nil {
		return 0
	}
	return (st.UserTime() + st.SystemTime()).Seconds()
}

// exitInfo returns a process's exit code, or the signal that ended it.
func exitInfo(st *os.ProcessState) (code *int, signal string) {
	if st == nil {
		return nil, ""
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return nil, ws.Signal().String()
	}
	c := st.ExitCode()
	return &c, ""
}

// Tail returns the last n lines of the child's output log.
func (p *Process) Tail(n int) []string { return tailLog(filepath.Join(p.dir, LogFile), n) }

// tailLog returns the last n lines of a log file written by outputLog,
// without the nogui prompt.
func tailLog(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const window = 64 << 10
	buf := make([]byte, window)
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(fi.Size()-window, 0)
	k, _ := f.ReadAt(buf, off)
	lines := strings.Split(string(buf[:k]), "\n")
	if off > 0 {
		lines = lines[1:] // cut mid-line
	}
	out := make([]string, 0, n)
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		l := strings.TrimRight(lines[i], "\r")
		for strings.HasPrefix(l, "cmd> ") {
			l = l[len("cmd> "):]
		}
		if l != "" {
			out = append(out, l)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
