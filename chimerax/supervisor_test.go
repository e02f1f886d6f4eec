//go:build linux

package chimerax_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/store"
)

func TestMain(m *testing.M) { chimeraxtest.Main(m) }

// mustUpload spools a testdata file as an upload.
func mustUpload(tb testing.TB, name string) *structure.Upload {
	tb.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	u, err := structure.SaveUpload(tb.TempDir(), name, f, 1<<30)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func TestStartReadyRunStop(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil)

	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Upload: mustUpload(t, "1hpv.pdb"), Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != store.StateReady || rec.ReadyAt.IsZero() {
		t.Fatalf("Create = state %q ready_at %v, want ready", rec.State, rec.ReadyAt)
	}
	if rec.Process == nil || rec.Process.PID <= 0 || rec.Process.Port <= 0 || rec.Process.StartTicks == 0 {
		t.Errorf("Create process = %+v, want pid, port and start time", rec.Process)
	}
	if rec.Structure.Format != "pdb" || rec.Structure.Filename != "1hpv.pdb" {
		t.Errorf("Create structure = %+v, want 1hpv.pdb, pdb", rec.Structure)
	}

	res, err := sv.RunUnchecked(ctx, rec.ID, "info models")
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || !strings.Contains(strings.Join(res.Log.Note, ""), "#1") {
		t.Errorf("info models = %+v, want a note naming model #1", res)
	}

	res, err = sv.RunUnchecked(ctx, rec.ID, "frobnicate now")
	if err != nil {
		t.Fatal(err)
	}
	if res.Error == nil || res.Error.Type != "UserError" || !strings.Contains(res.Error.Message, "Unknown command") {
		t.Errorf("Run(frobnicate) error = %+v, want UserError Unknown command", res.Error)
	}

	pid := rec.Process.PID
	dir := rec.Process.Dir
	ended, err := sv.Stop(ctx, rec.ID, store.ReasonDeleted)
	if err != nil {
		t.Fatal(err)
	}
	if ended.State != store.StateTerminated || ended.TerminationReason != store.ReasonDeleted {
		t.Errorf("Stop = %q/%q, want terminated/deleted", ended.State, ended.TerminationReason)
	}
	if ended.Process.ExitCode == nil || *ended.Process.ExitCode != 0 {
		t.Errorf("Stop exit = %v %q, want a graceful exit 0", ended.Process.ExitCode, ended.Process.Signal)
	}
	if processAlive(pid) {
		t.Errorf("pid %d still alive after Stop", pid)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("session dir after Stop: %v, want it gone", err)
	}
	again, err := sv.Stop(ctx, rec.ID, store.ReasonAdminKill)
	if err != nil || again.TerminationReason != store.ReasonDeleted {
		t.Errorf("second Stop = %q, %v, want the first reason kept", again.TerminationReason, err)
	}
}

func TestOpenEachFormat(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) { c.MaxSessionsPerUser = 0 },
		"CHIMERAX_SIM_FETCH_CACHE="+mustAbs(t, "../testdata"))
	for _, tc := range []struct {
		file, pdb, format string
	}{
		{file: "1hpv.pdb", format: "pdb"},
		{file: "1hpv.pdb.gz", format: "pdb"},
		{file: "3al1.cif", format: "mmcif"},
		{file: "ligs3d.sdf", format: "sdf"},
		{file: "small03.mol2", format: "mol2"},
		{pdb: "1hpv"},
		{pdb: "3AL1"},
	} {
		t.Run(tc.file+tc.pdb, func(t *testing.T) {
			req := chimerax.CreateRequest{Owner: "alice", PDBID: tc.pdb, Wait: true}
			if tc.file != "" {
				req.Upload = mustUpload(t, tc.file)
			}
			rec, err := sv.Create(ctx, req)
			if err != nil {
				t.Fatalf("Create(%s) = %v", tc.file+tc.pdb, err)
			}
			defer sv.Stop(ctx, rec.ID, store.ReasonDeleted)
			if rec.Structure.Format != tc.format {
				t.Errorf("format = %q, want %q", rec.Structure.Format, tc.format)
			}
			res, err := sv.RunUnchecked(ctx, rec.ID, "info models")
			if err != nil {
				t.Fatal(err)
			}
			if notes := strings.Join(res.Log.Note, ""); !strings.Contains(notes, "#1") {
				t.Errorf("info models after open = %q, want model #1", notes)
			}
		})
	}
}

