package slurm

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
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// AgentCommand is the hidden subcommand of chimerad that a session's job
// runs on its node.
const AgentCommand = "chimerax-agent"

// portLine is the line ChimeraX prints when its REST server listens.
var portLine = regexp.MustCompile(`^REST server started on host (\S+) port (\d+)$`)

// agentInfo is what the agent publishes in AgentFile once ChimeraX is ready.
type agentInfo struct {
	// Addr is where the daemon reaches the agent: host:port.
	Addr string `json:"addr"`
	Node string `json:"node"`
	// PID is the agent's, ChimeraXPID its child's (on the node).
	PID         int `json:"pid"`
	ChimeraXPID int `json:"chimerax_pid"`
	// Port is ChimeraX's REST port on the node's loopback, which only
	// the agent dials.
	Port int `json:"chimerax_port"`
}

// status is one report on the control stream, agent to daemon.
type status struct {
	Ready    bool   `json:"ready,omitempty"`
	Exited   bool   `json:"exited,omitempty"`
	ExitCode *int   `json:"exit_code,omitempty"`
	Signal   string `json:"signal,omitempty"`
	Error    string `json:"error,omitempty"`
	// Stopped names the signal that told the agent to end (Slurm's
	// scancel or time limit), if one did.
	Stopped string `json:"stopped,omitempty"`
}

// request is one order on the control stream, daemon to agent.
type request struct {
	// Op is write (Data to ChimeraX's stdin), close_stdin, or signal
	// (Data TERM or KILL, to ChimeraX's process group).
	Op   string `json:"op"`
	Data string `json:"data,omitempty"`
}

// AgentMain runs the node agent: chimerad chimerax-agent --dir DIR
// [--orphan-after D] [--env K=V]... -- CHIMERAX [ARGS]. It returns the
// exit status.
func AgentMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(AgentCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "the session directory (shared with the daemon)")
	listen := fs.String("listen", ":0", "where to listen for the daemon")
	orphan := fs.Duration("orphan-after", 0, "stop ChimeraX once no daemon has been connected for this long (0: never)")
	logMax := fs.Int64("log-max", 10<<20, "cap of ChimeraX's output log; the older part moves to "+LogFile+".1")
	var env multiFlag
	fs.Var(&env, "env", "NAME=value added to ChimeraX's environment (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "chimerax-agent: want --dir DIR -- CHIMERAX [ARGS]")
		return 2
	}
	a := &agent{dir: *dir, orphanAfter: *orphan, logMax: *logMax, env: env, cmdline: fs.Args(), stderr: stderr,
		controls: map[net.Conn]*sync.Mutex{}, exited: make(chan struct{})}
	if err := a.run(*listen); err != nil {
		fmt.Fprintln(stderr, "chimerax-agent:", err)
		return 1
	}
	return 0
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

type agent struct {
	dir         string
	orphanAfter time.Duration
	logMax      int64
	env         []string
	cmdline     []string
	stderr      io.Writer
	key         []byte

	cmd   *exec.Cmd
	stdin io.WriteCloser
	port  int

	mu         sync.Mutex
	ready      bool
	final      *status                  // set once ChimeraX has exited
	controls   map[net.Conn]*sync.Mutex // each control stream, with its write lock
	lastDaemon time.Time                // when the last control stream closed
	stopped    string                   // the signal that told us to end
	exited     chan struct{}
}

func (a *agent) logf(format string, args ...any) {
	fmt.Fprintf(a.stderr, time.Now().UTC().Format(time.RFC3339)+" chimerax-agent: "+format+"\n", args...)
}

