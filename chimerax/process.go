package chimerax

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chimerad/chimerad/store"
)

// RESTCommand is the startup command that makes ChimeraX listen for REST
// requests on a free loopback port, answering in JSON.
const RESTCommand = "remotecontrol rest start port 0 json true"

// Args returns ChimeraX's command line for a headless session child.
func (e Engine) args() []string {
	return append(append([]string(nil), e.Args...),
		"--nogui", "--offscreen", "--nocolor", "--cmd", RESTCommand)
}

// SessionEnv is the environment variable that carries a child's session id,
// so that a child can be recognised after a daemon crash.
const SessionEnv = "CHIMERAD_SESSION_ID"

// portLine is the line ChimeraX prints when its REST server listens.
var portLine = regexp.MustCompile(`^REST server started on host (\S+) port (\d+)$`)

// launchSpec says how to start one child.
type launchSpec struct {
	Engine    Engine
	SessionID string
	// Dir is the session's directory: the child's working directory, with
	// its HOME and TMPDIR below it and its output log in it.
	Dir string
	// Timeout bounds the wait for the port line.
	Timeout time.Duration
	// LogMaxBytes caps the output log file; older output is rotated out.
	LogMaxBytes int64
}

// process is one running ChimeraX child. Its fields are set before launch
// returns, except state, which is set before done is closed.
type process struct {
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	out        *outputLog
	pid        int
	startTicks uint64
	port       int

	done  chan struct{} // closed once the child has exited and been reaped
	state *os.ProcessState
}

// launch starts a child and waits until it announces its REST port. On any
// failure the child's process group is killed and reaped before launch
// returns, and the error carries the last lines of its output.
func launch(ctx context.Context, spec launchSpec) (*process, error) {
	home := filepath.Join(spec.Dir, "home")
	tmp := filepath.Join(spec.Dir, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
		}
	}
	out, err := newOutputLog(filepath.Join(spec.Dir, "chimerax.log"), spec.LogMaxBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
	}

	cmd := exec.Command(spec.Engine.Path, spec.Engine.args()...)
	cmd.Dir = spec.Dir
	cmd.Env = childEnv(os.Environ(), spec, home, tmp)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	// Output is copied by exec's goroutines; if a grandchild keeps the pipe
	// open after the child exits, Wait gives up on it after WaitDelay.
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
	}
	if err := startCommand(cmd); err != nil {
		out.Close()
		return nil, fmt.Errorf("%w: run %s: %v", ErrStartFailed, spec.Engine.Path, err)
	}
	p := &process{cmd: cmd, stdin: stdin, out: out, pid: cmd.Process.Pid, done: make(chan struct{})}
	p.startTicks, _ = processStartTicks(p.pid)
	go func() {
		cmd.Wait()
		p.state = cmd.ProcessState
		out.Close()
		close(p.done)
	}()

	timer := time.NewTimer(spec.Timeout)
	defer timer.Stop()
	select {
	case p.port = <-out.port:
		return p, nil
	case <-p.done:
		return p, p.startError(fmt.Errorf("%w: ChimeraX exited (%s) before it was ready", ErrStartFailed, describeExit(p.state)))
	case <-timer.C:
		p.kill()
		return p, p.startError(fmt.Errorf("%w: no REST port line within %v", ErrStartTimeout, spec.Timeout))
	case <-ctx.Done():
		p.kill()
		return p, fmt.Errorf("%w: %v", ErrStartFailed, context.Cause(ctx))
	}
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

func (p *process) startError(err error) error {
	return &StartError{Err: err, Output: p.out.Tail(10)}
}

