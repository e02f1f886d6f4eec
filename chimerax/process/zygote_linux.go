package process

import (
	"context"
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
// namespace of its own, as under the sandbox's init (sandbox_linux.go).
// The daemon reaches ChimeraX's port with sockets made on that thread (a
// socket belongs to the namespace it was made in): the zygote connects one
// for each connection the daemon asks for and passes it over, so the
// daemon then talks to ChimeraX directly, with no relay in between.
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
// its stdout (and stderr) and, if Cgroup, the cgroup directory to clone it
// into; a dialed, the connected socket asked for by the dial of that Ref.
type zygoteMsg struct {
	Op     string   `json:"op"` // start, port, dial (to the zygote); started, exit, dialed (from it)
	ID     uint64   `json:"id"`
	Ref    uint64   `json:"ref,omitempty"`
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
	nextRef uint64
	dials   map[uint64]chan dialed // dials awaiting their socket
	closed  bool
}

// dialed is the answer to a dial: a connected socket, or why not.
type dialed struct {
	fd  int
	err string
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
		started: map[uint64]bool{}, early: map[uint64]zygoteMsg{}, running: map[uint64]*zygoteChild{},
		dials: map[uint64]chan dialed{}}
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
	buf, oob := make([]byte, 64<<10), make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			break
		}
		fds := passedFDs(oob[:oobn])
		var m zygoteMsg
		if json.Unmarshal(buf[:n], &m) != nil {
			closeFDs(fds)
			continue
		}
		if m.Op != "dialed" || len(fds) > 1 { // only a dialed passes one
			closeFDs(fds)
			fds = nil
		}
		z.mu.Lock()
		switch m.Op {
		case "dialed":
			d := dialed{fd: -1, err: m.Error}
			if len(fds) == 1 {
				d.fd = fds[0]
			} else if d.err == "" {
				d.err = "no socket passed"
			}
			if ch := z.dials[m.Ref]; ch != nil {
				delete(z.dials, m.Ref)
				ch <- d
			} else if d.fd >= 0 { // its dial gave up
				unix.Close(d.fd)
			}
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
	waiting, running, dials := z.waiting, z.running, z.dials
	z.waiting, z.running = map[uint64]chan zygoteMsg{}, map[uint64]*zygoteChild{}
	z.dials = map[uint64]chan dialed{}
	clear(z.started)
	clear(z.early)
	z.mu.Unlock()
	close(gone)
	for _, ch := range dials {
		ch <- dialed{fd: -1, err: "the sandbox's zygote exited"}
	}
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
	files := []int{int(stdinR.Fd()), int(outW.Fd())}
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
	p.dial = func(ctx context.Context) (net.Conn, error) { return z.dial(ctx, conn, id) }
	go func() {
		// The zygote learns the port from the port line, as the daemon does.
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

// dial connects to the REST port of child id through the zygote on
// conn: it connects a socket made in the child's namespace and passes it.
func (z *Zygote) dial(ctx context.Context, conn *net.UnixConn, id uint64) (net.Conn, error) {
	z.mu.Lock()
	if z.conn != conn {
		z.mu.Unlock()
		return nil, errors.New("the sandbox's zygote exited")
	}
	z.nextRef++
	ref := z.nextRef
	ch := make(chan dialed, 1)
	z.dials[ref] = ch
	z.mu.Unlock()
	b, _ := json.Marshal(zygoteMsg{Op: "dial", ID: id, Ref: ref})
	if _, err := conn.Write(b); err != nil {
		z.mu.Lock()
		delete(z.dials, ref)
		z.mu.Unlock()
		return nil, err
	}
	select {
	case d := <-ch:
		if d.fd < 0 {
			return nil, errors.New(d.err)
		}
		f := os.NewFile(uintptr(d.fd), "chimerax")
		defer f.Close()
		return net.FileConn(f)
	case <-ctx.Done():
		z.mu.Lock()
		delete(z.dials, ref)
		z.mu.Unlock()
		select { // answered as it gave up
		case d := <-ch:
			if d.fd >= 0 {
				unix.Close(d.fd)
			}
		default:
		}
		return nil, ctx.Err()
	}
}

// passedFDs returns the descriptors passed (SCM_RIGHTS) in oob.
func passedFDs(oob []byte) []int {
	var out []int
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	for _, cm := range msgs {
		fds, _ := unix.ParseUnixRights(&cm)
		out = append(out, fds...)
	}
	return out
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
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
	z := &zygoteServer{conn: fc.(*net.UnixConn), pgids: map[int]bool{}, children: map[uint64]*zchild{}, spare: make(chan *netThread, 1)}
	z.prepareSpare()
	buf, oob := make([]byte, 256<<10), make([]byte, unix.CmsgSpace(8*4))
	for {
		n, oobn, _, _, err := z.conn.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			break
		}
		var files []*os.File
		for _, fd := range passedFDs(oob[:oobn]) {
			files = append(files, os.NewFile(uintptr(fd), "passed"))
		}
		var m zygoteMsg
		err = json.Unmarshal(buf[:n], &m)
		if err == nil && (m.Op == "port" || m.Op == "dial") && len(files) == 0 {
			z.mu.Lock()
			c := z.children[m.ID]
			z.mu.Unlock()
			switch {
			case m.Op == "port" && c != nil:
				select {
				case c.port <- m.Port:
				default:
				}
			case m.Op == "dial" && c != nil:
				go z.dial(c, m.Ref)
			case m.Op == "dial":
				z.send(zygoteMsg{Op: "dialed", Ref: m.Ref, Error: "ChimeraX has exited"})
			}
			continue
		}
		if err != nil || m.Op != "start" || len(files) != 2+btoi(m.Cgroup) {
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
	conn     *net.UnixConn
	wmu      sync.Mutex // one message at a time
	mu       sync.Mutex
	pgids    map[int]bool       // children's process groups, while they run
	children map[uint64]*zchild // the children starting or running
	spare    chan *netThread    // a thread ready to start the next child
}

// zchild is the zygote's side of one child.
type zchild struct {
	pid    int
	port   chan int // ChimeraX's REST port once the daemon has said it (kept there)
	exited chan struct{}
	// TCP sockets made in the child's namespace, not yet connected: a
	// socket belongs to the namespace it was made in, whichever thread
	// connects it, so a dial need not wait on the child's thread.
	sockets chan int
	refill  chan struct{}
}

func (z *zygoteServer) send(m zygoteMsg, fds ...int) {
	b, _ := json.Marshal(m)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	z.wmu.Lock()
	z.conn.WriteMsgUnix(b, oob, nil)
	z.wmu.Unlock()
}

// dial connects one of c's sockets to ChimeraX's port and passes it to
// the daemon as the answer to its dial ref.
func (z *zygoteServer) dial(c *zchild, ref uint64) {
	fail := func(err error) { z.send(zygoteMsg{Op: "dialed", Ref: ref, Error: err.Error()}) }
	var port int
	select {
	case port = <-c.port:
		c.port <- port // for the next dial
	case <-time.After(time.Second): // not told: look
		p, err := loopbackListener("/proc/" + strconv.Itoa(c.pid) + "/net/tcp")
		if err != nil {
			fail(err)
			return
		}
		port = p
	case <-c.exited:
		fail(errors.New("ChimeraX has exited"))
		return
	}
	var fd int
	select {
	case fd = <-c.sockets:
	case <-c.exited:
		fail(errors.New("ChimeraX has exited"))
		return
	}
	select {
	case c.refill <- struct{}{}:
	default:
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		fail(fmt.Errorf("connect to ChimeraX: %v", err))
		return
	}
	z.send(zygoteMsg{Op: "dialed", Ref: ref}, fd)
}

// start runs one child from a thread of its own, in a new network
// namespace: files are its stdin, its stdout and, with m.Cgroup, its
// cgroup.
func (z *zygoteServer) start(m zygoteMsg, files []*os.File) {
	c := &zchild{
		port:    make(chan int, 1),
		exited:  make(chan struct{}),
		sockets: make(chan int, spareSockets),
		refill:  make(chan struct{}, 1),
	}
	t, err := z.thread()
	if err != nil {
		closeAll(files)
		z.send(zygoteMsg{Op: "started", ID: m.ID, Error: err.Error()})
		return
	}
	started := make(chan *exec.Cmd, 1)
	t.run <- func() {
		cmd, err := startChild(m, files)
		closeAll(files)
		if err != nil {
			z.send(zygoteMsg{Op: "started", ID: m.ID, Error: err.Error()})
			started <- nil
			return
		}
		c.pid = cmd.Process.Pid
		z.mu.Lock()
		z.pgids[c.pid] = true
		z.children[m.ID] = c
		z.mu.Unlock()
		z.send(zygoteMsg{Op: "started", ID: m.ID, PID: c.pid})
		started <- cmd
		fill := func() {
			for len(c.sockets) < cap(c.sockets) {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return
				}
				c.sockets <- fd
			}
		}
		fill()
		for {
			select {
			case <-c.refill:
				fill()
			case <-c.exited:
				for {
					select {
					case fd := <-c.sockets:
						unix.Close(fd)
					default:
						return
					}
				}
			}
		}
	}
	cmd := <-started
	if cmd == nil {
		return
	}
	go func() {
		cmd.Wait()
		z.mu.Lock()
		delete(z.pgids, c.pid)
		delete(z.children, m.ID)
		z.mu.Unlock()
		code, sig := exitInfo(cmd.ProcessState)
		z.send(zygoteMsg{Op: "exit", ID: m.ID, Code: code, Signal: sig, CPU: cpuSeconds(cmd.ProcessState)})
		close(c.exited)
	}()
}

// spareSockets is how many unconnected sockets each child's thread keeps
// made in its namespace for the daemon's dials.
const spareSockets = 2

// netThread is a goroutine locked to a thread of its own that has entered
// a new network namespace, its loopback up and the thread's capabilities
// dropped, to start one child there and serve it. The thread is never
// unlocked: it stays in the child's namespace and is the parent its death
// signal watches, so it ends (as Go ends a locked thread whose goroutine
// returns) only once its work is done. Making a network namespace takes
// about a millisecond, so the zygote keeps one thread ready (spare).
type netThread struct {
	ready chan error  // nil once the namespace is ready, or why it is not
	run   chan func() // its one job; closed: none, end
}

func newNetThread() *netThread {
	t := &netThread{ready: make(chan error, 1), run: make(chan func(), 1)}
	var loop func()
	loop = func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread, which /proc/<pid> shows and Go never
			// ends: keep it in the zygote's own namespace, parked, and
			// go on from another thread.
			go loop()
			select {}
		}
		err := enterNewNetns()
		t.ready <- err
		if err != nil {
			return
		}
		if f, ok := <-t.run; ok {
			f()
		}
	}
	go loop()
	return t
}