func (a *agent) run(listen string) error {
	key, err := ReadKey(a.dir)
	if err != nil {
		return err
	}
	a.key = key
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	go a.serve(ln)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	portCh, err := a.start()
	if err != nil {
		return err
	}
	go func() {
		for s := range sigs {
			name := "TERM"
			if s == os.Interrupt {
				name = "INT"
			}
			a.mu.Lock()
			a.stopped = "SIG" + name
			a.mu.Unlock()
			a.logf("got SIG%s: ending ChimeraX", name)
			signalGroup(a.cmd.Process.Pid, "TERM")
		}
	}()
	select {
	case a.port = <-portCh:
		if err := a.publish(ln); err != nil {
			signalGroup(a.cmd.Process.Pid, "KILL")
			<-a.exited
			return err
		}
		a.mu.Lock()
		a.ready = true
		a.lastDaemon = time.Now()
		a.mu.Unlock()
		a.broadcast(status{Ready: true})
		a.logf("ChimeraX (pid %d) listens on loopback port %d; serving the daemon on %s", a.cmd.Process.Pid, a.port, ln.Addr())
		if a.orphanAfter > 0 {
			go a.watchOrphan()
		}
	case <-a.exited:
	}
	<-a.exited
	a.mu.Lock()
	st := *a.final
	st.Stopped = a.stopped
	n := len(a.controls)
	a.mu.Unlock()
	a.logf("ChimeraX exited (%s)", describe(st))
	a.broadcast(st)
	// Give the daemon a moment to read the end and hang up.
	for i := 0; n > 0 && i < 50; i++ {
		time.Sleep(100 * time.Millisecond)
		a.mu.Lock()
		n = len(a.controls)
		a.mu.Unlock()
	}
	return nil
}

func describe(st status) string {
	switch {
	case st.Signal != "":
		return "signal: " + st.Signal
	case st.ExitCode != nil:
		return "exit code " + strconv.Itoa(*st.ExitCode)
	case st.Error != "":
		return st.Error
	}
	return "unknown status"
}

// start starts ChimeraX, its stdin held open by us and its output going to
// LogFile; the channel gets its REST port.
func (a *agent) start() (<-chan int, error) {
	home, tmp := filepath.Join(a.dir, "home"), filepath.Join(a.dir, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	logf, err := openLog(filepath.Join(a.dir, LogFile), a.logMax)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(a.cmdline[0], a.cmdline[1:]...)
	cmd.Dir = a.dir
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "TMPDIR" || k == "CHIMERAX_START" || strings.HasPrefix(k, "SLURM_") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(append(env, "HOME="+home, "TMPDIR="+tmp), a.env...)
	ownGroup(cmd)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	stdin, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		logf.f.Close()
		return nil, fmt.Errorf("start %s: %v", a.cmdline[0], err)
	}
	a.cmd, a.stdin = cmd, stdin
	portCh := make(chan int, 1)
	copied := make(chan struct{})
	go func() { // copy output to the log, watching for the port line
		defer close(copied)
		defer logf.f.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			line := sc.Text()
			logf.write(line + "\n")
			if m := portLine.FindStringSubmatch(strings.TrimPrefix(line, "cmd> ")); m != nil && !seen {
				seen = true
				port, _ := strconv.Atoi(m[2])
				portCh <- port
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		<-copied
		st := status{Exited: true}
		if ps := cmd.ProcessState; ps != nil {
			if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				st.Signal = ws.Signal().String()
			} else {
				c := ps.ExitCode()
				st.ExitCode = &c
			}
		} else if err != nil {
			st.Error = err.Error()
		}
		signalGroup(cmd.Process.Pid, "KILL") // what it left behind
		a.mu.Lock()
		a.final = &st
		a.mu.Unlock()
		close(a.exited)
	}()
	return portCh, nil
}

// publish writes the agent's address into AgentFile, atomically.
func (a *agent) publish(ln net.Listener) error {
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	info := agentInfo{Addr: net.JoinHostPort(host, port), Node: host, PID: os.Getpid(), ChimeraXPID: a.cmd.Process.Pid, Port: a.port}
	b, _ := json.Marshal(info)
	tmp := filepath.Join(a.dir, AgentFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(a.dir, AgentFile))
}

