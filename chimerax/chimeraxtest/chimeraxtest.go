// Package chimeraxtest is the test harness shared by the tests of chimerax,
// server and cmd: the test binary impersonates the ChimeraX simulator and
// the per-session shim (as src/os/exec/exec_test.go lets its binary be a
// helper process), and MustStartSupervisor runs a real supervisor over a
// real store in a temporary data dir, checking at cleanup that no child
// and no session file is left behind.
package chimeraxtest

import (
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/chimerax/sim"
	"github.com/chimerad/chimerad/store"
)

// Environment variables that make the test binary a child instead of a
// test run.
const (
	// BeSimulator: run the ChimeraX simulator.
	BeSimulator = "CHIMERAD_TEST_BE_SIMULATOR"
	// BeShim: run a session's shim.
	BeShim = "CHIMERAD_TEST_BE_SHIM"
)

// Main is a TestMain: in a child that a test started as the simulator or a
// shim it runs that and exits; otherwise it runs the tests.
func Main(m *testing.M) {
	switch {
	case os.Getenv(BeShim) == "1":
		os.Exit(process.ShimMain(os.Args[1:], os.Stdout, os.Stderr))
	case os.Getenv(BeSimulator) == "1":
		os.Exit(sim.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	// Children are this test binary: under -race, each would sleep a second
	// at exit waiting for late race reports; they have none to wait for.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// Engine is the simulator, run by this test binary, with knobs (the
// simulator's NAME=value settings).
func Engine(knobs ...string) chimerax.Engine {
	return chimerax.Engine{
		Name: chimerax.EngineSimulator,
		Path: os.Args[0],
		Env:  append([]string{BeSimulator + "=1"}, knobs...),
	}
}

// Config is chimerax.DefaultConfig with this test binary as the shim.
func Config(dir string) chimerax.Config {
	cfg := chimerax.DefaultConfig(dir)
	cfg.Shim = []string{os.Args[0]}
	cfg.ShimEnv = []string{BeShim + "=1"}
	return cfg
}

// MustStartSupervisor opens a store and a supervisor running the simulator
// with the given knobs in a temporary data dir, with start, stop and
// command timeouts fit for tests, then tune's changes. At cleanup it
// closes both and fails the test if any child is left running, any file is
// left in the sessions directory, or the store does not check.
func MustStartSupervisor(tb testing.TB, tune func(*chimerax.Config), knobs ...string) (*chimerax.Supervisor, *store.DB) {
	tb.Helper()
	dir := tb.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config(dir)
	cfg.StartTimeout = 20 * time.Second
	cfg.StopGrace = 2 * time.Second
	cfg.CommandTimeout = 10 * time.Second
	if tune != nil {
		tune(&cfg)
	}
	sv := chimerax.NewSupervisor(db, Engine(knobs...), cfg)
	if err := sv.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := sv.Close(ctx); err != nil {
			tb.Error(err)
		}
		if pids := Children(dir); len(pids) > 0 {
			tb.Errorf("children left running after Close: %v", pids)
		}
		if left, _ := os.ReadDir(filepath.Join(dir, "sessions")); len(left) > 0 {
			tb.Errorf("session dirs left after Close: %d", len(left))
		}
		if err := db.Check(); err != nil {
			tb.Error(err)
		}
		db.Close()
	})
	return sv, db
}

// Children returns the pids of the session children running for data
// dir dataDir, by session id: every process working in a session
// directory and carrying that session's id, as Reconcile finds them.
func Children(dataDir string) map[string][]int {
	return process.FindChildren(filepath.Join(dataDir, "sessions"))
}

// Sandboxable reports whether this kernel lets children be sandboxed.
func Sandboxable() bool { return process.ProbeSandbox() == nil }

// WaitFor polls cond until it holds, failing the test after d.
func WaitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: still not %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// PDBMirror is a local stand-in for a PDB archive, so that tests never
// reach the internet: it serves testdata/<id>.cif gzip'd as
// /<mid>/<id>.cif.gz, as the wwPDB archives lay out their entries, counts
// requests, and answers 503 while Down is set.
type PDBMirror struct {
	*httptest.Server
	Requests atomic.Int32
	Down     atomic.Bool
}

// StartPDBMirror serves the .cif files in dir (a testdata directory) as a
// PDB mirror. Close it when done.
func StartPDBMirror(dir string) *PDBMirror {
	m := &PDBMirror{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Requests.Add(1)
		if m.Down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		id := strings.TrimSuffix(path.Base(r.URL.Path), ".cif.gz")
		b, err := os.ReadFile(filepath.Join(dir, id+".cif"))
		if len(id) != 4 || path.Dir(r.URL.Path) != "/"+id[1:3] || err != nil {
			http.NotFound(w, r)
			return
		}
		zw := gzip.NewWriter(w)
		zw.Write(b)
		zw.Close()
	}))
	return m
}

// Template is the mirror's URL template for pdb.mirrors and
// structure.NewFetcher.
func (m *PDBMirror) Template() string { return m.URL + "/{mid}/{id}.cif.gz" }

// Clock is a clock a test moves by hand, safe to read from the
// supervisor's goroutines: pass its Now to Supervisor.SetClock.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a Clock at the current time.
func NewClock() *Clock {
	c := &Clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
