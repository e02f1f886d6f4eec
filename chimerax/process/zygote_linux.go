package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The zygote starts sandboxed children without a start of chimerad's
// binary per child. It is chimerad's binary, started once (per
// supervisor) in a user namespace of its own with CAP_SYS_ADMIN and
// CAP_NET_ADMIN there. For each child, one of its threads, locked for the
// child's life, unshares a new network namespace, brings its loopback up,
// drops its capabilities and forks ChimeraX, which so starts in a network
// namespace of its own, as under the sandbox's init (sandbox_linux.go); the
// same thread later dials ChimeraX's port for each connection on the
// child's relay socket, so the relay needs no process of its own either.
// The daemon keeps ChimeraX's stdio (pipes passed with the request), so
// its output log and port line work as for a direct child.
//
// Each child gets its own network namespace; they share the zygote's user
// namespace, in which they hold no capabilities (ambient capabilities
// cleared on the forking thread, and for a root daemon SECBIT_NOROOT), so
// none can enter another's network namespace. Children die with the
// zygote's thread that forked them (Pdeathsig), the zygote with the
// daemon's spawner thread. Children to be adopted (a shim) still start
// through the init.

// zygoteFlag makes the shim command a zygote; its control socket is
// descriptor 3.
const zygoteFlag = "--zygote"

// zygoteMsg is one message on the control socket (SOCK_SEQPACKET, one
// message per packet). A start carries, as SCM_RIGHTS, ChimeraX's stdin,
// its stdout (and stderr), the listening relay socket and, if Cgroup, the
// cgroup directory to clone it into.
type zygoteMsg struct {
	Op     string   `json:"op"` // start, port (to the zygote); started, exit (from it)
	ID     uint64   `json:"id"`
	Path   string   `json:"path,omitempty"`
	Args   []string `json:"args,omitempty"` // after the program
	Env    []string `json:"env,omitempty"`
	Dir    string   `json:"dir,omitempty"`
	Cgroup bool     `json:"cgroup,omitempty"`

	PID    int     `json:"pid,omitempty"`
	Port   int     `json:"port,omitempty"` // ChimeraX's REST port, from its port line
	Error  string  `json:"error,omitempty"`
	Code   *int    `json:"code,omitempty"`
	Signal string  `json:"signal,omitempty"`
	CPU    float64 `json:"cpu,omitempty"`
}

// errNoZygote: the zygote cannot be started; the child starts through the
// sandbox's init instead.
var errNoZygote = errors.New("zygote unavailable")

// Zygote starts sandboxed children for a supervisor (see above). Its zero
// value is not usable; NewZygote makes one, started at its first launch.
type Zygote struct {
	shim, shimEnv []string

	mu      sync.Mutex
	conn    *net.UnixConn // nil before the start and once it is gone
	cmd     *exec.Cmd
	gone    chan struct{} // closed when the zygote process has been reaped
	broken  error         // why it could not start, if it could not
	nextID  uint64
	waiting map[uint64]chan zygoteMsg // starts awaiting their answer
	// started holds the starts answered but not yet running, and early
	// the exits of those that ended before they were.
	started map[uint64]bool
	early   map[uint64]zygoteMsg
	running map[uint64]*zygoteChild
	closed  bool
}

// zygoteChild is the daemon's side of one child the zygote started.
type zygoteChild struct {
	p      *Process
	outEOF chan struct{} // closed once ChimeraX's output is drained
	out    *outputLog
	outR   *os.File
}

// NewZygote returns a zygote that runs as shim (chimerad's binary and its
// shim subcommand) with shimEnv added to its environment.
func NewZygote(shim, shimEnv []string) *Zygote {
	if len(shim) == 0 {
		return nil
	}
	return &Zygote{shim: shim, shimEnv: shimEnv, waiting: map[uint64]chan zygoteMsg{},
		started: map[uint64]bool{}, early: map[uint64]zygoteMsg{}, running: map[uint64]*zygoteChild{}}
}

