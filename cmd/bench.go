package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"crypto/subtle"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/server"
	"github.com/chimerad/chimerad/store"
)

// benchOptions bound a run of chimerad bench: every part makes a fixed
// number of starts or requests.
type benchOptions struct {
	parts    string // which of a,b,c,d,e,f
	starts   int    // creates (and bare starts) timed in (a) and (b)
	requests int    // requests per round in (c)
	clients  int    // keep-alive connections in (c)
	rounds   int    // rounds per side in (c) and (e), interleaved
	commands int    // commands per round in (e)
	records  int    // other users' records in (d) and (f)
	sessions int    // live sessions in (f)
	keep     bool   // keep the temporary directory
	profile  string // write a CPU profile of the run there
	heap     string // write a heap profile with (f)'s sessions live there
}

// newBenchCommand is the hidden `chimerad bench`: issue 19's targets
// measured side by side with their baselines in one run, on loopback,
// with the simulator (this binary) as ChimeraX and the daemon's default
// configuration. docs/performance.md shows its output.
func newBenchCommand() *cobra.Command {
	var o benchOptions
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure chimerad's performance targets against their baselines",
		Long: `Measure, in one run and side by side, each performance target of
issue 19 and its baseline, and print a table: the figure, the baseline, the
ratio and the target. Everything runs on 127.0.0.1 with the built-in
simulator, in a temporary directory, in a bounded number of starts and
requests. The machine should be quiet: the figures are its own.`,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.parts, "parts", "a,b,c,d,e,f", "the parts to measure")
	f.IntVar(&o.starts, "starts", 20, "creates (and bare starts) per side in (a) and (b)")
	f.IntVar(&o.requests, "requests", 5000, "requests per round in (c)")
	f.IntVar(&o.clients, "clients", 32, "concurrent keep-alive connections in (c)")
	f.IntVar(&o.rounds, "rounds", 9, "rounds per side in (c) and (e), interleaved")
	f.IntVar(&o.commands, "commands", 100, "commands per round in (e)")
	f.IntVar(&o.records, "records", 10000, "other users' stored records in (d) and (f)")
	f.IntVar(&o.sessions, "sessions", 100, "live sessions in (f)")
	c.AddCommand(newBenchLoadCommand())
	f.BoolVar(&o.keep, "keep", false, "keep the temporary directory (its logs)")
	f.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the whole run (daemon and load alike) to this file")
	f.StringVar(&o.heap, "memprofile", "", "write a heap profile, taken while (f)'s sessions live, to this file")
	return c
}

// benchRow is one line of the table.
type benchRow struct {
	what            string
	value, baseline string
	ratio, target   string
	verdict         string
	err             error
}

// measured fills the ratio and the verdict from the numbers.
func (r *benchRow) measured(ratio, target float64, higherBetter bool, format string) {
	r.ratio = fmt.Sprintf(format, ratio)
	met := ratio <= target
	if higherBetter {
		met = ratio >= target
	}
	r.verdict = "met"
	if !met {
		r.verdict = "MISSED"
	}
}

