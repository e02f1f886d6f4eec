//go:build linux

package chimerax_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/store"
)

// TestSandboxIsolation: a sandboxed child's REST port cannot be reached
// from the host's network namespace, each child has a network namespace of
// its own, and the session still works through chimerad.
func TestSandboxIsolation(t *testing.T) {
	if err := process.ProbeSandbox(); err != nil {
		t.Skipf("this kernel refuses the sandbox's namespaces: %v", err)
	}
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) { c.Sandbox = chimerax.SandboxRequired })
	if !sv.Sandboxed() {
		t.Fatal("Sandboxed() = false with sandbox required")
	}
	var recs []chimerax.Info
	for range 2 {
		rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Upload: mustUpload(t, "pept.pdb"), Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if !rec.Process.Sandboxed || rec.Process.Port == 0 {
			t.Fatalf("process = %+v, want sandboxed with a port", rec.Process)
		}
		recs = append(recs, rec)
	}

	for _, rec := range recs {
		res, err := sv.RunUnchecked(ctx, rec.ID, "info models")
		if err != nil || !strings.Contains(strings.Join(res.Log.Note, ""), "#1") {
			t.Errorf("info models through the relay = %+v, %v", res, err)
		}
		// From here, the host namespace, the port is nobody's or someone
		// else's: never this ChimeraX.
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", rec.Process.Port), time.Second); err == nil {
			fmt.Fprintf(conn, "GET /run?command=version HTTP/1.0\r\n\r\n")
			conn.SetReadDeadline(time.Now().Add(time.Second))
			b, _ := io.ReadAll(conn)
			conn.Close()
			if strings.Contains(string(b), "UCSF ChimeraX version") {
				t.Errorf("session %s's ChimeraX answered on 127.0.0.1:%d in the host namespace", rec.ID, rec.Process.Port)
			}
		}
	}

	self, _ := os.Readlink("/proc/self/ns/net")
	a, errA := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", recs[0].Process.PID))
	b, errB := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", recs[1].Process.PID))
	if errA != nil || errB != nil || a == self || b == self || a == b {
		t.Errorf("network namespaces: host %s, A %s (%v), B %s (%v); want three different ones", self, a, errA, b, errB)
	}
}

// TestSandboxCrossSessionOpen: ChimeraX's open fetches URLs, so a session
// that can run open unchecked can make another session's REST server run a
// command (issue 9). In the sandbox the other port is not there; without
// it, the control case, the command runs. Supervisor.Command's policy
// refuses the line either way; Supervisor.Run, which bypasses the policy,
// plays a client that got past it.
func TestSandboxCrossSessionOpen(t *testing.T) {
	if err := process.ProbeSandbox(); err != nil {
		t.Skipf("this kernel refuses the sandbox's namespaces: %v", err)
	}
	for _, tt := range []struct {
		sandbox string
		reaches bool
	}{
		{chimerax.SandboxRequired, false},
		{chimerax.SandboxOff, true},
	} {
		t.Run(tt.sandbox, func(t *testing.T) {
			ctx := context.Background()
			sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) { c.Sandbox = tt.sandbox })
			if sv.Sandboxed() == tt.reaches {
				t.Fatalf("Sandboxed() = %v with sandbox %s", sv.Sandboxed(), tt.sandbox)
			}
			a := mustCreate(t, sv, "pept.pdb")
			b := mustCreate(t, sv, "pept.pdb")
			for b.Process.Port == a.Process.Port { // in two namespaces, A would only reach itself
				b = mustCreate(t, sv, "pept.pdb")
			}

			// The effect on B: it saves its structure to a file.
			marker := filepath.Join(b.Process.Dir, "reached.pdb")
			u := fmt.Sprintf("http://127.0.0.1:%d/run?command=%s", b.Process.Port, url.QueryEscape("save "+marker))
			// Without dataFormat, a name with no structure suffix would go
			// to the help viewer unfetched.
			line := "open " + u + " dataFormat pdb"

			if _, err := sv.Command(ctx, a.ID, line); !errors.Is(err, chimerax.ErrRefused) {
				t.Errorf("Command(A, open B's /run) = %v, want ErrRefused", err)
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("after the refused Command, %s: %v; want no such file", marker, err)
			}

			res, err := sv.RunUnchecked(ctx, a.ID, line)
			if err != nil {
				t.Fatal(err)
			}
			_, statErr := os.Stat(marker)
			if !tt.reaches {
				if res.Error == nil || res.Error.Type != "UserError" || res.Error.Message != "<urlopen error [Errno 111] Connection refused>" {
					t.Errorf("Run(A, %q) error = %+v, want UserError <urlopen error [Errno 111] Connection refused>", line, res.Error)
				}
				if !errors.Is(statErr, os.ErrNotExist) {
					t.Errorf("B saved %s (%v): A's open reached it", marker, statErr)
				}
				// B could have: the same command, sent to B, saves the file.
				if res, err := sv.RunUnchecked(ctx, b.ID, "save "+marker); err != nil || !res.OK() {
					t.Fatalf("Run(B, save) = %+v, %v", res, err)
				}
				if _, err := os.Stat(marker); err != nil {
					t.Errorf("B's own save left no file: %v", err)
				}
				return
			}
			if statErr != nil {
				t.Errorf("without the sandbox, A's open did not reach B: %v; A's result %+v", statErr, res.Error)
			}
			if res.Error != nil && strings.Contains(res.Error.Message, "Connection refused") {
				t.Errorf("Run(A, %q) error = %+v, want the fetch to connect", line, res.Error)
			}
		})
	}
}