// Close ends the zygote and, with it, every child it started.
func (z *Zygote) Close() {
	if z == nil {
		return
	}
	z.mu.Lock()
	z.closed = true
	conn, cmd, gone := z.conn, z.cmd, z.gone
	z.mu.Unlock()
	if conn == nil {
		return
	}
	conn.Close() // the zygote kills its children and exits on EOF
	select {
	case <-gone:
	case <-time.After(2 * time.Second):
		cmd.Process.Kill()
		<-gone
	}
}

// zygoteProcAttr starts the zygote in a user namespace of its own, where
// it keeps CAP_SYS_ADMIN (to unshare network namespaces) and CAP_NET_ADMIN
// (to bring their loopback up) across exec.
func zygoteProcAttr() *syscall.SysProcAttr {
	attr := sandboxProcAttr()
	attr.Cloneflags = syscall.CLONE_NEWUSER
	attr.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN}
	return attr
}

// startLocked starts the zygote process; z.mu is held.
func (z *Zygote) startLocked() error {
	if z.broken != nil {
		return z.broken
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "zygote"), os.NewFile(uintptr(fds[1]), "zygote")
	defer theirs.Close()
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return err
	}
	cmd := exec.Command(z.shim[0], append(slices.Clone(z.shim[1:]), zygoteFlag)...)
	cmd.Env = append(os.Environ(), z.shimEnv...)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr // only a crash writes there
	cmd.SysProcAttr = zygoteProcAttr()
	if err := startCommand(cmd); err != nil {
		fc.Close()
		z.broken = fmt.Errorf("%w: %v", errNoZygote, err)
		return z.broken
	}
	z.conn, z.cmd, z.gone = fc.(*net.UnixConn), cmd, make(chan struct{})
	go z.read(z.conn, cmd, z.gone)
	return nil
}

// read receives the zygote's messages until it is gone, then fails what
// waits on it.
func (z *Zygote) read(conn *net.UnixConn, cmd *exec.Cmd, gone chan struct{}) {
	buf := make([]byte, 64<<10)
	for {
		n, err := conn.Read(buf)
		if err != nil || n == 0 {
			break
		}
		var m zygoteMsg
		if json.Unmarshal(buf[:n], &m) != nil {
			continue
		}
		z.mu.Lock()
		switch m.Op {
		case "started":
			if ch := z.waiting[m.ID]; ch != nil {
				delete(z.waiting, m.ID)
				z.started[m.ID] = true
				ch <- m
			} else if m.PID > 0 { // its launch gave up waiting
				signalGroup(m.PID, syscall.SIGKILL)
			}
		case "exit":
			if zc := z.running[m.ID]; zc != nil {
				delete(z.running, m.ID)
				go zc.exited(m)
			} else if z.started[m.ID] {
				z.early[m.ID] = m
			}
		}
		z.mu.Unlock()
	}
	conn.Close()
	cmd.Wait()
	z.mu.Lock()
	if z.conn == conn {
		z.conn = nil
	}
	waiting, running := z.waiting, z.running
	z.waiting, z.running = map[uint64]chan zygoteMsg{}, map[uint64]*zygoteChild{}
	clear(z.started)
	clear(z.early)
	z.mu.Unlock()
	close(gone)
	for _, ch := range waiting {
		ch <- zygoteMsg{Error: "the sandbox's zygote exited"}
	}
	for _, zc := range running {
		// Its children die with it (Pdeathsig); make sure of it.
		signalGroup(zc.p.pid, syscall.SIGKILL)
		go zc.exited(zygoteMsg{Error: "the sandbox's zygote exited"})
	}
}

// exited records how the child ended, once its output is drained (at most
// two seconds after its end, should something it started keep the pipe).
func (zc *zygoteChild) exited(m zygoteMsg) {
	select {
	case <-zc.outEOF:
	case <-time.After(2 * time.Second):
		zc.outR.Close()
		<-zc.outEOF
	}
	zc.out.Close()
	p := zc.p
	p.code, p.signal, p.cpu = m.Code, m.Signal, m.CPU
	if m.Error != "" && m.Code == nil && m.Signal == "" {
		p.failure = m.Error
	}
	close(p.done)
}