func runBench(ctx context.Context, out io.Writer, o benchOptions) error {
	dir, err := os.MkdirTemp("", "chimerad-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(out, "directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	engine, _, err := chimerax.FindEngine("simulator")
	if err != nil {
		return err
	}
	if o.heap != "" {
		runtime.MemProfileRate = 512 // every allocation, nearly
	}
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	b := &bench{o: o, dir: dir, engine: engine, pdb: benchPDB()}
	fmt.Fprintf(out, "chimerad bench %s: %d CPUs, %s, load average %s\n", version(), runtime.NumCPU(), runtime.Version(), loadAverage())
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "part\tmeasure\tchimerad\tbaseline\tratio\ttarget\t")
	parts := []struct {
		name string
		run  func(context.Context) []benchRow
	}{
		{"a", b.createReady}, {"b", b.pooled}, {"c", b.reads},
		{"d", b.lists}, {"e", b.commands}, {"f", b.footprint},
	}
	failed := false
	for _, p := range parts {
		if !slices.Contains(strings.Split(o.parts, ","), p.name) {
			continue
		}
		for _, r := range p.run(ctx) {
			if r.err != nil {
				failed = true
				fmt.Fprintf(w, "(%s)\t%s\terror: %v\t\t\t\t\n", p.name, r.what, r.err)
				continue
			}
			fmt.Fprintf(w, "(%s)\t%s\t%s\t%s\t%s\t%s %s\t\n", p.name, r.what, r.value, r.baseline, r.ratio, r.target, r.verdict)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	w.Flush()
	fmt.Fprintf(out, "load average after: %s\n", loadAverage())
	if failed {
		return errors.New("bench: some parts failed")
	}
	return nil
}

// loadAverage is /proc/loadavg's first three fields, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// bench holds what the parts share.
type bench struct {
	o      benchOptions
	dir    string
	engine chimerax.Engine
	n      int    // daemons made, for their directories
	pdb    []byte // the structure opened in (a) and (b): benchPDB
}

// benchDaemon is a daemon as `serve` wires it, in this process: store,
// supervisor with its metrics, and the API on a loopback port.
type benchDaemon struct {
	db    *store.DB
	sv    *chimerax.Supervisor
	http  *http.Server
	url   string
	token string // alice's
	admin string // root's, an admin
	flush func() error
}

// daemon starts a daemon with the default configuration, the simulator
// as ChimeraX, no session caps, and tune's changes. Its log (info, JSON)
// goes to a file, as a daemon's stderr would.
func (b *bench) daemon(ctx context.Context, tune func(*Config)) (*benchDaemon, error) {
	b.n++
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(b.dir, fmt.Sprintf("daemon%d", b.n))
	cfg.Limits.MaxSessions, cfg.Limits.MaxSessionsPerUser = 0, 0
	if tune != nil {
		tune(&cfg)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(cfg.DataDir, "chimerad.log"))
	if err != nil {
		return nil, err
	}
	logw, flush := newLogBuffer(logFile, cfg.Log.FlushInterval) // as serve's
	log := newLogger(logw, cfg.Log)
	db, err := store.Open(cfg.DataDir, time.Second)
	if err != nil {
		return nil, err
	}
	d := &benchDaemon{db: db, flush: flush}
	d.sv = chimerax.NewSupervisor(db, b.engine, cfg.supervisorConfig(nil))
	d.sv.Logger = log
	metrics, err := server.NewMetrics(prometheus.NewRegistry(), d.sv)
	if err != nil {
		return nil, err
	}
	d.sv.Observer = metrics
	if err := d.sv.Open(ctx); err != nil {
		db.Close()
		return nil, err
	}
	scfg := cfg.serverConfig()
	scfg.SpoolDir = cfg.DataDir
	scfg.Metrics = metrics
	srv := server.New(scfg, d.sv, db, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.close()
		return nil, err
	}
	d.http, d.url = srv.HTTPServer(false), "http://"+ln.Addr().String()
	go server.Serve(d.http, srv.LimitListener(ln))
	if _, d.token, err = db.CreateUser(ctx, "alice", false); err == nil {
		_, d.admin, err = db.CreateUser(ctx, "root", true)
	}
	if err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *benchDaemon) close() {
	if d.http != nil {
		d.http.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d.sv.Close(ctx)
	d.db.Close()
	d.flush()
}

// upload spools a copy of the bench's structure, as a request would.
func (b *bench) upload() (*structure.Upload, error) {
	return structure.SaveUpload(b.dir, "bench.pdb", bytes.NewReader(b.pdb), 1<<30)
}

// benchPDB is a structure of 1,800 atoms (1hpv has 1,521), made up: the
// binary carries no test data.
func benchPDB() []byte {
	var buf bytes.Buffer
	buf.WriteString("HEADER    CHIMERAD BENCH                          06-DEC-26   0BEN\n")
	names := []struct{ name, elem string }{{"N", "N"}, {"CA", "C"}, {"C", "C"}, {"O", "O"}, {"CB", "C"}, {"CG", "C"}}
	residues := []string{"ALA", "GLY", "LEU", "SER", "VAL", "THR", "PRO", "ASP", "GLU", "LYS"}
	for i := range 1800 {
		res, a := i/len(names), names[i%len(names)]
		chain := 'A' + rune(res/150)
		x, y, z := 10*math.Cos(float64(i)/9), 10*math.Sin(float64(i)/9), float64(i)*0.05
		fmt.Fprintf(&buf, "ATOM  %5d %-4s %3s %c%4d    %8.3f%8.3f%8.3f%6.2f%6.2f          %2s\n",
			i+1, " "+a.name, residues[res%len(residues)], chain, res%150+1, x, y, z, 1.0, 20.0, a.elem)
	}
	buf.WriteString("END\n")
	return buf.Bytes()
}

// bareChild is the simulator started as a script would start ChimeraX:
// fork/exec with its arguments, stdout read up to the port line.
type bareChild struct {
	cmd   *exec.Cmd
	stdin io.Closer // held open: ChimeraX reads commands from it
	base  string
	dir   string
}

var benchPortLine = regexp.MustCompile(`REST server started on host 127\.0\.0\.1 port (\d+)`)

func (b *bench) startBare() (*bareChild, error) {
	dir, err := os.MkdirTemp(b.dir, "bare-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.engine.Path, b.engine.ChildArgs()...)
	cmd.Env = append(os.Environ(), append(b.engine.Env, "HOME="+dir)...)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(stdout)
	port := ""
	for port == "" && sc.Scan() {
		if m := benchPortLine.FindStringSubmatch(sc.Text()); m != nil {
			port = m[1]
		}
	}
	go io.Copy(io.Discard, stdout)
	c := &bareChild{cmd: cmd, stdin: stdin, base: "http://127.0.0.1:" + port, dir: dir}
	if port == "" {
		c.stop()
		return nil, errors.New("the simulator said no port")
	}
	return c, nil
}

// run sends one command to the child's REST port, on a new connection
// (ChimeraX closes each).
func (c *bareChild) run(command string) error { return runDirect(c.base, command) }

func runDirect(base, command string) error {
	resp, err := http.Get(base + "/run?command=" + url.QueryEscape(command))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", command, resp.Status)
	}
	var res struct{ Error any }
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("%s: %w", command, err)
	}
	if res.Error != nil {
		return fmt.Errorf("%s: %v", command, res.Error)
	}
	return nil
}

func (c *bareChild) stop() {
	c.stdin.Close()
	c.cmd.Process.Kill()
	c.cmd.Wait()
	os.RemoveAll(c.dir)
}

// samples are durations measured one by one.
type samples []time.Duration

func (s samples) median() time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return c[len(c)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// timeIt measures f once.
func timeIt(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// createReady is (a): create → ready with the structure uploaded, the
// default sandbox, no pool; against a bare simulator start and the open
// of the same file. The two alternate, start by start.
func (b *bench) createReady(ctx context.Context) []benchRow {
	row := benchRow{what: "create→ready, default sandbox, no pool (median)", target: "≤ 1.30×"}
	d, err := b.daemon(ctx, nil)
	if err != nil {
		row.err = err
		return []benchRow{row}
	}
	defer d.close()
	sandbox := "sandbox off"
	if d.sv.Sandboxed() {
		sandbox = "sandboxed"
	}
	var sv, bare samples
	for range b.o.starts {
		up, err := b.upload()
		if err != nil {
			row.err = err
			return []benchRow{row}
		}
		var rec chimerax.Info
		t, err := timeIt(func() error {
			rec, err = d.sv.Create(ctx, chimerax.CreateRequest{Owner: "bench", Upload: up, Wait: true})
			return err
		})
		if err != nil {
			row.err = err
			return []benchRow{row}
		}
		sv = append(sv, t)
		d.sv.Stop(ctx, rec.ID, store.ReasonDeleted)

		var c *bareChild
		t, err = timeIt(func() error {
			if c, err = b.startBare(); err != nil {
				return err
			}
			path := filepath.Join(c.dir, "structure.pdb")
			if err := os.WriteFile(path, b.pdb, 0o600); err != nil {
				return err
			}
			return c.run("open " + path)
		})
		if c != nil {
			c.stop()
		}
		if err != nil {
			row.err = err
			return []benchRow{row}
		}
		bare = append(bare, t)
	}
	row.what = fmt.Sprintf("create→ready, %s, no pool (median of %d)", sandbox, len(sv))
	row.value, row.baseline = ms(sv.median()), "bare spawn + open "+ms(bare.median())
	row.measured(float64(sv.median())/float64(bare.median()), 1.30, false, "%.2f×")
	return []benchRow{row}
}

// pooled is (b): create → ready taking a warm pool child (refilled
// between creates, outside the timer), against the first open in a bare
// child just started that has answered one `version` and has never
// opened that file (nor any other): what a pool child is.
func (b *bench) pooled(ctx context.Context) []benchRow {
	row := benchRow{target: "≤ +2 ms"}
	d, err := b.daemon(ctx, func(c *Config) { c.Pool.Size = 1 })
	if err != nil {
		row.err = err
		return []benchRow{row}
	}
	defer d.close()
	var sv, bare samples
	for range b.o.starts {
		up, err := b.upload()
		if err == nil {
			err = waitFor(ctx, 30*time.Second, func() bool { return d.sv.PoolReady() == 1 })
		}
		if err != nil {
			row.err = err
			return []benchRow{row}
		}
		var rec chimerax.Info
		t, err := timeIt(func() error {
			rec, err = d.sv.Create(ctx, chimerax.CreateRequest{Owner: "bench", Upload: up, Wait: true})
			return err
		})
		if err == nil && !rec.FromPool {
			err = errors.New("the create did not take the pool child")
		}
		if err != nil {
			row.err = err
			return []benchRow{row}
		}
		sv = append(sv, t)
		d.sv.Stop(ctx, rec.ID, store.ReasonDeleted)

		c, err := b.startBare()
		if err == nil {
			err = c.run("version")
		}
		if err != nil {
			row.err = err
			return []benchRow{row}
		}
		path := filepath.Join(c.dir, "structure.pdb")
		os.WriteFile(path, b.pdb, 0o600)
		t, err = timeIt(func() error { return c.run("open " + path) })
		c.stop()
		if err != nil {
			row.err = err
			return []benchRow{row}
		}
		bare = append(bare, t)
	}
	sandbox := "sandbox off"
	if d.sv.Sandboxed() {
		sandbox = "sandboxed"
	}
	row.what = fmt.Sprintf("create→ready from the pool, %s (median of %d)", sandbox, len(sv))
	row.value, row.baseline = ms(sv.median()), "first open in a fresh child "+ms(bare.median())
	extra := sv.median() - bare.median()
	row.measured(float64(extra)/float64(time.Millisecond), 2, false, "%+.2f ms")
	return []benchRow{row}
}

// waitFor polls cond until it holds or d passes.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out waiting")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// reads is (c): GET /api/sessions/{id} and its heartbeat by the owner,
// against a bare Gin handler doing the same bearer check and answering
// the same record, each in rounds of o.requests over o.clients
// keep-alive connections, the sides alternating, after a warm-up round
// of each.
func (b *bench) reads(ctx context.Context) []benchRow {
	get := benchRow{what: "GET /api/sessions/{id} (req/s)", target: "≥ 0.85×"}
	hb := benchRow{what: "PUT /api/sessions/{id}/heartbeat (req/s)", target: "≥ 0.80×"}
	fail := func(err error) []benchRow { get.err, hb.err = err, err; return []benchRow{get, hb} }
	d, err := b.daemon(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer d.close()
	rec, err := d.sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		return fail(err)
	}
	bare, err := startBareGin(d.token, rec.Session)
	if err != nil {
		return fail(err)
	}
	defer bare.Close()
	bareURL := "http://" + bare.Addr
	get.what = fmt.Sprintf("GET /api/sessions/{id}, %d × %d req, %d conns (req/s; ratio: median of rounds)", b.o.rounds, b.o.requests, b.o.clients)
	hb.what = "PUT /api/sessions/{id}/heartbeat, the same"
	for _, r := range []struct {
		row    *benchRow
		method string
		path   string
		target float64
	}{
		{&get, http.MethodGet, "/api/sessions/" + rec.ID, 0.85},
		{&hb, http.MethodPut, "/api/sessions/" + rec.ID + "/heartbeat", 0.80},
	} {
		var ours, theirs, ratios []float64
		// Two warm-up rounds of each, discarded: the first rounds paid
		// for the heaps' growth and were the slowest.
		for _, u := range []string{d.url, bareURL, d.url, bareURL} {
			if _, err := b.loadRound(ctx, r.method, u+r.path, d.token); err != nil {
				r.row.err = err
				break
			}
		}
		if r.row.err != nil {
			continue
		}
		for i := range b.o.rounds {
			// The sides take turns going first, so that a drift of the
			// machine's load favours neither.
			first, second := bareURL, d.url
			if i%2 == 1 {
				first, second = second, first
			}
			ft, err := b.loadRound(ctx, r.method, first+r.path, d.token)
			if err != nil {
				r.row.err = err
				break
			}
			st, err := b.loadRound(ctx, r.method, second+r.path, d.token)
			if err != nil {
				r.row.err = err
				break
			}
			bt, ot := ft, st
			if i%2 == 1 {
				bt, ot = st, ft
			}
			theirs, ours, ratios = append(theirs, bt), append(ours, ot), append(ratios, ot/bt)
		}
		if r.row.err != nil {
			continue
		}
		o, t := medianF(ours), medianF(theirs)
		r.row.value = fmt.Sprintf("%.0f req/s", o)
		r.row.baseline = fmt.Sprintf("bare Gin %.0f req/s", t)
		r.row.measured(medianF(ratios), r.target, true, "%.3f×") // of the rounds' ratios: a round and its pair share the machine's load
	}
	return []benchRow{get, hb}
}

// benchTokenEnv passes the token to `chimerad bench load`: not in its
// arguments, which ps shows.
const benchTokenEnv = "CHIMERAD_BENCH_TOKEN"

// loadRound sends one round of (c)'s load from a process of its own,
// `chimerad bench load`, as hey would: the load's allocations and GC then
// weigh on neither server.
func (b *bench) loadRound(ctx context.Context, method, url, token string) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, self, "bench", "load", "--method", method, "--url", url,
		"--requests", strconv.Itoa(b.o.requests), "--clients", strconv.Itoa(b.o.clients))
	cmd.Env = append(os.Environ(), benchTokenEnv+"="+token)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("bench load: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

// newBenchLoadCommand is `chimerad bench load`, (c)'s load generator: n
// requests to one loopback URL over c keep-alive connections, with the
// token in CHIMERAD_BENCH_TOKEN; it prints the requests per second.
func newBenchLoadCommand() *cobra.Command {
	var method, target string
	var n, c int
	cmd := &cobra.Command{
		Use:    "load",
		Short:  "Send the bench's load to one loopback URL and print the requests per second",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := url.Parse(target)
			if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" {
				return fmt.Errorf("bench load: --url %q: want http://127.0.0.1:port/…", target)
			}
			lg := newLoad(c, os.Getenv(benchTokenEnv))
			defer lg.close()
			rps, err := lg.run(cmd.Context(), method, target, n)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%f\n", rps)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&method, "method", http.MethodGet, "the requests' method")
	f.StringVar(&target, "url", "", "the URL, on 127.0.0.1")
	f.IntVar(&n, "requests", 5000, "requests in all")
	f.IntVar(&c, "clients", 32, "concurrent keep-alive connections")
	return cmd
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	c := slices.Clone(v)
	slices.Sort(c)
	if len(c)%2 == 0 {
		return (c[len(c)/2-1] + c[len(c)/2]) / 2
	}
	return c[len(c)/2]
}

// lists is (d): one user's list (the API's default page) among
// o.records records of 100 other users, and an admin's page of 100, both
// over HTTP, one request at a time: their medians.
func (b *bench) lists(ctx context.Context) []benchRow {
	user := benchRow{target: "< 2 ms"}
	admin := benchRow{target: "(paginated)", verdict: ""}
	d, err := b.daemon(ctx, nil)
	if err != nil {
		user.err, admin.err = err, err
		return []benchRow{user, admin}
	}
	defer d.close()
	if err := fillRecords(ctx, d.db, "alice", 10); err == nil {
		err = fillRecords(ctx, d.db, "", b.o.records)
	}
	if err != nil {
		user.err, admin.err = err, err
		return []benchRow{user, admin}
	}
	lg := newLoad(1, "")
	defer lg.close()
	for _, r := range []struct {
		row   *benchRow
		token string
		path  string
		what  string
	}{
		{&user, d.token, "/api/sessions", fmt.Sprintf("one user's list (10 theirs) among %d (p50)", b.o.records)},
		{&admin, d.admin, "/api/sessions?limit=100", fmt.Sprintf("admin's page of 100 among %d (p50)", b.o.records+10)},
	} {
		r.row.what = r.what
		var s samples
		for range 200 {
			t, err := timeIt(func() error { return lg.one(ctx, http.MethodGet, d.url+r.path, r.token, nil) })
			if err != nil {
				r.row.err = err
				break
			}
			s = append(s, t)
		}
		r.row.value, r.row.baseline = ms(s.median()), "-"
		if r.row == &user {
			user.measured(float64(s.median())/float64(time.Millisecond), 2, false, "-")
		}
		r.row.ratio = "-"
	}
	return []benchRow{user, admin}
}

// fillRecords stores n ended sessions: owner's, or of 100 users u0…u99
// when owner is empty.
func fillRecords(ctx context.Context, db *store.DB, owner string, n int) error {
	t0 := time.Now().UTC().Add(-time.Hour)
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		who := owner
		if who == "" {
			who = fmt.Sprintf("u%d", i%100)
		}
		rec := &store.Session{
			ID: uuid.NewString(), Owner: who, Name: "bench", State: store.StateTerminated,
			Engine: "simulator", Structure: store.Structure{Source: store.SourcePDB, PDBID: "1hpv", Format: "mmcif"},
			CreatedAt: at, ReadyAt: at, LastActivityAt: at, TerminatedAt: at.Add(time.Second),
			TerminationReason: store.ReasonDeleted,
			Stats:             &store.SessionStats{Commands: 10, CPUSeconds: 1.5},
		}
		if err := db.CreateSession(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// commands is (e): POST /api/sessions/{id}/commands of `version` through
// chimerad against the same request sent straight to the same child's
// REST port (sandbox off, so that the port is reachable), one at a time,
// the sides alternating in rounds: their medians.
func (b *bench) commands(ctx context.Context) []benchRow {
	row := benchRow{target: "≤ 1.30×"}
	d, err := b.daemon(ctx, func(c *Config) {
		c.ChimeraX.Sandbox = chimerax.SandboxOff
		c.Commands.Allow = append(slices.Clone(c.Commands.Allow), "version") // not allowed by default
	})
	if err != nil {
		row.err = err
		return []benchRow{row}
	}
	defer d.close()
	rec, err := d.sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		row.err = err
		return []benchRow{row}
	}
	direct := fmt.Sprintf("http://127.0.0.1:%d", rec.Process.Port)
	relay, err := startBareRelay(rec.Process.Port)
	if err != nil {
		row.err = err
		return []benchRow{row}
	}
	defer relay.Close()
	lg := newLoad(1, d.token)
	defer lg.close()
	body := []byte(`{"command":"version"}`)
	path := d.url + "/api/sessions/" + rec.ID + "/commands"
	var ours, theirs, floor samples
	sides := []struct {
		s   *samples
		run func() error
	}{
		{&theirs, func() error { return runDirect(direct, "version") }},
		{&ours, func() error { return lg.one(ctx, http.MethodPost, path, d.token, body) }},
		{&floor, func() error { return lg.one(ctx, http.MethodPost, "http://"+relay.Addr+"/run", "", body) }},
	}
	for round := range b.o.rounds + 1 { // the first round warms up
		for i := range b.o.commands {
			for j := range sides { // each side in turn goes first
				side := sides[(i+j)%len(sides)]
				t, err := timeIt(side.run)
				if err != nil {
					row.err = err
					return []benchRow{row}
				}
				if round > 0 {
					*side.s = append(*side.s, t)
				}
			}
		}
	}
	row.what = fmt.Sprintf("POST .../commands version, sandbox off (p50 of %d)", len(ours))
	row.value, row.baseline = ms(ours.median()), "GET /run on the child "+ms(theirs.median())
	row.measured(float64(ours.median())/float64(theirs.median()), 1.30, false, "%.2f×")
	info := benchRow{what: "  the same through a bare Gin relay (no auth, log, policy)", value: ms(floor.median()),
		baseline: "GET /run on the child " + ms(theirs.median()), target: "(floor)"}
	info.ratio = fmt.Sprintf("%.2f×", float64(floor.median())/float64(theirs.median()))
	return []benchRow{row, info}
}

// startBareRelay is the floor of (e): a minimal Gin program that takes
// the command as chimerad does (a JSON body, on a keep-alive connection)
// and sends it to the child with chimerad's own REST client, nothing else.
func startBareRelay(port int) (*bareGin, error) {
	client := chimerax.NewClient(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	})
	r := gin.New()
	r.POST("/run", func(c *gin.Context) {
		var body struct {
			Command string `json:"command"`
		}
		if err := c.ShouldBindJSON(&body); err != nil {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		res, err := client.Run(c, body.Command)
		if err != nil {
			c.AbortWithStatus(http.StatusBadGateway)
			return
		}
		c.JSON(http.StatusOK, res)
	})
	return serveBare(r)
}

// footprint is (f): the daemon's resident memory per live session (its
// own process: children, their sandbox init and shims are processes of
// their own), and a daemon start with o.records stored records: `chimerad
// serve` run from this binary, from exec to its "serving" line.
func (b *bench) footprint(ctx context.Context) []benchRow {
	rss := benchRow{target: "≤ 50 KB"}
	start := benchRow{target: "< 500 ms"}
	if err := b.rssPerSession(ctx, &rss); err != nil {
		rss.err = err
	}
	if err := b.daemonStart(ctx, &start); err != nil {
		start.err = err
	}
	return []benchRow{rss, start}
}

func (b *bench) rssPerSession(ctx context.Context, row *benchRow) error {
	d, err := b.daemon(ctx, func(c *Config) {
		c.ChimeraX.HealthInterval = 0
		c.Session.SweepInterval = time.Hour
	})
	if err != nil {
		return err
	}
	defer d.close()
	// One session first, so that what every session shares is counted
	// in the "before".
	first, err := d.sv.Create(ctx, chimerax.CreateRequest{Owner: "u0", Wait: true})
	if err != nil {
		return err
	}
	ids := []string{first.ID}
	defer func() {
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() { d.sv.Stop(ctx, id, store.ReasonDeleted) })
		}
		wg.Wait()
	}()
	before, err := selfRSS()
	if err != nil {
		return err
	}
	goroutinesBefore, threadsBefore := runtime.NumGoroutine(), selfThreads()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < b.o.sessions; i += 8 {
				rec, err := d.sv.Create(ctx, chimerax.CreateRequest{Owner: fmt.Sprintf("u%d", i%50), Wait: true})
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				ids = append(ids, rec.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	after, err := selfRSS()
	if err != nil {
		return err
	}
	goroutines, threads := runtime.NumGoroutine(), selfThreads()
	if b.o.heap != "" {
		f, err := os.Create(b.o.heap)
		if err != nil {
			return err
		}
		pprof.WriteHeapProfile(f)
		f.Close()
		if g, err := os.Create(b.o.heap + ".goroutines"); err == nil {
			pprof.Lookup("goroutine").WriteTo(g, 1)
			g.Close()
		}
	}
	per := (after - before) / float64(b.o.sessions)
	sandbox := "sandbox off"
	if d.sv.Sandboxed() {
		sandbox = "sandboxed"
	}
	row.what = fmt.Sprintf("daemon RSS per live session, %d more, %s", b.o.sessions, sandbox)
	row.value = fmt.Sprintf("%.1f KB", per/1000)
	row.baseline = fmt.Sprintf("%.1f MiB before; a session: %.1f goroutines, %.1f threads", before/(1<<20),
		float64(goroutines-goroutinesBefore)/float64(b.o.sessions), float64(threads-threadsBefore)/float64(b.o.sessions))
	row.measured(per/1000, 50, false, "-")
	row.ratio = "-"
	return nil
}

// selfRSS is this process's resident set size, after a collection that
// returns what it can to the system.
func selfRSS() (float64, error) {
	runtime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	var size, resident float64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0, err
	}
	return resident * float64(os.Getpagesize()), nil
}

// selfThreads is this process's number of threads, from /proc/self/status.
func selfThreads() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			var n int
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}

// daemonStart times `chimerad serve` on a data directory holding
// o.records ended records, from exec to the "chimerad serving" line (the
// API is listening by then), three times: the median.
func (b *bench) daemonStart(ctx context.Context, row *benchRow) error {
	dataDir := filepath.Join(b.dir, "start")
	db, err := store.Open(dataDir, time.Second)
	if err != nil {
		return err
	}
	err = fillRecords(ctx, db, "", b.o.records)
	db.Close()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	conf := filepath.Join(b.dir, "start.yaml")
	if err := os.WriteFile(conf, []byte("log:\n  level: info\n"), 0o600); err != nil {
		return err
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHIMERAD_") {
			env = append(env, kv)
		}
	}
	var s samples
	for range 3 {
		cmd := exec.CommandContext(ctx, self, "serve", "--config", conf, "--data-dir", dataDir,
			"--listen", "127.0.0.1:0", "--chimerax", "simulator")
		cmd.Env = env
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			return err
		}
		sc := bufio.NewScanner(stderr)
		served := false
		for sc.Scan() {
			var line struct{ Message string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "chimerad serving" {
				served = true
				break
			}
		}
		t := time.Since(t0)
		cmd.Process.Signal(os.Interrupt)
		go io.Copy(io.Discard, stderr)
		cmd.Wait()
		if !served {
			return errors.New("chimerad serve never said it was serving")
		}
		s = append(s, t)
	}
	row.what = fmt.Sprintf("daemon start, %d records stored (exec → serving, median of 3)", b.o.records)
	row.value, row.baseline = ms(s.median()), "-"
	row.measured(float64(s.median())/float64(time.Millisecond), 500, false, "-")
	row.ratio = "-"
	return nil
}

// load sends requests over a fixed set of keep-alive connections.
type load struct {
	client  *http.Client
	clients int
	token   string
}

func newLoad(clients int, token string) *load {
	tr := &http.Transport{
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		MaxConnsPerHost:     clients,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	return &load{client: &http.Client{Transport: tr, Timeout: time.Minute}, clients: clients, token: token}
}

func (l *load) close() { l.client.CloseIdleConnections() }

// one sends one request with token and drains its answer, which must be 200.
func (l *load) one(ctx context.Context, method, url, token string, body []byte) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %.200s", method, url, resp.Status, answer)
	}
	return nil
}

// run sends n requests over l.clients connections at once and returns
// the requests per second.
func (l *load) run(ctx context.Context, method, url string, n int) (float64, error) {
	var (
		mu   sync.Mutex
		next int
		errs error
		wg   sync.WaitGroup
	)
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if next >= n || errs != nil {
			return false
		}
		next++
		return true
	}
	start := time.Now()
	for range l.clients {
		wg.Go(func() {
			for take() {
				if err := l.one(ctx, method, url, l.token, nil); err != nil {
					mu.Lock()
					errs = errors.Join(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if errs != nil {
		return 0, errs
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// bareGin is the baseline of (c): a minimal Gin program that parses the
// bearer token, compares its SHA-256 with the user's in constant time and
// answers the same record as JSON.
type bareGin struct {
	srv  *http.Server
	Addr string
}

func startBareGin(token string, rec store.Session) (*bareGin, error) {
	gin.SetMode(gin.ReleaseMode)
	want := store.HashToken(token)
	r := gin.New()
	check := func(c *gin.Context) bool {
		scheme, tok, ok := strings.Cut(c.GetHeader("Authorization"), " ")
		h := store.HashToken(tok)
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(h[:], want[:]) != 1 {
			c.AbortWithStatus(http.StatusUnauthorized)
			return false
		}
		return true
	}
	r.GET("/api/sessions/:id", func(c *gin.Context) {
		if check(c) {
			c.JSON(http.StatusOK, rec)
		}
	})
	r.PUT("/api/sessions/:id/heartbeat", func(c *gin.Context) {
		if check(c) {
			c.JSON(http.StatusOK, gin.H{"id": rec.ID, "last_activity_at": rec.LastActivityAt, "idle_expires_at": rec.LastActivityAt})
		}
	})
	return serveBare(r)
}

// serveBare serves h on a loopback port of its own.
func serveBare(h http.Handler) (*bareGin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &bareGin{srv: &http.Server{Handler: h}, Addr: ln.Addr().String()}
	go b.srv.Serve(ln)
	return b, nil
}

func (b *bareGin) Close() { b.srv.Close() }
