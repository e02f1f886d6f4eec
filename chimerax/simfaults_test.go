//go:build linux

package chimerax_test

// Tests of the supervisor against the simulator's faults on request (a
// command that crashes ChimeraX, hangs it, is slow or leaks memory), and of
// the REST client against each ChimeraX release the simulator emulates.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/store"
)

// A command that makes ChimeraX die as an unhandled Python exception does
// ends the session failed, crashed, with the exit code, within a second.
func TestSimFaultCrashMidCommand(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil, "CHIMERAX_SIM_CRASH_ON=color")
	rec := mustCreate(t, sv, "pept.pdb")
	if res, err := sv.Command(ctx, rec.ID, "view"); err != nil || !res.OK() {
		t.Fatalf("view before the crash = %+v, %v", res, err)
	}
	begin := time.Now()
	if _, err := sv.Command(ctx, rec.ID, "color red"); !errors.Is(err, chimerax.ErrUnavailable) {
		t.Errorf("Command(color red) on a child that dies of it = %v, want ErrUnavailable", err)
	}
	var got chimerax.Info
	chimeraxtest.WaitFor(t, time.Second, "the session failed", func() bool {
		got, _ = sv.Session(ctx, rec.ID)
		return got.State == store.StateFailed
	})
	t.Logf("failed %v after the command was sent", time.Since(begin).Round(time.Millisecond))
	if got.TerminationReason != store.ReasonCrashed || !strings.Contains(got.Error, "exit code 70") {
		t.Errorf("session ended %q with error %q, want crashed and exit code 70 in the error", got.TerminationReason, got.Error)
	}
	if got.Process == nil || got.Process.ExitCode == nil || *got.Process.ExitCode != 70 {
		t.Errorf("process record %+v, want exit code 70", got.Process)
	}
	if !strings.Contains(strings.Join(got.Process.LastOutput, "\n"), "CHIMERAX_SIM_CRASH_ON") {
		t.Errorf("last output %q lacks the traceback", got.Process.LastOutput)
	}
}

// A command that hangs ChimeraX answers the client within the command
// timeout (and the probe that follows), with an error that says so; later
// commands wait behind it and time out too; the session can still be ended.
func TestSimFaultHungCommand(t *testing.T) {
	ctx := context.Background()
	const timeout = 500 * time.Millisecond
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.CommandTimeout = timeout
		c.StopGrace = 300 * time.Millisecond // the child is stuck: it reads no exit
	}, "CHIMERAX_SIM_HANG_ON=turn")
	rec := mustCreate(t, sv, "pept.pdb")
	// The command timeout, then at most a 2 s probe of whether ChimeraX
	// answers again, then slack for a loaded machine.
	const bound = timeout + 2*time.Second + time.Second
	for _, line := range []string{"turn y 30", "view"} {
		begin := time.Now()
		_, err := sv.Command(ctx, rec.ID, line)
		elapsed := time.Since(begin)
		if !errors.Is(err, chimerax.ErrCommandTimeout) || !strings.Contains(err.Error(), "no answer within 500ms") {
			t.Errorf("Command(%q) behind a hung ChimeraX = %v, want ErrCommandTimeout naming the timeout", line, err)
		}
		if elapsed < timeout || elapsed > bound {
			t.Errorf("Command(%q) answered after %v, want between %v and %v", line, elapsed, timeout, bound)
		}
	}
	if got, _ := sv.Session(ctx, rec.ID); got.State != store.StateReady {
		t.Errorf("a hung session is %s, want still ready until the health check or a stop", got.State)
	}
	ended, err := sv.Stop(ctx, rec.ID, store.ReasonDeleted)
	if err != nil || ended.State != store.StateTerminated {
		t.Errorf("Stop of the hung session = %s, %v", ended.State, err)
	}
}

// A slow command within the timeout answers; one slower than the timeout
// gives ErrCommandTimeout, and the session answers again once it is done.
func TestSimFaultSlowCommand(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) { c.CommandTimeout = time.Second },
		"CHIMERAX_SIM_SLOW=400ms", "CHIMERAX_SIM_SLOW_ON=info")
	rec := mustCreate(t, sv, "pept.pdb")
	begin := time.Now()
	if res, err := sv.Command(ctx, rec.ID, "info models"); err != nil || !res.OK() {
		t.Fatalf("info models = %+v, %v", res, err)
	}
	if d := time.Since(begin); d < 400*time.Millisecond {
		t.Errorf("info models took %v, want at least the 400ms it is slowed by", d)
	}
	begin = time.Now()
	if _, err := sv.Command(ctx, rec.ID, "view"); err != nil || time.Since(begin) >= 400*time.Millisecond {
		t.Errorf("view took %v (%v), want it not slowed", time.Since(begin), err)
	}
	// Three slow commands in one line: 1.2 s, over the timeout.
	if _, err := sv.Command(ctx, rec.ID, "info; info; info"); !errors.Is(err, chimerax.ErrCommandTimeout) {
		t.Errorf("1.2 s of commands with a 1 s timeout = %v, want ErrCommandTimeout", err)
	}
	chimeraxtest.WaitFor(t, 5*time.Second, "the session answers again", func() bool {
		res, err := sv.Command(ctx, rec.ID, "view")
		return err == nil && res.OK()
	})
}