// launch starts spec's ChimeraX through the zygote, in a network
// namespace of its own. errNoZygote: it cannot, use the init.
func (z *Zygote) launch(spec Spec, cg *sessionCgroup, home, tmp string) (p *Process, err error) {
	z.mu.Lock()
	if z.closed {
		z.mu.Unlock()
		return nil, fmt.Errorf("%w: shutting down", ErrStartFailed)
	}
	if z.conn == nil {
		if err := z.startLocked(); err != nil {
			z.mu.Unlock()
			return nil, err
		}
	}
	conn := z.conn
	z.nextID++
	id := z.nextID
	answer := make(chan zygoteMsg, 1)
	z.waiting[id] = answer
	z.mu.Unlock()
	defer func() {
		if err == nil {
			return
		}
		z.mu.Lock()
		delete(z.waiting, id)
		delete(z.started, id)
		delete(z.early, id)
		z.mu.Unlock()
		select {
		case m := <-answer: // answered as it timed out: not wanted now
			if m.PID > 0 {
				signalGroup(m.PID, syscall.SIGKILL)
			}
		default:
		}
	}()

	out, err := newOutputLog(filepath.Join(spec.Dir, LogFile), spec.LogMaxBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
	}
	var toClose []*os.File // the child's ends, the zygote's once sent
	defer func() {
		for _, f := range toClose {
			f.Close()
		}
	}()
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
	}
	toClose = append(toClose, stdinR)
	outR, outW, err := os.Pipe()
	if err != nil {
		out.Close()
		stdinW.Close()
		return nil, fmt.Errorf("%w: %v", ErrStartFailed, err)
	}
	toClose = append(toClose, outW)
	fail := func(err error) (*Process, error) {
		out.Close()
		stdinW.Close()
		outR.Close()
		return nil, err
	}
	relay, err := listenRelay(spec.Dir)
	if err != nil {
		return fail(fmt.Errorf("%w: relay socket: %v", ErrStartFailed, err))
	}
	toClose = append(toClose, relay)
	files := []int{int(stdinR.Fd()), int(outW.Fd()), int(relay.Fd())}
	cmd := exec.Command(spec.Path, spec.Args...) // for its resolved path
	if cmd.Err != nil {
		return fail(fmt.Errorf("%w: run %s: %v", ErrStartFailed, spec.Path, cmd.Err))
	}
	req := zygoteMsg{Op: "start", ID: id, Path: cmd.Path, Args: spec.Args, Env: childEnv(os.Environ(), spec, home, tmp), Dir: spec.Dir}
	if cg != nil {
		fd, err := unix.Open(cg.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail(fmt.Errorf("%w: cgroup: %v", ErrStartFailed, err))
		}
		toClose = append(toClose, os.NewFile(uintptr(fd), "cgroup"))
		files, req.Cgroup = append(files, fd), true
	}
	b, _ := json.Marshal(req)
	if _, _, err := conn.WriteMsgUnix(b, unix.UnixRights(files...), nil); err != nil {
		return fail(fmt.Errorf("%w: %v", errNoZygote, err))
	}
	var m zygoteMsg
	select {
	case m = <-answer:
	case <-time.After(spec.Timeout):
		return fail(fmt.Errorf("%w: the sandbox's zygote did not answer within %v", ErrStartTimeout, spec.Timeout))
	}
	if m.Error != "" || m.PID <= 0 {
		return fail(fmt.Errorf("%w: %s", ErrStartFailed, m.Error))
	}
	portCh := make(chan int, 1)
	p = &Process{pid: m.PID, dir: spec.Dir, h: directHolder{stdinW}, portCh: portCh, done: make(chan struct{}), sandboxed: true}
	go func() {
		// The relay learns the port from the port line, as the daemon does.
		select {
		case port := <-out.port:
			b, _ := json.Marshal(zygoteMsg{Op: "port", ID: id, Port: port})
			conn.Write(b)
			portCh <- port
		case <-p.done:
		}
	}()
	p.startTicks, _ = StartTicks(p.pid)
	zc := &zygoteChild{p: p, outEOF: make(chan struct{}), out: out, outR: outR}
	go func() {
		io.Copy(out, outR)
		outR.Close()
		close(zc.outEOF)
	}()
	z.mu.Lock()
	gone := z.conn != conn
	early, ended := z.early[id]
	delete(z.started, id)
	delete(z.early, id)
	if !gone && !ended {
		z.running[id] = zc
	}
	z.mu.Unlock()
	switch {
	case ended: // it has exited already
		go zc.exited(early)
	case gone: // the zygote died between its answer and now: so did the child
		signalGroup(p.pid, syscall.SIGKILL)
		go zc.exited(zygoteMsg{Error: "the sandbox's zygote exited"})
	}
	return p, nil
}