func TestOpenFailed(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil, "CHIMERAX_SIM_FETCH_CACHE="+t.TempDir())
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", PDBID: "9zzz", Wait: true})
	if !errors.Is(err, chimerax.ErrOpenFailed) {
		t.Fatalf("Create(missing entry) = %v, want ErrOpenFailed", err)
	}
	if rec.State != store.StateFailed || rec.TerminationReason != store.ReasonOpenFailed || !strings.Contains(rec.Error, "9zzz") {
		t.Errorf("record = %q/%q %q, want failed/open_failed with ChimeraX's text", rec.State, rec.TerminationReason, rec.Error)
	}
	if rec.Process != nil && rec.Process.PID > 0 && processAlive(rec.Process.PID) {
		t.Errorf("child %d alive after a failed open", rec.Process.PID)
	}
}

func TestStartTimeout(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) { c.StartTimeout = 2 * time.Second },
		"CHIMERAX_SIM_NO_PORT=1")
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if !errors.Is(err, chimerax.ErrStartTimeout) {
		t.Fatalf("Create = %v, want ErrStartTimeout", err)
	}
	var se *chimerax.StartError
	if !errors.As(err, &se) || len(se.Output) == 0 {
		t.Errorf("error %v carries no output of the child", err)
	}
	if rec.State != store.StateFailed || rec.TerminationReason != store.ReasonStartFailed {
		t.Errorf("record = %q/%q, want failed/start_failed", rec.State, rec.TerminationReason)
	}
	if rec.Process == nil || len(rec.Process.LastOutput) == 0 {
		t.Errorf("record keeps no output of the child: %+v", rec.Process)
	}
}

func TestStartFailsWhenChildExits(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A "ChimeraX" that rejects the options exits 64 before any port line.
	engine := chimeraxtest.Engine()
	engine.Args = []string{"--no-such-option"}
	sv := chimerax.NewSupervisor(db, engine, chimeraxtest.Config(dir))
	defer sv.Close(ctx)
	_, err = sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if !errors.Is(err, chimerax.ErrStartFailed) || !strings.Contains(err.Error(), "exit code 64") {
		t.Errorf("Create = %v, want ErrStartFailed with exit code 64", err)
	}
}

func TestCrashNoticed(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil, "CHIMERAX_SIM_CRASH_AFTER=0")
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sv.RunUnchecked(ctx, rec.ID, "version"); !errors.Is(err, chimerax.ErrUnavailable) {
		t.Errorf("Run on a crashing child = %v, want ErrUnavailable", err)
	}
	var got chimerax.Info
	chimeraxtest.WaitFor(t, 2*time.Second, "recorded as crashed", func() bool {
		got, _ = sv.Session(ctx, rec.ID)
		return got.State == store.StateFailed
	})
	if got.TerminationReason != store.ReasonCrashed || got.Process.ExitCode == nil || *got.Process.ExitCode != 70 {
		t.Errorf("crashed record = %q exit %v, want crashed with exit code 70", got.TerminationReason, got.Process.ExitCode)
	}
}

func TestKilledChildNoticed(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil)
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := os.FindProcess(rec.Process.PID)
	p.Signal(os.Kill)
	var got chimerax.Info
	chimeraxtest.WaitFor(t, 2*time.Second, "recorded as crashed", func() bool {
		got, _ = sv.Session(ctx, rec.ID)
		return got.State == store.StateFailed
	})
	if got.TerminationReason != store.ReasonCrashed || got.Process.Signal != "killed" {
		t.Errorf("record = %q signal %q, want crashed by signal killed", got.TerminationReason, got.Process.Signal)
	}
}

func TestHungCommandAndStubbornChild(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.CommandTimeout = 300 * time.Millisecond
		c.StopGrace = 300 * time.Millisecond
	}, "CHIMERAX_SIM_HANG_ON=turn", "CHIMERAX_SIM_IGNORE_SIGTERM=1")
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sv.RunUnchecked(ctx, rec.ID, "turn y 30"); !errors.Is(err, chimerax.ErrCommandTimeout) {
		t.Fatalf("Run(hanging) = %v, want ErrCommandTimeout", err)
	}
	// The child is stuck in the command, so it reads no `exit`, and it
	// ignores SIGTERM: only SIGKILL ends it.
	ended, err := sv.Stop(ctx, rec.ID, store.ReasonDeleted)
	if err != nil {
		t.Fatal(err)
	}
	if ended.Process.Signal != "killed" {
		t.Errorf("stubborn child ended by %q (exit %v), want SIGKILL", ended.Process.Signal, ended.Process.ExitCode)
	}
	if processAlive(rec.Process.PID) {
		t.Errorf("pid %d alive after Stop", rec.Process.PID)
	}
}

