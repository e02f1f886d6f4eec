//go:build linux

package chimerax_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/store"
)

// Issue 8's benchmarks; docs/performance.md gives the commands and figures.

// bareChild is the simulator started the bare way: fork/exec with
// ChimeraX's arguments, stdout read up to the port line.
type bareChild struct {
	cmd   *exec.Cmd
	stdin io.Closer
	base  string
	dir   string
}

var portRE = regexp.MustCompile(`REST server started on host 127\.0\.0\.1 port (\d+)`)

func startBare(tb testing.TB) *bareChild {
	engine := chimeraxtest.Engine()
	dir := tb.TempDir()
	cmd := exec.Command(engine.Path, "--nogui", "--offscreen", "--nocolor", "--cmd", chimerax.RESTCommand)
	cmd.Env = append(os.Environ(), append(engine.Env, "HOME="+dir)...)
	cmd.Dir = dir
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var p string
	for sc.Scan() {
		if m := portRE.FindStringSubmatch(sc.Text()); m != nil {
			p = m[1]
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	return &bareChild{cmd: cmd, stdin: stdin, base: "http://127.0.0.1:" + p, dir: dir}
}

func (c *bareChild) run(tb testing.TB, command string) {
	resp, err := http.Get(c.base + "/run?command=" + url.QueryEscape(command))
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("%s: %s", command, resp.Status)
	}
}

func (c *bareChild) stop() {
	c.stdin.Close()
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// copyTestdata copies a testdata file to dir/name and returns its path.
func copyTestdata(tb testing.TB, file, dir string) string {
	b, err := os.ReadFile(filepath.Join("..", "testdata", file))
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, "structure"+filepath.Ext(file))
	if err := os.WriteFile(p, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

const benchFile = "1hpv.pdb"

// BenchmarkCreateOpen measures create → ready with a structure (targets
// (a) and (b) of issue 8), each against a baseline of the same run:
//
//   - bare: a bare simulator start (as BenchmarkStartReady/bare) and the
//     open of the same file;
//   - supervisor, supervisor-sandboxed: Create with the file uploaded and
//     Wait, no pool, with chimerax.sandbox off and on (shim and init);
//   - bare-open: the open alone, in an already started bare child that
//     has opened it before; bare-first-open: the first open in a freshly
//     started bare child, as a pool child's is;
//   - pool: Create taking a warm pool child (refilled outside the timer).
func BenchmarkCreateOpen(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			c := startBare(b)
			c.run(b, "open "+copyTestdata(b, benchFile, c.dir))
			b.StopTimer()
			c.stop()
			b.StartTimer()
		}
	})
	b.Run("supervisor", func(b *testing.B) { benchmarkCreateOpen(b, chimerax.SandboxOff, 0) })
	b.Run("supervisor-sandboxed", func(b *testing.B) {
		if err := process.ProbeSandbox(); err != nil {
			b.Skip(err)
		}
		benchmarkCreateOpen(b, chimerax.SandboxRequired, 0)
	})
	b.Run("bare-open", func(b *testing.B) {
		c := startBare(b)
		defer c.stop()
		path := copyTestdata(b, benchFile, c.dir)
		for b.Loop() {
			c.run(b, "open "+path)
			b.StopTimer()
			c.run(b, "close")
			b.StartTimer()
		}
	})
	b.Run("bare-first-open", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			c := startBare(b)
			c.run(b, "version") // as a pool child has answered once
			path := copyTestdata(b, benchFile, c.dir)
			b.StartTimer()
			c.run(b, "open "+path)
			b.StopTimer()
			c.stop()
			b.StartTimer()
		}
	})
	b.Run("pool", func(b *testing.B) { benchmarkCreateOpen(b, chimerax.SandboxOff, 1) })
	b.Run("pool-sandboxed", func(b *testing.B) {
		if err := process.ProbeSandbox(); err != nil {
			b.Skip(err)
		}
		benchmarkCreateOpen(b, chimerax.SandboxRequired, 1)
	})
}