// listenRelay binds the relay socket in dir (through the directory's
// descriptor when the path is too long for a socket address) and returns
// the listening socket's descriptor; the socket file stays.
func listenRelay(dir string) (*os.File, error) {
	path := filepath.Join(dir, relaySocket)
	os.Remove(path)
	addr, done, err := socketAddr(dir, relaySocket)
	if err != nil {
		return nil, err
	}
	defer done()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	defer ln.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, err
	}
	return ln.File()
}

// zygoteMain is the zygote process: it serves start requests on
// descriptor 3 until the daemon closes it, then kills every child it
// started and exits.
func zygoteMain(stderr io.Writer) int {
	f := os.NewFile(3, "zygote")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(stderr, "chimerax-shim: zygote:", err)
		return 1
	}
	z := &zygoteServer{conn: fc.(*net.UnixConn), pgids: map[int]bool{}, ports: map[uint64]chan int{}}
	buf, oob := make([]byte, 256<<10), make([]byte, unix.CmsgSpace(8*4))
	for {
		n, oobn, _, _, err := z.conn.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			break
		}
		var files []*os.File
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, cm := range msgs {
				fds, _ := unix.ParseUnixRights(&cm)
				for _, fd := range fds {
					files = append(files, os.NewFile(uintptr(fd), "passed"))
				}
			}
		}
		var m zygoteMsg
		err = json.Unmarshal(buf[:n], &m)
		if err == nil && m.Op == "port" && len(files) == 0 {
			z.mu.Lock()
			if ch := z.ports[m.ID]; ch != nil {
				select {
				case ch <- m.Port:
				default:
				}
			}
			z.mu.Unlock()
			continue
		}
		if err != nil || m.Op != "start" || len(files) != 3+btoi(m.Cgroup) {
			closeAll(files)
			z.send(zygoteMsg{Op: "started", ID: m.ID, Error: "bad start request"})
			continue
		}
		z.start(m, files)
	}
	// The daemon is gone, or closing: nothing of ours outlives it.
	z.mu.Lock()
	for pgid := range z.pgids {
		signalGroup(pgid, syscall.SIGKILL)
	}
	z.mu.Unlock()
	return 0
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// zygoteServer is the zygote's state.
type zygoteServer struct {
	conn  *net.UnixConn
	wmu   sync.Mutex // one message at a time
	mu    sync.Mutex
	pgids map[int]bool        // children's process groups, while they run
	ports map[uint64]chan int // where each running child's port goes, once known
}

func (z *zygoteServer) send(m zygoteMsg) {
	b, _ := json.Marshal(m)
	z.wmu.Lock()
	z.conn.Write(b)
	z.wmu.Unlock()
}