func TestStdoutFloodDoesNotStall(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) { c.LogMaxBytes = 1 << 20 }, "CHIMERAX_SIM_FLOOD=20000000")
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sv.RunUnchecked(ctx, rec.ID, "version")
	if err != nil || !res.OK() {
		t.Fatalf("Run(version) after flood = %+v, %v", res, err)
	}
	var total int64
	for _, name := range []string{"chimerax.log", "chimerax.log.1"} {
		if fi, err := os.Stat(filepath.Join(rec.Process.Dir, name)); err == nil {
			total += fi.Size()
		}
	}
	if total == 0 || total > 2<<20 {
		t.Errorf("output logs hold %d bytes, want some, capped at 2 MiB", total)
	}
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.MaxSessions = 3
		c.MaxSessionsPerUser = 2
		c.QueueSize = 0 // refused at once: the queue has its own test
	})
	// A burst of concurrent creates never exceeds the limits.
	type result struct {
		owner string
		err   error
	}
	results := make(chan result)
	for i := range 6 {
		owner := []string{"alice", "bob"}[i%2]
		go func() {
			_, err := sv.Create(ctx, chimerax.CreateRequest{Owner: owner})
			results <- result{owner, err}
		}()
	}
	ok := map[string]int{}
	total := 0
	for range 6 {
		r := <-results
		switch {
		case r.err == nil:
			ok[r.owner]++
			total++
		case !errors.Is(r.err, chimerax.ErrLimit):
			t.Errorf("Create = %v, want success or ErrLimit", r.err)
		}
	}
	if total != 3 || ok["alice"] > 2 || ok["bob"] > 2 {
		t.Errorf("burst created %v (total %d), want 3 in all and at most 2 each", ok, total)
	}
}

// clock is a settable time source, safe for the supervisor's goroutines.

func TestSweepRules(t *testing.T) {
	ctx := context.Background()
	clk := chimeraxtest.NewClock()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.IdleTimeout = time.Hour
		c.BusyTimeout = 3 * time.Hour
		c.SweepInterval = 0 // no sweeper: the test sweeps by hand, on its own clock
		c.HealthInterval = 0
		c.MaxSessionsPerUser = 0
	}, "CHIMERAX_SIM_HANG_ON=turn")
	sv.SetClock(clk.Now)
	create := func() chimerax.Info {
		t.Helper()
		rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	idle, touched, busy := create(), create(), create()
	// A command that never returns keeps busy busy (the request is
	// abandoned by its context, but ChimeraX is still in it).
	busyCtx, cancelBusy := context.WithCancel(ctx)
	defer cancelBusy()
	go sv.RunUnchecked(busyCtx, busy.ID, "turn y 1")
	chimeraxtest.WaitFor(t, 5*time.Second, "busy", func() bool { return sv.Busy(busy.ID) })

	clk.Advance(50 * time.Minute)
	if _, err := sv.Touch(ctx, touched.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := sv.Session(ctx, touched.ID); !got.IdleExpiresAt.Equal(clk.Now().UTC().Add(time.Hour)) {
		t.Errorf("idle_expires_at after touch = %v, want now+1h", got.IdleExpiresAt)
	}
	clk.Advance(20 * time.Minute)
	if swept := sv.Sweep(); len(swept) != 1 || swept[0] != idle.ID {
		t.Fatalf("Sweep at 70m = %v, want only the idle session %s", swept, idle.ID)
	}
	chimeraxtest.WaitFor(t, 10*time.Second, "idle session ended", func() bool {
		rec, _ := sv.Session(ctx, idle.ID)
		return rec.State == store.StateTerminated && rec.TerminationReason == store.ReasonIdleTimeout
	})

	// Past the busy timeout, a command in flight protects no more.
	clk.Advance(3 * time.Hour)
	swept := sv.Sweep()
	if len(swept) != 2 {
		t.Fatalf("Sweep past busy timeout = %v, want the touched and the busy session", swept)
	}
	for _, id := range []string{touched.ID, busy.ID} {
		chimeraxtest.WaitFor(t, 10*time.Second, "ended for idleness", func() bool {
			rec, _ := sv.Session(ctx, id)
			return rec.TerminationReason == store.ReasonIdleTimeout
		})
	}
}

func TestSweepMaxLifetime(t *testing.T) {
	ctx := context.Background()
	clk := chimeraxtest.NewClock()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.MaxLifetime = 2 * time.Hour
		c.SweepInterval = 0 // no sweeper: the test sweeps by hand, on its own clock
		c.HealthInterval = 0
	})
	sv.SetClock(clk.Now)
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.MaxLifetimeExpiresAt; !got.Equal(rec.CreatedAt.Add(2 * time.Hour)) {
		t.Errorf("MaxLifetimeExpiresAt = %v, want created_at + 2h", got)
	}
	for range 3 { // active all along
		clk.Advance(50 * time.Minute)
		if _, err := sv.Touch(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		sv.Sweep()
	}
	chimeraxtest.WaitFor(t, 10*time.Second, "ended for its age", func() bool {
		got, _ := sv.Session(ctx, rec.ID)
		return got.State == store.StateTerminated && got.TerminationReason == store.ReasonMaxLifetime
	})
}