func benchmarkCreateOpen(b *testing.B, sandbox string, poolSize int) {
	sv, _ := chimeraxtest.MustStartSupervisor(b, func(c *chimerax.Config) {
		c.MaxSessionsPerUser = 0
		c.Sandbox = sandbox
		c.PoolSize = poolSize
		c.SweepInterval = time.Hour
	})
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		up := mustUpload(b, benchFile)
		if poolSize > 0 {
			chimeraxtest.WaitFor(b, 20*time.Second, "pool refilled", func() bool { return sv.PoolReady() == poolSize })
		}
		b.StartTimer()
		rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "bench", Upload: up, Wait: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if rec.FromPool != (poolSize > 0) {
			b.Fatalf("from_pool = %v with pool size %d", rec.FromPool, poolSize)
		}
		if _, err := sv.Stop(ctx, rec.ID, store.ReasonDeleted); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// rssBytes is this process's resident set size, from /proc/self/statm.
func rssBytes(tb testing.TB) float64 {
	runtime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Skip(err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize())
}

// BenchmarkLiveSessions starts CHIMERAD_BENCH_SESSIONS (default 500) live
// simulated sessions and reports the daemon's resident memory before them
// and its growth per session (target (d)). The children are processes of
// their own: the daemon's RSS excludes them. Run it with -benchtime 1x.
func BenchmarkLiveSessions(b *testing.B) {
	n := 500
	if s := os.Getenv("CHIMERAD_BENCH_SESSIONS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for b.Loop() {
		b.StopTimer()
		sv, _ := chimeraxtest.MustStartSupervisor(b, func(c *chimerax.Config) {
			c.MaxSessions, c.MaxSessionsPerUser = 0, 0
			c.Sandbox = chimerax.SandboxOff
			c.SweepInterval = time.Hour
			c.HealthInterval = 0
		})
		ctx := context.Background()
		before := rssBytes(b)
		b.StartTimer()
		var wg sync.WaitGroup
		ids := make(chan string, n)
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < n; i += 8 {
					rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: fmt.Sprintf("u%d", i%50), Wait: true})
					if err != nil {
						b.Error(err)
						return
					}
					ids <- rec.ID
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		after := rssBytes(b)
		b.ReportMetric(before/(1<<20), "MiB-rss-before")
		b.ReportMetric((after-before)/float64(n)/1024, "KiB-rss/session")
		start := time.Now()
		ended := sv.Sweep()
		b.ReportMetric(float64(time.Since(start).Microseconds()), "µs-sweep")
		if len(ended) != 0 {
			b.Errorf("sweep ended %d", len(ended))
		}
		close(ids)
		var stops sync.WaitGroup
		for id := range ids {
			stops.Go(func() { sv.Stop(ctx, id, store.ReasonDeleted) })
		}
		stops.Wait()
		b.StartTimer()
	}
}

// fillRecords stores n ended sessions of 100 users, as ten thousand days of
// use leave them before the retention purges them.
func fillRecords(tb testing.TB, db *store.DB, n int) {
	ctx := context.Background()
	t0 := time.Now().UTC().Add(-time.Hour)
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		rec := &store.Session{
			ID: uuid.NewString(), Owner: fmt.Sprintf("u%d", i%100), Name: "bench", State: store.StateTerminated,
			Engine: "simulator", Structure: store.Structure{Source: store.SourcePDB, PDBID: "1hpv", Format: "mmcif"},
			CreatedAt: at, ReadyAt: at, LastActivityAt: at, TerminatedAt: at.Add(time.Second),
			TerminationReason: store.ReasonDeleted,
			Stats:             &store.SessionStats{Commands: 10, CPUSeconds: 1.5},
		}
		if err := db.CreateSession(ctx, rec); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkList measures one page of the session list (the API's default
// limit, 100) with 10,000 records stored: an admin's, newest first, and one
// user's (1 record in 100 theirs).
func BenchmarkList(b *testing.B) {
	sv, db := chimeraxtest.MustStartSupervisor(b, func(c *chimerax.Config) { c.SweepInterval = time.Hour })
	fillRecords(b, db, 10000)
	ctx := context.Background()
	for _, f := range []struct {
		name string
		f    store.SessionFilter
	}{
		{"admin", store.SessionFilter{Limit: 100}},
		{"user", store.SessionFilter{Owner: "u7", Limit: 100}},
	} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got, _, err := sv.Sessions(ctx, f.f); err != nil || len(got) != 100 {
					b.Fatalf("Sessions = %d, %v", len(got), err)
				}
			}
		})
	}
}

// BenchmarkDaemonStart measures the supervisor's part of a daemon start
// with 10,000 stored records (target (e)): open the store, reconcile,
// start the sweeper and flusher. Closing is outside the timer.
func BenchmarkDaemonStart(b *testing.B) {
	dir := b.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	fillRecords(b, db, 10000)
	db.Close()
	ctx := context.Background()
	for b.Loop() {
		db, err := store.Open(dir, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		sv := chimerax.NewSupervisor(db, chimeraxtest.Engine(), chimeraxtest.Config(dir))
		if err := sv.Open(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		sv.Close(ctx)
		db.Close()
		b.StartTimer()
	}
}
