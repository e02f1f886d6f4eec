package process

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// A sandboxed ChimeraX runs in its own user and network namespaces: the
// shim starts a small init process of the chimerad binary (the shim again,
// with --sandbox-init) with CLONE_NEWUSER|CLONE_NEWNET and the caller's uid
// and gid mapped to themselves. The init brings up the namespace's
// loopback, starts ChimeraX, and relays a Unix socket in the session
// directory, relaySocket, to ChimeraX's REST port on the namespace's
// loopback. Nothing in the host namespace can reach that port, and
// ChimeraX can reach nothing but itself. A filesystem Unix socket is not
// bound to a network namespace, which is what lets the daemon in.

// relaySocket is the sandboxed child's REST endpoint, in its session dir.
const relaySocket = "chimerax.sock"

// sandboxProcAttr starts the sandbox init in fresh user and network
// namespaces, keeping CAP_NET_ADMIN (in the new namespace only) across exec
// so that it can bring the loopback up without being root inside.
func sandboxProcAttr() *syscall.SysProcAttr {
	uid, gid := os.Getuid(), os.Getgid()
	return &syscall.SysProcAttr{
		Setpgid:                    true,
		Pdeathsig:                  syscall.SIGKILL,
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}},
		GidMappingsEnableSetgroups: false,
		AmbientCaps:                []uintptr{unix.CAP_NET_ADMIN},
	}
}

// ProbeSandbox reports whether this kernel lets chimerad create the
// namespaces of a sandbox (unprivileged user namespaces may be refused,
// e.g. by Ubuntu's AppArmor restriction or a sysctl).
func ProbeSandbox() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The program never matters: starting it in the namespaces is the test.
	cmd := exec.Command(self, "--sandbox-probe-never-runs")
	if _, err := os.Stat("/bin/true"); err == nil {
		cmd = exec.Command("/bin/true")
	}
	attr := sandboxProcAttr()
	attr.Pdeathsig, attr.AmbientCaps = 0, nil
	cmd.SysProcAttr = attr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil // it ran, inside the namespaces
		}
		return fmt.Errorf("create user and network namespaces: %w", err)
	}
	return nil
}

// sandboxInitMain runs inside the namespaces: loopback up, ChimeraX started with
// the init's stdio, the relay served; it exits as ChimeraX exits.
func sandboxInitMain(relay string, unset []string, argv []string, stderr io.Writer) int {
	// ChimeraX is started from this thread and dies with it (Pdeathsig), and
	// the ambient capability is cleared on it first: ChimeraX gets none.
	runtime.LockOSThread()
	if err := loopbackUp(); err != nil {
		fmt.Fprintln(stderr, "chimerax-shim: sandbox: bring up loopback:", err)
		return 71
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		fmt.Fprintln(stderr, "chimerax-shim: sandbox: drop capabilities:", err)
		return 71
	}
	os.Remove(relay)
	ln, err := net.Listen("unix", relay)
	if err != nil {
		fmt.Fprintln(stderr, "chimerax-shim: sandbox:", err)
		return 71
	}
	os.Chmod(relay, 0o600)
	defer ln.Close()

	// Signals go to the whole process group; only ChimeraX acts on them,
	// and the init follows it out. Caught, not ignored: an ignored signal
	// stays ignored across exec, and ChimeraX would ignore SIGTERM too.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(unset, k)
	})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "chimerax-shim: sandbox: start ChimeraX:", err)
		return 70
	}
	go relayLoop(ln, func() (int, error) { return loopbackListener("/proc/net/tcp") },
		func(port int) (net.Conn, error) { return net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)) })
	cmd.Wait()

	code, sig := exitInfo(cmd.ProcessState)
	if sig != "" {
		// End the way ChimeraX did, so the shim reports the same.
		s := cmd.ProcessState.Sys().(syscall.WaitStatus).Signal()
		signal.Reset(s)
		syscall.Kill(os.Getpid(), s)
		select {} // the signal is on its way
	}
	return *code
}

// loopbackUp sets the namespace's lo interface up, which also gives it
// 127.0.0.1.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// relayLoop copies each connection on the relay socket to ChimeraX's REST
// port, which lookup finds (once, and again should it stop answering
// there), reached with dialTCP from inside ChimeraX's network namespace.
func relayLoop(ln net.Listener, lookup func() (int, error), dialTCP func(port int) (net.Conn, error)) {
	var known atomic.Int32
	dial := func() (net.Conn, error) {
		if port := known.Load(); port > 0 {
			if up, err := dialTCP(int(port)); err == nil {
				return up, nil
			}
		}
		port, err := lookup()
		if err != nil {
			return nil, err
		}
		known.Store(int32(port))
		return dialTCP(port)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := dial()
			if err != nil {
				return
			}
			defer up.Close()
			var wg sync.WaitGroup
			wg.Go(func() {
				io.Copy(up, c)
				up.(*net.TCPConn).CloseWrite()
			})
			io.Copy(c, up)
			// ChimeraX is done with it (or gone): so is the client, which
			// may be waiting for an answer that will not come.
			c.Close()
			wg.Wait()
		}()
	}
}

// loopbackListener returns the port of the TCP socket listening on
// 127.0.0.1 in the network namespace whose sockets netTCP lists:
// ChimeraX's REST server, the only listener there. Reading it walks the
// kernel's whole TCP hash table (milliseconds on a large machine).
func loopbackListener(netTCP string) (int, error) {
	f, err := os.Open(netTCP)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st ...; 0A is LISTEN.
		if len(fields) < 4 || fields[3] != "0A" {
			continue
		}
		addr, portHex, ok := strings.Cut(fields[1], ":")
		if !ok || addr != "0100007F" {
			continue
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err == nil && port > 0 {
			return int(port), nil
		}
	}
	return 0, errors.New("no listener on 127.0.0.1")
}