func TestUnresponsiveChildKilled(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.HealthInterval = 20 * time.Millisecond
		c.HealthTimeout = 300 * time.Millisecond
		c.StopGrace = 200 * time.Millisecond
		c.SweepInterval = 10 * time.Millisecond
	}, "CHIMERAX_SIM_HANG_ON=version") // the probe is what hangs
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	var got chimerax.Info
	chimeraxtest.WaitFor(t, 10*time.Second, "ended as unresponsive", func() bool {
		got, _ = sv.Session(ctx, rec.ID)
		return !got.State.Live()
	})
	if got.State != store.StateFailed || got.TerminationReason != store.ReasonUnresponsive {
		t.Errorf("hung child's session = %q/%q, want failed/unresponsive", got.State, got.TerminationReason)
	}
	if processAlive(rec.Process.PID) {
		t.Errorf("unresponsive child %d still alive", rec.Process.PID)
	}
}

func TestHealthySessionsSurviveProbes(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.HealthInterval = 10 * time.Millisecond
		c.HealthTimeout = 200 * time.Millisecond
		c.SweepInterval = 10 * time.Millisecond
	}, "CHIMERAX_SIM_SLOW=50ms")
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	// Commands and probes interleave for several health timeouts.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if _, err := sv.RunUnchecked(ctx, rec.ID, "view"); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := sv.Session(ctx, rec.ID); got.State != store.StateReady {
		t.Errorf("healthy session = %q/%q, want ready", got.State, got.TerminationReason)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sv := chimerax.NewSupervisor(db, chimeraxtest.Engine(), chimeraxtest.Config(dir))
	var ids []string
	for range 3 {
		rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID)
	}
	starting, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range append(ids, starting.ID) {
		rec, _ := db.Session(ctx, id)
		if rec.State.Live() || rec.TerminationReason != store.ReasonShutdown {
			t.Errorf("after Close %s = %q/%q, want ended with reason shutdown", id, rec.State, rec.TerminationReason)
		}
	}
	if pids := chimeraxtest.Children(dir); len(pids) > 0 {
		t.Errorf("children left: %v", pids)
	}
	if _, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice"}); !errors.Is(err, chimerax.ErrShuttingDown) {
		t.Errorf("Create after Close = %v, want ErrShuttingDown", err)
	}
}