// childEnv is the daemon's environment with the child's own HOME and TMPDIR
// (so a user's ~/chimerax_start scripts never run), its session id, and the
// engine's extra variables.
func childEnv(env []string, spec launchSpec, home, tmp string) []string {
	out := make([]string, 0, len(env)+4+len(spec.Engine.Env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "TMPDIR", "CHIMERAX_START", SessionEnv:
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "HOME="+home, "TMPDIR="+tmp, SessionEnv+"="+spec.SessionID)
	return append(out, spec.Engine.Env...)
}

// info describes the child for its session record.
func (p *process) info(dir string) *store.Process {
	return &store.Process{PID: p.pid, StartTicks: p.startTicks, Port: p.port, Dir: dir}
}

// stop ends the child gracefully if it will, by force if not: `exit` on
// stdin and stdin closed, then SIGTERM to its process group after grace,
// then SIGKILL after grace again. It returns once the child is reaped.
func (p *process) stop(grace time.Duration) {
	// A child that already exited gets no more writes; a closed or broken
	// pipe here only means it is on its way out.
	io.WriteString(p.stdin, "exit\n")
	p.stdin.Close()
	if p.waitDone(grace) {
		p.signalGroup(syscall.SIGKILL) // stragglers the child left in its group
		return
	}
	p.signalGroup(syscall.SIGTERM)
	if p.waitDone(grace) {
		p.signalGroup(syscall.SIGKILL)
		return
	}
	p.kill()
}

// kill SIGKILLs the process group and waits until the child is reaped.
func (p *process) kill() {
	p.stdin.Close()
	p.signalGroup(syscall.SIGKILL)
	<-p.done
}

func (p *process) waitDone(d time.Duration) bool {
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
func (p *process) signalGroup(sig syscall.Signal) {
	syscall.Kill(-p.pid, sig)
}

// describeExit says how a process ended: "exit code 70" or "signal: killed".
func describeExit(st *os.ProcessState) string {
	code, sig := exitInfo(st)
	if sig != "" {
		return "signal: " + sig
	}
	if code != nil {
		return "exit code " + strconv.Itoa(*code)
	}
	return "unknown status"
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

// outputLog drains a child's stdout and stderr: it writes them to a
// size-capped log file, keeps the last lines in memory for error messages,
// and watches for the REST port line. It never blocks the child for long:
// a file write is all a chunk costs.
type outputLog struct {
	port chan int // receives the REST port once

	mu      sync.Mutex
	f       *os.File
	path    string
	size    int64
	max     int64
	partial []byte
	tail    []string // ring of the last tailLines lines
	next    int
	sawPort bool
}

const tailLines = 40

func newOutputLog(path string, max int64) (*outputLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if max <= 0 {
		max = 10 << 20
	}
	return &outputLog{port: make(chan int, 1), f: f, path: path, max: max}, nil
}

// Write takes a chunk of the child's output. It never fails, so that exec's
// copying goroutine keeps draining the pipe whatever happens to the file.
func (o *outputLog) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writeFile(b)
	o.partial = append(o.partial, b...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.line(string(bytes.TrimRight(o.partial[:i], "\r")))
		o.partial = o.partial[i+1:]
	}
	if len(o.partial) > 64<<10 { // a line without end: keep the log moving
		o.line(string(o.partial))
		o.partial = o.partial[:0]
	}
	return len(b), nil
}

func (o *outputLog) writeFile(b []byte) {
	if o.f == nil {
		return
	}
	if o.size+int64(len(b)) > o.max {
		// Keep one older generation: the log holds at most 2×max bytes.
		o.f.Close()
		os.Rename(o.path, o.path+".1")
		f, err := os.OpenFile(o.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			o.f = nil
			return
		}
		o.f, o.size = f, 0
	}
	n, _ := o.f.Write(b)
	o.size += int64(n)
}

func (o *outputLog) line(s string) {
	// The nogui prompt has no newline, so it prefixes whatever is printed next.
	for strings.HasPrefix(s, "cmd> ") {
		s = s[len("cmd> "):]
	}
	if s == "" {
		return
	}
	if !o.sawPort {
		if m := portLine.FindStringSubmatch(s); m != nil {
			if port, err := strconv.Atoi(m[2]); err == nil && port > 0 && port < 65536 {
				o.sawPort = true
				o.port <- port
			}
		}
	}
	if len(o.tail) < tailLines {
		o.tail = append(o.tail, s)
	} else {
		o.tail[o.next] = s
		o.next = (o.next + 1) % tailLines
	}
}

// Tail returns the last lines of output, oldest first, at most n.
func (o *outputLog) Tail(n int) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	lines := append(append([]string(nil), o.tail[o.next:]...), o.tail[:o.next]...)
	if len(o.partial) > 0 {
		lines = append(lines, string(o.partial))
	}
	if n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// Close closes the log file; later output is still kept in memory.
func (o *outputLog) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}