// watchOrphan ends ChimeraX once no daemon has held a control stream for
// orphanAfter: a daemon that died without adopt never comes back for it.
func (a *agent) watchOrphan() {
	t := time.NewTicker(min(a.orphanAfter/4+time.Millisecond, 5*time.Second))
	defer t.Stop()
	for {
		select {
		case <-a.exited:
			return
		case <-t.C:
		}
		a.mu.Lock()
		orphaned := len(a.controls) == 0 && time.Since(a.lastDaemon) >= a.orphanAfter
		a.mu.Unlock()
		if orphaned {
			a.logf("no daemon for %v: ending ChimeraX", a.orphanAfter)
			a.stdin.Write([]byte("exit\n"))
			a.stdin.Close()
			select {
			case <-a.exited:
			case <-time.After(10 * time.Second):
				signalGroup(a.cmd.Process.Pid, "KILL")
			}
			return
		}
	}
}

func (a *agent) serve(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go a.handle(conn)
	}
}

func (a *agent) handle(conn net.Conn) {
	op, err := serverHandshake(conn, a.key)
	if err != nil {
		a.logf("refused a connection from %s: %v", conn.RemoteAddr(), err)
		conn.Close()
		return
	}
	switch op {
	case "rest":
		a.relay(conn)
	case "control":
		a.control(conn)
	default:
		conn.Close()
	}
}

// relay copies bytes between conn and ChimeraX's REST port on loopback.
func (a *agent) relay(conn net.Conn) {
	defer conn.Close()
	a.mu.Lock()
	ready := a.ready && a.final == nil
	a.mu.Unlock()
	if !ready {
		return
	}
	up, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(a.port), 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, conn); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(conn, up); conn.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

// control serves one control stream until the daemon hangs up.
func (a *agent) control(conn net.Conn) {
	wmu := new(sync.Mutex)
	a.mu.Lock()
	a.controls[conn] = wmu
	first := status{Ready: a.ready}
	if a.final != nil {
		first = *a.final
		first.Stopped = a.stopped
	}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.controls, conn)
		a.lastDaemon = time.Now()
		a.mu.Unlock()
		conn.Close()
	}()
	a.send(conn, wmu, first)
	dec := json.NewDecoder(conn)
	for {
		var r request
		if err := dec.Decode(&r); err != nil {
			return
		}
		switch r.Op {
		case "write":
			a.stdin.Write([]byte(r.Data))
		case "close_stdin":
			a.stdin.Close()
		case "signal":
			if r.Data == "TERM" || r.Data == "KILL" {
				signalGroup(a.cmd.Process.Pid, r.Data)
			}
		}
	}
}

func (a *agent) send(conn net.Conn, wmu *sync.Mutex, st status) {
	b, _ := json.Marshal(st)
	wmu.Lock()
	defer wmu.Unlock()
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	conn.Write(append(b, '\n'))
}

func (a *agent) broadcast(st status) {
	a.mu.Lock()
	conns := make(map[net.Conn]*sync.Mutex, len(a.controls))
	for c, m := range a.controls {
		conns[c] = m
	}
	a.mu.Unlock()
	for c, m := range conns {
		a.send(c, m, st)
	}
}

// cappedLog is ChimeraX's output log: past max bytes the file moves to
// .1 (the one older generation kept, as with a local child) and a new
// one begins.
type cappedLog struct {
	f    *os.File
	path string
	size int64
	max  int64
}

func openLog(path string, max int64) (*cappedLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if max <= 0 {
		max = 10 << 20
	}
	return &cappedLog{f: f, path: path, max: max}, nil
}

func (l *cappedLog) write(s string) {
	if l.size+int64(len(s)) > l.max && l.size > 0 {
		if err := os.Rename(l.path, l.path+".1"); err == nil {
			if f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
				l.f.Close()
				l.f, l.size = f, 0
			}
		}
	}
	n, _ := l.f.WriteString(s)
	l.size += int64(n)
}