// TestReconcileKillsSurvivors plays what a daemon killed with -9 leaves: a
// live record whose child still runs, and a record still starting whose
// child was never recorded. Both children are found and killed.
func TestReconcileKillsSurvivors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	survivor := func(rec *store.Session) *exec.Cmd {
		sdir := filepath.Join(dir, "sessions", rec.ID)
		os.MkdirAll(filepath.Join(sdir, "home"), 0o700)
		e := chimeraxtest.Engine()
		cmd := exec.Command(e.Path, "--nogui", "--offscreen", "--nocolor", "--cmd", chimerax.RESTCommand)
		cmd.Dir = sdir
		cmd.Env = append(os.Environ(), append(e.Env, "HOME="+sdir+"/home", process.SessionEnv+"="+rec.ID)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if _, err := cmd.StdinPipe(); err != nil { // held open: EOF would end it
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	newRec := func(state store.State) *store.Session {
		rec := &store.Session{ID: uuid.NewString(), Owner: "alice", State: state, Engine: "simulator",
			Structure: store.Structure{Source: store.SourceNone}}
		if err := db.CreateSession(ctx, rec); err != nil {
			t.Fatal(err)
		}
		return rec
	}

	ready := newRec(store.StateReady)
	readyCmd := survivor(ready)
	chimeraxtest.WaitFor(t, 5*time.Second, "survivor started", func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d/cwd", readyCmd.Process.Pid))
		return err == nil
	})
	ticks, err := process.StartTicks(readyCmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	db.UpdateSession(ctx, ready.ID, func(s *store.Session) error {
		s.Process = &store.Process{PID: readyCmd.Process.Pid, StartTicks: ticks}
		return nil
	})
	starting := newRec(store.StateStarting)
	startingCmd := survivor(starting)
	stray := filepath.Join(dir, "sessions", uuid.NewString())
	os.MkdirAll(stray, 0o700)

	sv := chimerax.NewSupervisor(db, chimeraxtest.Engine(), chimeraxtest.Config(dir))
	if err := sv.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer sv.Close(ctx)
	for _, rec := range []*store.Session{ready, starting} {
		got, _ := db.Session(ctx, rec.ID)
		if got.State != store.StateTerminated || got.TerminationReason != store.ReasonDaemonRestart {
			t.Errorf("after Reconcile %s = %q/%q, want terminated/daemon_restart", rec.State, got.State, got.TerminationReason)
		}
	}
	for _, cmd := range []*exec.Cmd{readyCmd, startingCmd} {
		cmd.Wait()
		if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("survivor %d ended by %v, want SIGKILL from Reconcile", cmd.Process.Pid, cmd.ProcessState)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "sessions")); len(left) != 0 {
		t.Errorf("Reconcile left %d session dirs", len(left))
	}
}

// TestAdoptAcrossRestart: with on_restart adopt, a supervisor that closes
// leaves its ready sessions running, and the next one re-attaches them.
// With a cgroup, the session's cgroup stays with its child across the
// restart and goes with it at the end.
func TestAdoptAcrossRestart(t *testing.T) {
	t.Run("no cgroup", func(t *testing.T) { testAdoptAcrossRestart(t, "") })
	t.Run("cgroup", func(t *testing.T) { testAdoptAcrossRestart(t, testCgroup(t)) })
}

func testAdoptAcrossRestart(t *testing.T, cgroup string) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg := chimeraxtest.Config(dir)
	cfg.OnRestart = chimerax.OnRestartAdopt
	cfg.StopGrace = time.Second
	if cgroup != "" {
		cfg.Cgroup = cgroup
	}

	first := chimerax.NewSupervisor(db, chimeraxtest.Engine(), cfg)
	if err := first.Open(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := first.Create(ctx, chimerax.CreateRequest{Owner: "alice", Upload: mustUpload(t, "1hpv.pdb"), Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !processAlive(rec.Process.PID) || !processAlive(rec.Process.ShimPID) {
		t.Fatalf("after Close in adopt mode: child alive %v, shim alive %v; want both",
			processAlive(rec.Process.PID), processAlive(rec.Process.ShimPID))
	}
	own := filepath.Join(cgroup, "session-"+rec.ID)
	if cgroup != "" && !strings.HasSuffix(cgroupOf(rec.Process.PID), "/session-"+rec.ID) {
		t.Errorf("left-running child's cgroup = %q, want %s", cgroupOf(rec.Process.PID), own)
	}

	second := chimerax.NewSupervisor(db, chimeraxtest.Engine(), cfg)
	if err := second.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer second.Close(ctx)
	got, _ := second.Session(ctx, rec.ID)
	if got.State != store.StateReady {
		t.Fatalf("adopted session = %q/%q, want ready", got.State, got.TerminationReason)
	}
	res, err := second.RunUnchecked(ctx, rec.ID, "info models")
	if err != nil || !strings.Contains(strings.Join(res.Log.Note, ""), "#1") {
		t.Fatalf("info models in the adopted session = %+v, %v; want the model opened before", res, err)
	}
	ended, err := second.Stop(ctx, rec.ID, store.ReasonDeleted)
	if err != nil || ended.State != store.StateTerminated {
		t.Fatalf("Stop adopted = %q, %v", ended.State, err)
	}
	chimeraxtest.WaitFor(t, 5*time.Second, "child and shim gone", func() bool {
		return !processAlive(rec.Process.PID) && !processAlive(rec.Process.ShimPID)
	})
	if _, err := os.Stat(own); cgroup != "" && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("adopted session's cgroup after Stop: %v, want it removed", err)
	}
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

func mustAbs(tb testing.TB, p string) string {
	tb.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		tb.Fatal(err)
	}
	return abs
}

// TestMemoryLimit: without a cgroup, the memory watch kills a child whose
// resident memory passes chimerax.memory_max, and the session ends
// out_of_memory, not crashed, directly and in the sandbox alike.
func TestMemoryLimit(t *testing.T) {
	for _, sandbox := range []string{chimerax.SandboxOff, chimerax.SandboxAuto} {
		t.Run(sandbox, func(t *testing.T) {
			ctx := context.Background()
			sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
				c.MemoryMax = 3 << 30
				c.Sandbox, c.Cgroup = sandbox, chimerax.CgroupOff
			}, "CHIMERAX_SIM_HOG_ON=surface")
			if l := sv.Limits(); l.Memory != "watch" {
				t.Fatalf("Limits() = %+v without cgroups, want memory by the watch", l)
			}
			rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sv.RunUnchecked(ctx, rec.ID, "surface"); !errors.Is(err, chimerax.ErrUnavailable) {
				t.Errorf("Run(surface) past the limit = %v, want ErrUnavailable", err)
			}
			var got chimerax.Info
			chimeraxtest.WaitFor(t, 10*time.Second, "ended", func() bool {
				got, _ = sv.Session(ctx, rec.ID)
				return !got.State.Live()
			})
			if got.State != store.StateFailed || got.TerminationReason != store.ReasonOutOfMemory || !strings.Contains(got.Error, "3 GiB") {
				t.Errorf("session over its memory limit = %q/%q (%s), want failed/out_of_memory naming the 3 GiB limit", got.State, got.TerminationReason, got.Error)
			}
		})
	}
	// A structure too big for the limit: the child dies in the create's open.
	t.Run("at open", func(t *testing.T) {
		sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) { c.MemoryMax, c.Cgroup = 3<<30, chimerax.CgroupOff }, "CHIMERAX_SIM_HOG_ON=open")
		rec, err := sv.Create(context.Background(), chimerax.CreateRequest{Owner: "alice", Upload: mustUpload(t, "pept.pdb"), Wait: true})
		if !errors.Is(err, chimerax.ErrOutOfMemory) || rec.State != store.StateFailed || rec.TerminationReason != store.ReasonOutOfMemory {
			t.Errorf("Create of a structure past the limit = %q/%q, %v; want failed/out_of_memory, ErrOutOfMemory", rec.State, rec.TerminationReason, err)
		}
	})
}

