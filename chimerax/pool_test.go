//go:build linux

package chimerax_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/store"
)

func TestPoolHandsOutWarmChildren(t *testing.T) {
	ctx := context.Background()
	sv, db := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.PoolSize = 2
		c.MaxSessions = 3
		c.MaxSessionsPerUser = 0
		c.SweepInterval = time.Hour
		c.QueueSize = 0 // refused at once: the queue has its own test
	})
	chimeraxtest.WaitFor(t, 20*time.Second, "pool full", func() bool { return sv.PoolReady() == 2 })
	pooled := sv.PoolIDs()
	for _, id := range pooled {
		// Nothing of any user's yet, and no record.
		if _, err := db.Session(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("pool child %s has a record: %v", id, err)
		}
		entries, _ := os.ReadDir(filepath.Join(sv.Config().DataDir, "sessions", id))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "structure") {
				t.Errorf("pool child %s dir holds %s before hand-out", id, e.Name())
			}
		}
	}

	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Upload: mustUpload(t, "1hpv.pdb"), Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.FromPool || rec.State != store.StateReady || !slices.Contains(pooled, rec.ID) {
		t.Fatalf("Create = from_pool %v, state %q, id %s; want a ready session with a pool child's id %v", rec.FromPool, rec.State, rec.ID, pooled)
	}
	res, err := sv.RunUnchecked(ctx, rec.ID, "info models")
	if err != nil || !res.OK() {
		t.Fatalf("info models on a pool session = %+v, %v", res, err)
	}

	// max_sessions 3: one session and two pool children, then two sessions
	// and one, then three and none; the fourth create is refused.
	chimeraxtest.WaitFor(t, 20*time.Second, "pool refilled to 2", func() bool { return sv.PoolReady() == 2 })
	for range 2 {
		r, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "bob", Wait: true})
		if err != nil || !r.FromPool {
			t.Fatalf("Create = from_pool %v, %v; want from the pool", r.FromPool, err)
		}
	}
	if n := sv.PoolReady(); n != 0 {
		t.Errorf("pool at max_sessions = %d children, want 0", n)
	}
	if _, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "carol", Wait: true}); !errors.Is(err, chimerax.ErrLimit) {
		t.Errorf("Create at max_sessions = %v, want ErrLimit", err)
	}
	if _, err := sv.Stop(ctx, rec.ID, store.ReasonDeleted); err != nil {
		t.Fatal(err)
	}
	chimeraxtest.WaitFor(t, 20*time.Second, "pool refilled after a stop", func() bool { return sv.PoolReady() == 1 })
}

func TestPoolRecyclesOldChildren(t *testing.T) {
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.PoolSize = 1
		c.PoolMaxAge = time.Nanosecond
		c.SweepInterval = time.Hour
	})
	chimeraxtest.WaitFor(t, 20*time.Second, "pool full", func() bool { return sv.PoolReady() == 1 })
	old := sv.PoolIDs()[0]
	sv.RecyclePool()
	if _, err := os.Stat(filepath.Join(sv.Config().DataDir, "sessions", old)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("recycled pool child's dir: %v, want it gone", err)
	}
	chimeraxtest.WaitFor(t, 20*time.Second, "a new pool child", func() bool {
		ids := sv.PoolIDs()
		return len(ids) == 1 && ids[0] != old
	})
}

func TestActivityFlushedInBatches(t *testing.T) {
	ctx := context.Background()
	var clock atomic.Pointer[time.Time]
	t0 := time.Now().UTC()
	clock.Store(&t0)
	sv, db := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.ActivityFlushInterval = time.Hour
		c.SweepInterval = 0 // no sweeper: the test sweeps by hand, on its own clock
	})
	sv.SetClock(func() time.Time { return *clock.Load() })
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Minute)
	clock.Store(&t1)
	touched, err := sv.Touch(ctx, rec.ID)
	if err != nil || !touched.LastActivityAt.Equal(t1) {
		t.Fatalf("Touch = %v, %v, want last activity %v", touched.LastActivityAt, err, t1)
	}
	if got, _ := sv.Session(ctx, rec.ID); !got.LastActivityAt.Equal(t1) || !got.IdleExpiresAt.Equal(t1.Add(30*time.Minute)) {
		t.Errorf("Session after Touch = activity %v, idle expiry %v; want %v and 30m later", got.LastActivityAt, got.IdleExpiresAt, t1)
	}
	if stored, _ := db.Session(ctx, rec.ID); stored.LastActivityAt.Equal(t1) {
		t.Errorf("Touch wrote the store; want memory only until the flush")
	}
	if err := sv.FlushActivity(ctx); err != nil {
		t.Fatal(err)
	}
	if stored, _ := db.Session(ctx, rec.ID); !stored.LastActivityAt.Equal(t1) {
		t.Errorf("stored activity after flush = %v, want %v", stored.LastActivityAt, t1)
	}
	t2 := t1.Add(time.Minute)
	clock.Store(&t2)
	sv.Touch(ctx, rec.ID)
	ended, err := sv.Stop(ctx, rec.ID, store.ReasonDeleted)
	if err != nil || !ended.LastActivityAt.Equal(t2) {
		t.Errorf("ended record's activity = %v, %v; want %v", ended.LastActivityAt, err, t2)
	}
}