// thread returns a thread ready in a new network namespace, the spare if
// there is one, and has another made ready for the next start.
func (z *zygoteServer) thread() (*netThread, error) {
	var t *netThread
	select {
	case t = <-z.spare:
	default:
		t = newNetThread()
		if err := <-t.ready; err != nil {
			return nil, err
		}
	}
	z.prepareSpare()
	return t, nil
}

// prepareSpare makes a thread ready for the next start, unless one is.
func (z *zygoteServer) prepareSpare() {
	go func() {
		t := newNetThread()
		if <-t.ready != nil {
			return
		}
		select {
		case z.spare <- t:
		default: // one is enough
			close(t.run)
		}
	}()
}

// enterNewNetns, on a locked thread, moves the thread into a new network
// namespace with its loopback up and drops the thread's capabilities.
func enterNewNetns() error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("new network namespace: %v", err)
	}
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("bring up loopback: %v", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("drop capabilities: %v", err)
	}
	if os.Getuid() == 0 {
		// uid 0 would regain every capability of the namespace at exec.
		// SECBIT_NOROOT and SECBIT_NOROOT_LOCKED (linux/securebits.h).
		const bits = 1<<0 | 1<<1
		if err := unix.Prctl(unix.PR_SET_SECUREBITS, bits, 0, 0, 0); err != nil {
			return fmt.Errorf("drop capabilities: %v", err)
		}
	}
	return nil
}

// startChild starts m's ChimeraX from the calling thread, which
// enterNewNetns has prepared.
func startChild(m zygoteMsg, files []*os.File) (*exec.Cmd, error) {
	cmd := exec.Command(m.Path, m.Args...)
	cmd.Env, cmd.Dir = m.Env, m.Dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[1]
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if m.Cgroup {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(files[2].Fd())
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ChimeraX: %v", err)
	}
	return cmd, nil
}
