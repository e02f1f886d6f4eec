package process

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// ShimCommand is the hidden subcommand of chimerad that runs a session's shim.
const ShimCommand = "chimerax-shim"

// The shim is a small process of the chimerad binary, one per session, that
// holds ChimeraX's stdio so that ChimeraX does not depend on the daemon:
// it owns ChimeraX's stdin (kept open: EOF would end ChimeraX), drains its
// stdout and stderr into the session's capped log file, watches for the
// REST port line, reaps ChimeraX and keeps its exit status. It serves the
// daemon on a Unix socket in the session directory, so that a restarted
// daemon can reconnect to it and adopt the session.
//
// The protocol is JSON lines. On every connection the shim first sends a
// shimStatus, and sends it again whenever it changes (port known, ChimeraX
// exited). The daemon sends shimRequests: write text to ChimeraX's stdin,
// close stdin, or release the shim, which then exits (it also exits on its
// own once ChimeraX has exited and no daemon has connected for --linger).
// Signals to ChimeraX go straight to its process group from the daemon.

// shimStatus is what the shim reports about its ChimeraX.
type shimStatus struct {
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"`
	Port       int    `json:"port"`
	Exited     bool   `json:"exited"`
	ExitCode   *int   `json:"exit_code,omitempty"`
	Signal     string `json:"signal,omitempty"`
	// CPUSeconds is ChimeraX's CPU time once it has exited.
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	// Error says why ChimeraX could not be started at all.
	Error string `json:"error,omitempty"`
}

// shimRequest is one request from the daemon.
type shimRequest struct {
	Op   string `json:"op"` // "write", "close_stdin", "release"
	Data string `json:"data,omitempty"`
}

// shimReady is the one line the shim prints on its stdout once its socket
// listens; then it closes stdout.
const shimReady = "chimerax-shim listening"

// ShimMain runs a shim: args are its flags, then "--", then ChimeraX's
// command line. It returns the shim's exit status.
func ShimMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(ShimCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", "shim.sock", "Unix socket to serve the daemon on")
	logPath := fs.String("log", "chimerax.log", "ChimeraX's output log file")
	logMax := fs.Int64("log-max", 10<<20, "cap of the output log file, in bytes")
	linger := fs.Duration("linger", time.Hour, "how long to keep an exit status for a daemon that does not connect")
	sandbox := fs.Bool("sandbox", false, "run ChimeraX in its own user and network namespaces")
	sandboxInit := fs.Bool("sandbox-init", false, "be the init inside a sandbox's namespaces (internal)")
	zygote := fs.Bool("zygote", false, "start sandboxed children for the daemon on descriptor 3 (internal)")
	var unset multiFlag
	fs.Var(&unset, "unset", "environment variable not to pass on to ChimeraX (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 64
	}
	if *zygote {
		return zygoteMain(stderr)
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "chimerax-shim: no ChimeraX command after --")
		return 64
	}
	if *sandboxInit {
		return sandboxInitMain(relaySocket, unset, fs.Args(), stderr)
	}
	// One thread starts ChimeraX and stays: the parent-death signal set on
	// ChimeraX follows the thread that forked it.
	runtime.LockOSThread()

	os.Remove(*socket)
	ln, err := net.Listen("unix", *socket)
	if err != nil {
		fmt.Fprintln(stderr, "chimerax-shim:", err)
		return 1
	}
	defer ln.Close()
	os.Chmod(*socket, 0o600)

	s := &shim{conns: make(map[net.Conn]*json.Encoder), released: make(chan struct{})}
	out, err := newOutputLog(*logPath, *logMax)
	if err != nil {
		fmt.Fprintln(stderr, "chimerax-shim:", err)
		return 1
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(unset, k)
	})
	// ChimeraX leads its own process group, so the daemon can signal it and
	// everything it starts without touching the shim; it dies with the shim.
	cmd.SysProcAttr = childProcAttr(false)
	if *sandbox {
		// This very program again, as the init inside the namespaces: the
		// same arguments up to the shim's own (the subcommand, if any).
		initArgs := slices.Clone(os.Args[1 : len(os.Args)-len(args)])
		cmd = exec.Command("/proc/self/exe", append(initArgs, sandboxInitArgs(unset, fs.Args())...)...)
		cmd.SysProcAttr = sandboxProcAttr()
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		s.status.Exited, s.status.Error = true, err.Error()
		fmt.Fprintln(stderr, "chimerax-shim: start ChimeraX:", err)
	} else {
		s.stdin = stdin
		s.status.PID = cmd.Process.Pid
		s.status.StartTicks, _ = StartTicks(cmd.Process.Pid)
	}
	exited := make(chan struct{})
	if err == nil {
		go func() {
			port := out.port
			for {
				select {
				case p := <-port:
					s.update(func(st *shimStatus) { st.Port = p })
					port = nil
				case <-exited:
					return
				}
			}
		}()
		go func() {
			cmd.Wait()
			out.Close()
			code, sig := exitInfo(cmd.ProcessState)
			cpu := cpuSeconds(cmd.ProcessState)
			s.update(func(st *shimStatus) { st.Exited, st.ExitCode, st.Signal, st.CPUSeconds = true, code, sig, cpu })
			close(exited)
		}()
	} else {
		close(exited)
	}
	go s.serve(ln)

	fmt.Fprintln(stdout, shimReady)
	if c, ok := stdout.(io.Closer); ok {
		c.Close()
	}

	<-exited
	select {
	case <-s.released:
	case <-time.After(*linger):
	}
	return 0
}

type shim struct {
	mu       sync.Mutex
	status   shimStatus
	conns    map[net.Conn]*json.Encoder
	stdin    io.WriteCloser
	released chan struct{}
	once     sync.Once
}

// update changes the status and sends it to every connected daemon.
func (s *shim) update(f func(*shimStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.status)
	for c, enc := range s.conns {
		if enc.Encode(s.status) != nil {
			c.Close()
			delete(s.conns, c)
		}
	}
}

func (s *shim) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go s.handle(c)
	}
}

func (s *shim) handle(c net.Conn) {
	defer c.Close()
	enc := json.NewEncoder(c)
	s.mu.Lock()
	if enc.Encode(s.status) != nil {
		s.mu.Unlock()
		return
	}
	s.conns[c] = enc
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()

	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var req shimRequest
		if json.Unmarshal(sc.Bytes(), &req) != nil {
			return
		}
		s.mu.Lock()
		stdin := s.stdin
		s.mu.Unlock()
		switch req.Op {
		case "write":
			if stdin != nil {
				io.WriteString(stdin, req.Data)
			}
		case "close_stdin":
			if stdin != nil {
				stdin.Close()
			}
		case "release":
			s.once.Do(func() { close(s.released) })
		}
	}
}

// sandboxInitArgs are the shim's flags that make it the sandbox's init,
// running argv in the namespaces without the unset variables.
func sandboxInitArgs(unset []string, argv []string) []string {
	args := []string{"--sandbox-init"}
	for _, k := range unset {
		args = append(args, "--unset", k)
	}
	return append(append(args, "--"), argv...)
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// errShimGone: the shim's connection broke before ChimeraX's exit was told.
var errShimGone = errors.New("chimerax: shim connection lost")
