//go:build linux

package chimerax_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/store"
)

// recorder is an Observer that writes down what it is told.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) SessionCreated()              { r.add("created") }
func (r *recorder) SessionReady(d time.Duration) { r.add("ready %v", d > 0) }
func (r *recorder) SessionEnded(reason store.Reason, lifetime time.Duration) {
	r.add("ended %s %v", reason, lifetime > 0)
}
func (r *recorder) CommandDone(o chimerax.CommandOutcome, d time.Duration) {
	r.add("command %s %v", o, d > 0)
}

func (r *recorder) QueueWaited(outcome string, d time.Duration) { r.add("queue %s", outcome) }

func (r *recorder) Events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// TestObserverAndStats runs a session through its life and checks what
// the observer hears, the live stats, the load and the recorded stats.
func TestObserverAndStats(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil)
	rec := &recorder{}
	sv.Observer = rec // before any session: the start goroutines see it

	s, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Upload: mustUpload(t, "1hpv.pdb"), Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if load := sv.Load(); load.Sessions[store.StateReady] != 1 || load.Sessions[store.StateStarting] != 0 || load.RSSBytes < 1<<20 {
		t.Errorf("Load with one ready session = %+v, want ready 1 and some resident memory", load)
	}
	for _, cmd := range []string{"info models", "frobnicate now"} {
		if _, err := sv.RunUnchecked(ctx, s.ID, cmd); err != nil {
			t.Fatal(err)
		}
	}
	stats, ok := sv.SessionStats(s.ID)
	if !ok || stats.Commands != 2 || stats.RSSBytes < 1<<20 || stats.CPUSeconds < 0 {
		t.Errorf("SessionStats = %+v, %v; want 2 commands and some resident memory", stats, ok)
	}
	before := sv.Load().CPUSeconds

	ended, err := sv.Stop(ctx, s.ID, store.ReasonDeleted)
	if err != nil {
		t.Fatal(err)
	}
	if ended.Stats == nil || ended.Stats.Commands != 2 || ended.Stats.CPUSeconds <= 0 || ended.Stats.RSSBytes != 0 {
		t.Errorf("recorded stats = %+v, want 2 commands and the child's CPU time", ended.Stats)
	}
	if _, ok := sv.SessionStats(s.ID); ok {
		t.Errorf("SessionStats of an ended session ok, want not")
	}
	load := sv.Load()
	if load.Sessions[store.StateReady] != 0 || load.RSSBytes != 0 || load.CPUSeconds < before || load.CPUSeconds < ended.Stats.CPUSeconds {
		t.Errorf("Load after the end = %+v, want no sessions and CPU %v ≥ %v (never down)", load, load.CPUSeconds, before)
	}

	want := []string{"created", "ready true", "command ok true", "command error true", "ended deleted true"}
	if got := rec.Events(); !slices.Equal(got, want) {
		t.Errorf("observed %q, want %q", got, want)
	}
}

func TestObserverFailedStart(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil, "CHIMERAX_SIM_START_DELAY=bogus" /* exits 78 at start */)
	rec := &recorder{}
	sv.Observer = rec
	if _, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true}); err == nil {
		t.Fatal("Create with a child that exits at start succeeded")
	}
	want := []string{"created", "ended start_failed true"}
	if got := rec.Events(); !slices.Equal(got, want) {
		t.Errorf("observed %q, want %q", got, want)
	}
	if load := sv.Load(); load.CPUSeconds <= 0 {
		t.Errorf("Load after a failed start: CPU %v, want the dead child's time counted", load.CPUSeconds)
	}
}

func TestObserverCrash(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil, "CHIMERAX_SIM_CRASH_AFTER=0")
	rec := &recorder{}
	sv.Observer = rec
	s, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sv.RunUnchecked(ctx, s.ID, "info models"); err == nil {
		t.Fatal("Run on a child that crashes succeeded")
	}
	chimeraxtest.WaitFor(t, 10*time.Second, "ended crashed", func() bool { return len(rec.Events()) == 4 })
	// The command's failure and the crash race to be reported first.
	want := []string{"command failed true", "created", "ended crashed true", "ready true"}
	if got := rec.Events(); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("observed %q, want %q in any order", got, want)
	}
	got, _ := sv.Session(ctx, s.ID)
	if got.Stats == nil || got.Stats.Commands != 1 {
		t.Errorf("crashed session's stats = %+v, want 1 command", got.Stats)
	}
}