func TestPoolOpenFailedIsRecorded(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.PoolSize = 1
		c.SweepInterval = time.Hour
	}, "CHIMERAX_SIM_FETCH_CACHE="+t.TempDir())
	chimeraxtest.WaitFor(t, 20*time.Second, "pool full", func() bool { return sv.PoolReady() == 1 })
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", PDBID: "9zzz", Wait: true})
	if !errors.Is(err, chimerax.ErrOpenFailed) {
		t.Fatalf("Create(missing entry) from the pool = %v, want ErrOpenFailed", err)
	}
	if !rec.FromPool || rec.State != store.StateFailed || rec.TerminationReason != store.ReasonOpenFailed {
		t.Errorf("record = from_pool %v, %q/%q; want from the pool, failed/open_failed", rec.FromPool, rec.State, rec.TerminationReason)
	}
	if rec.Process != nil && rec.Process.PID > 0 && processAlive(rec.Process.PID) {
		t.Errorf("pool child %d alive after a failed open", rec.Process.PID)
	}
	chimeraxtest.WaitFor(t, 20*time.Second, "pool refilled", func() bool { return sv.PoolReady() == 1 })
}

func TestPoolCreateWithoutWait(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.PoolSize = 1
		c.SweepInterval = time.Hour
	})
	chimeraxtest.WaitFor(t, 20*time.Second, "pool full", func() bool { return sv.PoolReady() == 1 })
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Upload: mustUpload(t, "1hpv.pdb")})
	if err != nil || !rec.FromPool || rec.State != store.StateStarting {
		t.Fatalf("Create without wait = from_pool %v, %q, %v; want a starting session from the pool", rec.FromPool, rec.State, err)
	}
	chimeraxtest.WaitFor(t, 20*time.Second, "ready", func() bool {
		got, err := sv.Session(ctx, rec.ID)
		return err == nil && got.State == store.StateReady && got.FromPool
	})
}

// TestPoolStoppedAtCloseWithAdopt: with on_restart adopt, ready sessions
// outlive Close, but pool children, which belong to nobody, do not (the
// helper's cleanup fails the test if any child or directory is left).
func TestPoolStoppedAtCloseWithAdopt(t *testing.T) {
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.PoolSize = 2
		c.OnRestart = chimerax.OnRestartAdopt
		c.SweepInterval = time.Hour
	})
	chimeraxtest.WaitFor(t, 20*time.Second, "pool full", func() bool { return sv.PoolReady() == 2 })
}

// TestReconcileKillsLeftPoolChild: a pool child of a daemon that died has
// no record; the next daemon finds it by its directory and session id,
// kills it and removes its directory.
func TestReconcileKillsLeftPoolChild(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := uuid.NewString()
	sdir := filepath.Join(dir, "sessions", id)
	os.MkdirAll(filepath.Join(sdir, "home"), 0o700)
	e := chimeraxtest.Engine()
	cmd := exec.Command(e.Path, "--nogui", "--offscreen", "--nocolor", "--cmd", chimerax.RESTCommand)
	cmd.Dir = sdir
	cmd.Env = append(os.Environ(), append(e.Env, "HOME="+sdir+"/home", process.SessionEnv+"="+id)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	chimeraxtest.WaitFor(t, 5*time.Second, "pool child found", func() bool {
		return len(chimeraxtest.Children(dir)[id]) > 0
	})

	sv := chimerax.NewSupervisor(db, chimeraxtest.Engine(), chimeraxtest.Config(dir))
	if err := sv.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer sv.Close(ctx)
	cmd.Wait()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("left pool child ended by %v, want SIGKILL from Reconcile", cmd.ProcessState)
	}
	if _, err := os.Stat(sdir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("left pool child's dir: %v, want it removed", err)
	}
}