// openErr opens a supervisor on a fresh store in dir, tune applied to its
// config, and returns what Open said; both are closed again.
func openErr(t *testing.T, dir string, tune func(*chimerax.Config)) error {
	t.Helper()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg := chimeraxtest.Config(dir)
	if tune != nil {
		tune(&cfg)
	}
	sv := chimerax.NewSupervisor(db, chimeraxtest.Engine(), cfg)
	defer sv.Close(context.Background())
	return sv.Open(context.Background())
}

func TestOpenRefusesUnusableDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab$data")
	if err := openErr(t, dir, nil); !errors.Is(err, chimerax.ErrInvalid) || !strings.Contains(err.Error(), "lab$data") {
		t.Errorf("Open with a data dir holding $ = %v, want ErrInvalid naming it", err)
	}
}

// TestStoppedChildKilledAtOnce: a child that stops answering (SIGSTOP, as
// a hung process) is killed at once when health_timeout passes - not after
// the graceful steps a stopped process cannot honour - and its session's
// error says what happened and for how long.
func TestStoppedChildKilledAtOnce(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.HealthInterval = 100 * time.Millisecond
		c.HealthTimeout = time.Second
		c.StopGrace = 5 * time.Second
	})
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := syscall.Kill(-rec.Process.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-rec.Process.PID, syscall.SIGKILL)
	var got chimerax.Info
	chimeraxtest.WaitFor(t, 10*time.Second, "ended as unresponsive", func() bool {
		got, _ = sv.Session(ctx, rec.ID)
		return !got.State.Live()
	})
	took := time.Since(stopped)
	if got.State != store.StateFailed || got.TerminationReason != store.ReasonUnresponsive ||
		!strings.Contains(got.Error, "did not answer for") {
		t.Errorf("stopped child's session = %s/%s %q, want failed/unresponsive saying for how long", got.State, got.TerminationReason, got.Error)
	}
	if took > 3*time.Second { // health_timeout, a probe interval, a kill: not two 5 s graces
		t.Errorf("a stopped child took %v to end, want about health_timeout (1s)", took)
	}
}