func TestLogs(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil)
	s, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	logs, err := sv.Logs(ctx, s.ID, chimerax.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if logs.Source != chimerax.LogSourceFile || logs.State != store.StateReady || logs.Cursor == "" ||
		!slices.ContainsFunc(logs.Lines, func(l string) bool { return strings.HasPrefix(l, "REST server started") }) {
		t.Errorf("Logs of a live session = %+v, want the REST line from the file", logs)
	}
	// ChimeraX logs its "Visit http://…" line just after the port line
	// that made the session ready: wait for it, or the check below races.
	chimeraxtest.WaitFor(t, 10*time.Second, "the Visit line logged", func() bool {
		l, err := sv.Logs(ctx, s.ID, chimerax.LogQuery{})
		return err == nil && strings.Contains(strings.Join(l.Lines, "\n"), "/cmdline.html")
	})
	redacted, err := sv.Logs(ctx, s.ID, chimerax.LogQuery{Redact: true})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(redacted.Lines, "\n")
	if !slices.Contains(redacted.Lines, "REST server started on host 127.0.0.1 port (hidden)") ||
		!strings.Contains(joined, "http://127.0.0.1:(hidden)/cmdline.html") ||
		strings.Contains(joined, strconv.Itoa(s.Process.Port)) || strings.Contains(joined, sv.Config().DataDir) {
		t.Errorf("redacted Logs = %q, want the port %d hidden everywhere and no path", redacted.Lines, s.Process.Port)
	}
	if _, err := sv.Logs(ctx, s.ID, chimerax.LogQuery{After: "nonsense"}); !errors.Is(err, chimerax.ErrInvalid) {
		t.Errorf("Logs(bad cursor) = %v, want ErrInvalid", err)
	}

	if _, err := sv.Stop(ctx, s.ID, store.ReasonDeleted); err != nil {
		t.Fatal(err)
	}
	logs, err = sv.Logs(ctx, s.ID, chimerax.LogQuery{After: logs.Cursor})
	if err != nil {
		t.Fatal(err)
	}
	if logs.Source != chimerax.LogSourceRecord || logs.State != store.StateTerminated || logs.Cursor != "" ||
		!slices.ContainsFunc(logs.Lines, func(l string) bool { return strings.HasPrefix(l, "REST server started") }) {
		t.Errorf("Logs of an ended session = %+v, want the record's last output", logs)
	}
	if _, err := sv.Logs(ctx, "6f1f5a56-0000-4000-8000-000000000000", chimerax.LogQuery{}); !errors.Is(err, chimerax.ErrNotFound) {
		t.Errorf("Logs(unknown) = %v, want ErrNotFound", err)
	}
}

// TestReady checks each readiness check, failing and passing, on a
// supervisor whose clock the test moves.
func TestReady(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg := chimeraxtest.Config(dir)
	cfg.StopGrace = 2 * time.Second
	cfg.MaxSessions = 1
	cfg.SweepInterval = time.Hour // the test's clock decides when it is late
	sv := chimerax.NewSupervisor(db, chimeraxtest.Engine(), cfg)
	var skew atomic.Int64
	sv.SetClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := sv.Close(cctx); err != nil {
			t.Error(err)
		}
		db.Close()
	})

	failing := func() []string {
		var names []string
		for _, c := range sv.Ready(ctx) {
			if !c.OK {
				names = append(names, c.Name+": "+c.Detail)
			}
		}
		return names
	}
	if got := failing(); len(got) != 1 || !strings.HasPrefix(got[0], "sweeper: not started") {
		t.Errorf("before Open, failing = %q, want the sweeper only", got)
	}
	if err := sv.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if got := failing(); len(got) != 0 {
		t.Errorf("after Open, failing = %q, want none", got)
	}

	s, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := failing(); len(got) != 1 || got[0] != "capacity: full: 1 of 1 live sessions" {
		t.Errorf("at max_sessions, failing = %q, want capacity", got)
	}
	if _, err := sv.Stop(ctx, s.ID, store.ReasonDeleted); err != nil {
		t.Fatal(err)
	}

	skew.Store(int64(3*time.Hour + time.Minute))
	if got := failing(); len(got) != 1 || !strings.HasPrefix(got[0], "sweeper: stalled: no sweep in 3h1m") {
		t.Errorf("3 intervals and a minute after Open, failing = %q, want the sweeper", got)
	}
	sv.Sweep() // what the sweeper does on a tick
	if got := failing(); len(got) != 0 {
		t.Errorf("after a sweep, failing = %q, want none", got)
	}

	broken := chimerax.NewSupervisor(db, chimerax.Engine{Name: chimerax.EngineChimeraX, Path: filepath.Join(dir, "no-chimerax")}, cfg)
	for _, c := range broken.Ready(ctx) {
		if c.Name == "engine" && c.OK {
			t.Errorf("engine check with a missing engine = %+v, want failing", c)
		}
	}
}