// A command that leaks memory shows in the session's resident memory.
func TestSimFaultLeak(t *testing.T) {
	ctx := context.Background()
	const leak = 32 << 20
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil, "CHIMERAX_SIM_LEAK=33554432", "CHIMERAX_SIM_LEAK_ON=measure")
	rec := mustCreate(t, sv, "pept.pdb")
	rss := func() int64 {
		stats, ok := sv.SessionStats(rec.ID)
		if !ok || stats.RSSBytes == 0 {
			t.Skip("no resident memory figures here")
		}
		return stats.RSSBytes
	}
	before := rss()
	for range 4 {
		if res, err := sv.Command(ctx, rec.ID, "measure center #1"); err != nil || !res.OK() {
			t.Fatalf("measure center = %+v, %v", res, err)
		}
	}
	// Memory figures are cached for a second.
	chimeraxtest.WaitFor(t, 5*time.Second, "resident memory grown by the 4 leaks", func() bool {
		return rss()-before >= 4*leak*9/10
	})
}

// chimerad's REST client works against each release the simulator
// emulates, whose REST channels differ (the Content-Type of JSON replies,
// models in python values, rest start's log option).
func TestClientAgainstEachVersion(t *testing.T) {
	pept := mustAbs(t, "../testdata/pept.pdb")
	for _, tt := range []struct{ version, pythonModel string }{
		{"1.8", `[null]`},
		{"1.9", `[null]`},
		{"1.10", `[null]`},
		{"1.11", `["pept.pdb #1"]`},
	} {
		t.Run(tt.version, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c := startSimulatorClient(t, "--chimerax-version", tt.version)
			res, err := c.Run(ctx, "version")
			if err != nil || !res.OK() || !strings.HasPrefix(strings.Join(res.Log.Note, ""), "UCSF ChimeraX version: "+tt.version+" (") {
				t.Fatalf("version = %+v, %v", res, err)
			}
			res, err = c.Run(ctx, "open "+pept)
			if err != nil || !res.OK() || len(res.JSONValues) != 1 || string(res.JSONValues[0]) != `{"model specs": ["#1"]}` {
				t.Fatalf("open = %+v, %v", res, err)
			}
			if got, _ := json.Marshal(res.PythonValues); string(got) != "["+tt.pythonModel+"]" {
				t.Errorf("open's python values = %s, want [%s]", got, tt.pythonModel)
			}
			res, err = c.Run(ctx, "color nosuchcolor")
			if err != nil || res.OK() || res.Error == nil || res.Error.Type != "UserError" || !strings.Contains(res.Message(), "nosuchcolor") {
				t.Errorf("color nosuchcolor = %+v, %v; want a UserError naming the colour", res, err)
			}
			res, err = c.Run(ctx, "color bychain; info residues :1")
			if err != nil || !res.OK() || strings.Join(res.Log.Note, "") != "residue id /E:1 name ASP index 0\n" {
				t.Errorf("color bychain; info residues :1 = %+v, %v", res, err)
			}
		})
	}
}

// The supervisor runs sessions on each emulated release.
func TestSupervisorOnEachVersion(t *testing.T) {
	for _, version := range []string{"1.8", "1.9", "1.10", "1.11"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			sv, _ := chimeraxtest.MustStartSupervisor(t, nil, "CHIMERAX_SIM_VERSION="+version)
			rec := mustCreate(t, sv, "pept.pdb")
			res, err := sv.Command(context.Background(), rec.ID, "color red; info models")
			if err != nil || !res.OK() || !strings.Contains(strings.Join(res.Log.Note, ""), "model id #1 type AtomicStructure") {
				t.Errorf("color red; info models on %s = %+v, %v", version, res, err)
			}
		})
	}
}

// startSimulatorClient starts the simulator (this test binary) as chimerad
// starts ChimeraX, with extra options first, and returns a client of its
// REST server. The process is killed when the test ends.
func startSimulatorClient(t *testing.T, options ...string) *chimerax.Client {
	t.Helper()
	args := append(options, "--nogui", "--offscreen", "--nocolor", "--cmd", chimerax.RESTCommand)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), chimeraxtest.BeSimulator+"=1", "HOME="+t.TempDir())
	cmd.Dir = t.TempDir()
	stdin, err := cmd.StdinPipe() // ChimeraX ends when its stdin does
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	port := make(chan string, 1)
	go func() {
		line := regexp.MustCompile(`^(?:cmd> )*REST server started on host 127\.0\.0\.1 port (\d+)$`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := line.FindStringSubmatch(sc.Text()); m != nil {
				port <- m[1]
				break
			}
		}
		close(port)
		for sc.Scan() { // keep draining, as chimerad does
		}
	}()
	var addr string
	select {
	case p, ok := <-port:
		if !ok {
			t.Fatal("the simulator exited without a port line")
		}
		addr = "127.0.0.1:" + p
	case <-time.After(20 * time.Second):
		t.Fatal("no port line within 20 s")
	}
	c := chimerax.NewClient(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
	t.Cleanup(c.Close)
	return c
}