// TestSandboxHostLoopback: a sandboxed child cannot reach a server on the
// host's loopback (chimerad's own API listens there), while an unsandboxed
// one, the control, fetches from it.
func TestSandboxHostLoopback(t *testing.T) {
	if err := process.ProbeSandbox(); err != nil {
		t.Skipf("this kernel refuses the sandbox's namespaces: %v", err)
	}
	pdb, err := os.ReadFile(filepath.Join("..", "testdata", "pept.pdb"))
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(pdb)
	}))
	defer host.Close()
	for _, sandbox := range []string{chimerax.SandboxRequired, chimerax.SandboxOff} {
		t.Run(sandbox, func(t *testing.T) {
			sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) { c.Sandbox = sandbox })
			rec := mustCreate(t, sv, "")
			before := hits.Load()
			res, err := sv.RunUnchecked(context.Background(), rec.ID, "open "+host.URL+"/pept.pdb")
			if err != nil {
				t.Fatal(err)
			}
			reached := hits.Load() > before
			if sandbox == chimerax.SandboxOff {
				// (Then, like ChimeraX, it fails to save the file: a fresh
				// HOME has no ~/Downloads. The request is what counts.)
				if !reached {
					t.Errorf("unsandboxed open of %s made no request (result %+v)", host.URL, res.Error)
				}
				return
			}
			if reached || res.Error == nil || !strings.Contains(res.Error.Message, "Connection refused") {
				t.Errorf("sandboxed open of %s: reached %v, error %+v; want connection refused and no request", host.URL, reached, res.Error)
			}
		})
	}
}

func TestSandboxRefused(t *testing.T) {
	refuse := func() error { return errors.New("operation not permitted (simulated)") }
	t.Run("auto falls back", func(t *testing.T) {
		ctx := context.Background()
		sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
			c.Sandbox = chimerax.SandboxAuto
			c.SandboxProbe = refuse
		})
		if sv.Sandboxed() {
			t.Fatal("Sandboxed() = true with namespaces refused")
		}
		rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
		if err != nil || rec.Process.Sandboxed {
			t.Fatalf("Create = %+v, %v; want a plain loopback child", rec.Process, err)
		}
	})
	t.Run("required refuses", func(t *testing.T) {
		err := openErr(t, t.TempDir(), func(c *chimerax.Config) {
			c.Sandbox, c.SandboxProbe = chimerax.SandboxRequired, refuse
		})
		if !errors.Is(err, chimerax.ErrSandbox) || !strings.Contains(err.Error(), "user namespaces") {
			t.Errorf("Open = %v, want ErrSandbox saying how to allow namespaces", err)
		}
	})
}

// TestSandboxedChildTakesSIGTERM: a sandboxed ChimeraX ends on SIGTERM as
// an unsandboxed one does. Its init catches the signals it passes over;
// had it ignored them, ChimeraX would inherit the ignored SIGTERM across
// exec, and ending a session busy with a command (which reads no `exit`)
// would wait for the grace and SIGKILL. With and without the shim.
func TestSandboxedChildTakesSIGTERM(t *testing.T) {
	if err := process.ProbeSandbox(); err != nil {
		t.Skipf("this kernel refuses the sandbox's namespaces: %v", err)
	}
	for _, onRestart := range []string{chimerax.OnRestartTerminate, chimerax.OnRestartAdopt} {
		t.Run(onRestart, func(t *testing.T) {
			ctx := context.Background()
			sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
				c.Sandbox, c.OnRestart, c.StopGrace = chimerax.SandboxRequired, onRestart, 5*time.Second
			}, "CHIMERAX_SIM_HANG_ON=turn")
			rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
			if err != nil {
				t.Fatal(err)
			}
			go sv.Command(ctx, rec.ID, "turn y 1") // never answers
			chimeraxtest.WaitFor(t, 5*time.Second, "busy", func() bool { return sv.Busy(rec.ID) })
			begin := time.Now()
			ended, err := sv.Stop(ctx, rec.ID, store.ReasonDeleted)
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(begin); ended.Process.Signal != "terminated" || took >= 5*time.Second {
				t.Errorf("stop of a busy sandboxed child: signal %q after %v, want terminated, before the 5s grace", ended.Process.Signal, took)
			}
		})
	}
}