// start runs one child from a thread of its own, in a new network
// namespace: files are its stdin, its stdout, the relay listener and,
// with m.Cgroup, its cgroup.
func (z *zygoteServer) start(m zygoteMsg, files []*os.File) {
	started := make(chan *exec.Cmd, 1)
	exited := make(chan struct{})
	portCh := make(chan int, 1)
	z.mu.Lock()
	z.ports[m.ID] = portCh
	z.mu.Unlock()
	// TCP sockets made in the child's namespace, not yet connected: a
	// socket belongs to the namespace it was made in, whichever thread
	// connects it, so the relay need not wait on the child's thread.
	sockets := make(chan int, spareSockets)
	refill := make(chan struct{}, 1)
	var spawn func()
	spawn = func() {
		// Never unlocked: the thread is left in the child's network
		// namespace and is the parent its death signal watches, so it
		// ends (as Go ends a locked thread whose goroutine returns) only
		// once the child has exited.
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread, which /proc/<pid> shows and Go never
			// ends: keep it in the zygote's own namespace, parked, and
			// spawn from another thread.
			go spawn()
			select {}
		}
		cmd, err := spawnInNewNetns(m, files)
		closeAll([]*os.File{files[0], files[1]})
		if len(files) > 3 {
			files[3].Close()
		}
		if err != nil {
			files[2].Close()
			z.send(zygoteMsg{Op: "started", ID: m.ID, Error: err.Error()})
			started <- nil
			return
		}
		z.mu.Lock()
		z.pgids[cmd.Process.Pid] = true
		z.mu.Unlock()
		z.send(zygoteMsg{Op: "started", ID: m.ID, PID: cmd.Process.Pid})
		started <- cmd
		fill := func() {
			for len(sockets) < cap(sockets) {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return
				}
				sockets <- fd
			}
		}
		fill()
		for {
			select {
			case <-refill:
				fill()
			case <-exited:
				for {
					select {
					case fd := <-sockets:
						unix.Close(fd)
					default:
						return
					}
				}
			}
		}
	}
	go spawn()
	cmd := <-started
	if cmd == nil {
		z.mu.Lock()
		delete(z.ports, m.ID)
		z.mu.Unlock()
		return
	}
	pid := cmd.Process.Pid
	ln, err := net.FileListener(files[2])
	files[2].Close()
	if err == nil {
		lookup := func() (int, error) {
			select {
			case port := <-portCh:
				portCh <- port // for the next lookup
				return port, nil
			case <-time.After(time.Second): // not told: look
				return loopbackListener("/proc/" + strconv.Itoa(pid) + "/net/tcp")
			case <-exited:
				return 0, errors.New("ChimeraX has exited")
			}
		}
		dial := func(port int) (net.Conn, error) {
			var fd int
			select {
			case fd = <-sockets:
			case <-exited:
				return nil, errors.New("ChimeraX has exited")
			}
			select {
			case refill <- struct{}{}:
			default:
			}
			if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				unix.Close(fd)
				return nil, err
			}
			f := os.NewFile(uintptr(fd), "chimerax")
			defer f.Close()
			return net.FileConn(f)
		}
		go relayLoop(ln, lookup, dial)
	}
	go func() {
		cmd.Wait()
		if ln != nil {
			ln.Close()
		}
		z.mu.Lock()
		delete(z.pgids, pid)
		delete(z.ports, m.ID)
		z.mu.Unlock()
		code, sig := exitInfo(cmd.ProcessState)
		z.send(zygoteMsg{Op: "exit", ID: m.ID, Code: code, Signal: sig, CPU: cpuSeconds(cmd.ProcessState)})
		close(exited)
	}()
}

// spareSockets is how many unconnected sockets each child's thread keeps
// made in its namespace for the relay.
const spareSockets = 2

// spawnInNewNetns, on a locked thread, moves the thread into a new network
// namespace with its loopback up, drops the thread's capabilities and
// starts the child there.
func spawnInNewNetns(m zygoteMsg, files []*os.File) (*exec.Cmd, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("new network namespace: %v", err)
	}
	if err := loopbackUp(); err != nil {
		return nil, fmt.Errorf("bring up loopback: %v", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("drop capabilities: %v", err)
	}
	if os.Getuid() == 0 {
		// uid 0 would regain every capability of the namespace at exec.
		// SECBIT_NOROOT and SECBIT_NOROOT_LOCKED (linux/securebits.h).
		const bits = 1<<0 | 1<<1
		if err := unix.Prctl(unix.PR_SET_SECUREBITS, bits, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("drop capabilities: %v", err)
		}
	}
	cmd := exec.Command(m.Path, m.Args...)
	cmd.Env, cmd.Dir = m.Env, m.Dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[1]
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if m.Cgroup {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(files[3].Fd())
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ChimeraX: %v", err)
	}
	return cmd, nil
}