// TestSandboxZygote: without a shim, sandboxed children are started by
// the zygote, not through an init of their own: ChimeraX itself is the
// recorded child, in a network namespace of its own, holding no
// capability (for a root daemon too). Should the zygote die, its children
// die with it, their sessions end crashed, and the next create starts a
// new zygote.
func TestSandboxZygote(t *testing.T) {
	if err := process.ProbeSandbox(); err != nil {
		t.Skipf("this kernel refuses the sandbox's namespaces: %v", err)
	}
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) { c.Sandbox = chimerax.SandboxRequired })
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Upload: mustUpload(t, "pept.pdb"), Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	status := func(pid int, field string) string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, field+":"); ok {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	pid := rec.Process.PID
	for _, f := range []string{"CapEff", "CapPrm", "CapAmb"} {
		if v := status(pid, f); v != "0000000000000000" {
			t.Errorf("ChimeraX's %s = %q, want no capability", f, v)
		}
	}
	// The daemon talks to ChimeraX over sockets the zygote made in its
	// namespace: there is no relay socket.
	if _, err := os.Stat(filepath.Join(rec.Process.Dir, "chimerax.sock")); err == nil {
		t.Error("a zygote's child has a relay socket")
	}
	if res, err := sv.RunUnchecked(ctx, rec.ID, "info models"); err != nil || !res.OK() {
		t.Errorf("info models = %+v, %v", res, err)
	}
	zygote := 0
	fmt.Sscan(status(pid, "PPid"), &zygote)
	if zygote == os.Getpid() || zygote <= 1 {
		t.Fatalf("ChimeraX's parent is %d (this process is %d): want the zygote", zygote, os.Getpid())
	}
	if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", zygote)); !strings.Contains(string(cmd), "--zygote") {
		t.Fatalf("ChimeraX's parent %d runs %q, want the zygote", zygote, cmd)
	}
	self, _ := os.Readlink("/proc/self/ns/net")
	zns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", zygote))
	cns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if cns == self || cns == zns || zns != self {
		t.Errorf("network namespaces: host %s, zygote %s, ChimeraX %s; want the zygote in the host's, ChimeraX in one of its own", self, zns, cns)
	}

	if err := syscall.Kill(zygote, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var got chimerax.Info
	chimeraxtest.WaitFor(t, 10*time.Second, "session ended", func() bool {
		got, _ = sv.Session(ctx, rec.ID)
		return !got.State.Live()
	})
	if got.State != store.StateFailed || got.TerminationReason != store.ReasonCrashed {
		t.Errorf("session whose zygote died = %s/%s (%s), want failed/crashed", got.State, got.TerminationReason, got.Error)
	}
	again, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Upload: mustUpload(t, "pept.pdb"), Wait: true})
	if err != nil || !again.Process.Sandboxed {
		t.Fatalf("create after the zygote died = %+v, %v", again.Process, err)
	}
	if res, err := sv.RunUnchecked(ctx, again.ID, "info models"); err != nil || !res.OK() {
		t.Errorf("info models in a session of the new zygote = %+v, %v", res, err)
	}
}

// TestSandboxDeepDataDir: with a data dir so deep that a session's relay
// socket path is too long for a socket address, a child started through
// the init (adopt mode) still works, through the directory's descriptor.
func TestSandboxDeepDataDir(t *testing.T) {
	if err := process.ProbeSandbox(); err != nil {
		t.Skipf("this kernel refuses the sandbox's namespaces: %v", err)
	}
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.Sandbox, c.OnRestart = chimerax.SandboxRequired, chimerax.OnRestartAdopt
		c.DataDir = filepath.Join(c.DataDir, strings.Repeat("deep", 25))
	})
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Upload: mustUpload(t, "pept.pdb"), Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(filepath.Join(rec.Process.Dir, "chimerax.sock")); n < 108 {
		t.Fatalf("relay socket path is %d bytes, want one too long for a socket address", n)
	}
	if res, err := sv.RunUnchecked(ctx, rec.ID, "info models"); err != nil || !res.OK() {
		t.Errorf("info models through a deep relay socket = %+v, %v", res, err)
	}
	// With adopt, Close would leave it running for the next daemon.
	if _, err := sv.Stop(ctx, rec.ID, store.ReasonDeleted); err != nil {
		t.Fatal(err)
	}
}
