//go:build linux

package server_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/server"
	"github.com/chimerad/chimerad/store"
)

// scrape GETs /metrics from the daemon as Prometheus would and parses it.
func (d *daemon) scrape(tb testing.TB, token string) map[string]*dto.MetricFamily {
	tb.Helper()
	resp, body := d.call(tb, "GET", "/metrics", token, nil)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /metrics = %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		tb.Errorf("GET /metrics Content-Type = %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		tb.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return mfs
}

// value returns the value of the series of family name whose labels are
// exactly labels (name, value pairs), and whether it exists. A histogram's
// value is its sample count.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.Metric {
		if len(m.Label) != len(labels)/2 {
			continue
		}
		match := true
		for i, lp := range m.Label {
			if lp.GetName() != labels[2*i] || lp.GetValue() != labels[2*i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// TestMetricsScrape drives the real daemon (create two sessions, run a
// command, delete one, a 404) and scrapes /metrics as Prometheus would.
func TestMetricsScrape(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)

	var ids []string
	for range 2 {
		resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{"name": "m"})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create = %d %s", resp.StatusCode, body)
		}
		ids = append(ids, decode[server.SessionView](t, body).ID)
	}
	if _, err := d.SV.Command(context.Background(), ids[1], "info models"); err != nil {
		t.Fatal(err)
	}
	if resp, body := d.call(t, "DELETE", "/api/sessions/"+ids[0], alice, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("delete = %d %s", resp.StatusCode, body)
	}
	d.call(t, "GET", "/api/sessions/"+ids[1], alice, nil)
	d.call(t, "GET", "/no/such/"+ids[1], alice, nil)

	mfs := d.scrape(t, "")
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"chimerad_sessions_created_total", nil, 2},
		{"chimerad_sessions_ended_total", []string{"reason", "deleted"}, 1},
		{"chimerad_sessions_ended_total", []string{"reason", "crashed"}, 0},
		{"chimerad_sessions", []string{"state", "ready"}, 1},
		{"chimerad_sessions", []string{"state", "starting"}, 0},
		{"chimerad_sessions", []string{"state", "stopping"}, 0},
		{"chimerad_sessions_limit", nil, 32},
		{"chimerad_session_start_duration_seconds", nil, 2},
		{"chimerad_session_lifetime_seconds", nil, 1},
		{"chimerad_commands_total", []string{"outcome", "ok"}, 1},
		{"chimerad_commands_total", []string{"outcome", "timeout"}, 0},
		{"chimerad_command_duration_seconds", nil, 1},
		{"chimerad_http_requests_total", []string{"code", "201", "method", "POST", "route", "/api/sessions"}, 2},
		{"chimerad_http_requests_total", []string{"code", "200", "method", "DELETE", "route", "/api/sessions/:id"}, 1},
		{"chimerad_http_requests_total", []string{"code", "200", "method", "GET", "route", "/api/sessions/:id"}, 1},
		{"chimerad_http_requests_total", []string{"code", "404", "method", "GET", "route", "unmatched"}, 1},
		{"chimerad_http_request_duration_seconds", []string{"method", "POST", "route", "/api/sessions"}, 2},
	} {
		got, ok := value(mfs, tc.name, tc.labels...)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if rss, _ := value(mfs, "chimerad_children_resident_memory_bytes"); rss < 1<<20 {
		t.Errorf("chimerad_children_resident_memory_bytes = %v, want the live child's memory", rss)
	}
	if cpu, _ := value(mfs, "chimerad_children_cpu_seconds_total"); cpu <= 0 {
		t.Errorf("chimerad_children_cpu_seconds_total = %v, want the children's CPU time", cpu)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if mfs[name] == nil {
			t.Errorf("no %s: want the Go and process collectors", name)
		}
	}
	// No user name, session id or raw path in any label.
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if v := lp.GetValue(); v == "alice" || strings.Contains(v, ids[0]) || strings.Contains(v, ids[1]) || strings.HasPrefix(v, "/no/") {
					t.Errorf("%s has label %s=%q", name, lp.GetName(), v)
				}
			}
		}
	}

	// The exposition as Prometheus reads it, exactly, for a few series.
	err := testutil.ScrapeAndCompare(d.URL+"/metrics", strings.NewReader(`
# HELP chimerad_sessions Live sessions, by state (starting, ready, stopping).
# TYPE chimerad_sessions gauge
chimerad_sessions{state="ready"} 1
chimerad_sessions{state="starting"} 0
chimerad_sessions{state="stopping"} 0
# HELP chimerad_sessions_created_total Sessions created (records made; their children started).
# TYPE chimerad_sessions_created_total counter
chimerad_sessions_created_total 2
`), "chimerad_sessions", "chimerad_sessions_created_total")
	if err != nil {
		t.Error(err)
	}

	// Prometheus conventions: names, units, help, counters' _total.
	problems, err := testutil.GatherAndLint(d.Metrics.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestMetricsPedantic registers the metrics on a pedantic registry, which
// checks every collected metric against its descriptor, and lints them.
func TestMetricsPedantic(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	if resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	reg := prometheus.NewPedanticRegistry()
	m, err := server.NewMetrics(reg, d.SV)
	if err != nil {
		t.Fatal(err)
	}
	m.SessionCreated()
	m.SessionEnded(store.ReasonDeleted, time.Minute)
	m.CommandDone(chimerax.OutcomeOK, time.Millisecond)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(m.Registry(), "chimerad_sessions"); n != 3 {
		t.Errorf("chimerad_sessions series = %d, want one per live state", n)
	}
	if _, err := server.NewMetrics(reg, d.SV); err == nil {
		t.Errorf("NewMetrics twice on one registry succeeded, want a duplicate registration error")
	}
}

func TestMetricsAuth(t *testing.T) {
	d := MustServe(t, options{server: func(c *server.Config) { c.MetricsRequireAuth = true }})
	alice := d.mustUser(t, "alice", false)
	root := d.mustUser(t, "root", true)
	for _, tc := range []struct {
		token string
		want  int
	}{
		{"", http.StatusUnauthorized},
		{alice, http.StatusForbidden},
		{root, http.StatusOK},
	} {
		if resp, body := d.call(t, "GET", "/metrics", tc.token, nil); resp.StatusCode != tc.want {
			t.Errorf("GET /metrics with token %.8q = %d %s, want %d", tc.token, resp.StatusCode, body, tc.want)
		}
	}
	resp, err := d.Admin.Get("http://chimerad/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics on the admin socket = %d, want 200", resp.StatusCode)
	}

	open := MustServe(t, options{})
	if resp, body := open.call(t, "GET", "/metrics", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics without require_auth = %d %s, want 200", resp.StatusCode, body)
	}
}

type readiness struct {
	Status  string           `json:"status"`
	Failing []string         `json:"failing"`
	Checks  []chimerax.Check `json:"checks"`
}

func TestReadyz(t *testing.T) {
	d := MustServe(t, options{sv: func(c *chimerax.Config) { c.MaxSessions = 1 }})
	alice := d.mustUser(t, "alice", false)

	resp, body := d.call(t, "GET", "/readyz", "", nil)
	r := decode[readiness](t, body)
	if resp.StatusCode != http.StatusOK || r.Status != "ready" || len(r.Failing) != 0 || len(r.Checks) != 7 {
		t.Errorf("readyz = %d %s, want 200 ready with seven checks", resp.StatusCode, body)
	}
	mode := "off"
	if d.SV.Sandboxed() {
		mode = "namespaces"
	}
	for _, ch := range r.Checks {
		if ch.Name == "sandbox" && !strings.HasPrefix(ch.Detail, mode+":") {
			t.Errorf("readyz sandbox check = %+v, want the mode %q", ch, mode)
		}
	}

	resp, body = d.call(t, "POST", "/api/sessions", alice, map[string]any{})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	resp, body = d.call(t, "GET", "/readyz", "", nil)
	r = decode[readiness](t, body)
	if resp.StatusCode != http.StatusServiceUnavailable || r.Status != "not_ready" || !slices.Equal(r.Failing, []string{"capacity"}) {
		t.Errorf("readyz at capacity = %d %s, want 503 naming capacity", resp.StatusCode, body)
	}
	if resp, _ := d.call(t, "GET", "/healthz", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz at capacity = %d, want 200: alive, if not ready", resp.StatusCode)
	}
}

// TestStatsEndpoint runs a scripted series of creates and ends through the
// API and checks /api/stats.
func TestStatsEndpoint(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	bob := d.mustUser(t, "bob", false)
	root := d.mustUser(t, "root", true)
	start := time.Now().UTC()

	create := func(token string) string {
		t.Helper()
		resp, body := d.call(t, "POST", "/api/sessions", token, map[string]any{})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create = %d %s", resp.StatusCode, body)
		}
		return decode[server.SessionView](t, body).ID
	}
	a1, _, b1 := create(alice), create(alice), create(bob)
	if _, err := d.SV.Command(context.Background(), a1, "info models"); err != nil {
		t.Fatal(err)
	}
	d.call(t, "DELETE", "/api/sessions/"+a1, alice, nil)
	d.call(t, "DELETE", "/api/sessions/"+b1+"?reason=admin_kill", root, nil)

	resp, body := d.call(t, "GET", "/api/stats", root, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stats = %d %s", resp.StatusCode, body)
	}
	u := decode[store.Usage](t, body)
	if tot := u.Totals; tot.SessionsCreated != 3 || tot.Live != 1 || tot.Commands != 1 || tot.SessionHours <= 0 ||
		tot.Ended[store.ReasonDeleted] != 1 || tot.Ended[store.ReasonAdminKill] != 1 || len(tot.Ended) != 2 {
		t.Errorf("totals = %+v, want 3 created, 1 live, 1 deleted, 1 admin_kill, 1 command", tot)
	}
	if len(u.Users) != 2 || u.Users[0].User != "alice" || u.Users[1].User != "bob" {
		t.Fatalf("users = %+v, want alice and bob", u.Users)
	}
	if a := u.Users[0]; a.SessionsCreated != 2 || a.Live != 1 || a.Ended[store.ReasonDeleted] != 1 || a.Commands != 1 {
		t.Errorf("alice = %+v, want 2 created, 1 live, 1 deleted, 1 command", a)
	}
	if b := u.Users[1]; b.SessionsCreated != 1 || b.Live != 0 || b.Ended[store.ReasonAdminKill] != 1 {
		t.Errorf("bob = %+v, want 1 created, ended admin_kill", b)
	}
	if u.Start.Count != 3 || u.Start.Mean <= 0 || u.Start.P95 < u.Start.Mean {
		t.Errorf("start times = %+v, want 3 with p95 ≥ mean > 0", u.Start)
	}

	since := start.Add(time.Hour).Format(time.RFC3339)
	_, body = d.call(t, "GET", "/api/stats?since="+since, root, nil)
	if u := decode[store.Usage](t, body); u.Totals.SessionsCreated != 0 || len(u.Users) != 0 {
		t.Errorf("stats since an hour ahead = %s, want nothing", body)
	}
	_, body = d.call(t, "GET", "/api/stats?since="+start.Add(-time.Minute).Format(time.RFC3339), root, nil)
	if u := decode[store.Usage](t, body); u.Totals.SessionsCreated != 3 {
		t.Errorf("stats since a minute ago = %s, want the 3 sessions", body)
	}
	if resp, body := d.call(t, "GET", "/api/stats?since=yesterday", root, nil); resp.StatusCode != http.StatusBadRequest ||
		decode[problem](t, body).Code != "invalid_request" {
		t.Errorf("stats?since=yesterday = %d %s, want 400", resp.StatusCode, body)
	}
	if resp, _ := d.call(t, "GET", "/api/stats", alice, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("stats as a user = %d, want 403", resp.StatusCode)
	}
}

func TestSessionLogsEndpoint(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	bob := d.mustUser(t, "bob", false)
	root := d.mustUser(t, "root", true)
	resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{"pdb_id": "1hpv"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	id := decode[server.SessionView](t, body).ID
	path := "/api/sessions/" + id + "/logs"

	resp, body = d.call(t, "GET", path, alice, nil)
	logs := decode[chimerax.Logs](t, body)
	if resp.StatusCode != http.StatusOK || logs.Source != "log" || logs.State != store.StateReady || logs.Cursor == "" ||
		!slices.Contains(logs.Lines, "REST server started on host 127.0.0.1 port (hidden)") {
		t.Errorf("owner's logs = %d %s, want the log with the port hidden", resp.StatusCode, body)
	}
	rec, err := d.SV.Session(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if port := strconv.Itoa(rec.Process.Port); strings.Contains(string(body), d.Dir) || strings.Contains(string(body), port) {
		t.Errorf("owner's logs show a path or the port %s: %s", port, body)
	}
	_, body = d.call(t, "GET", path+"?lines=1", root, nil)
	if l := decode[chimerax.Logs](t, body); len(l.Lines) != 1 {
		t.Errorf("logs?lines=1 = %q, want one line", l.Lines)
	}
	_, body = d.call(t, "GET", path+"?lines=5000", root, nil)
	if l := decode[chimerax.Logs](t, body); !slices.ContainsFunc(l.Lines, func(s string) bool {
		return strings.HasPrefix(s, "REST server started") && !strings.HasSuffix(s, "(hidden)")
	}) {
		t.Errorf("admin's logs = %q, want the port shown", l.Lines)
	}
	_, body = d.call(t, "GET", path+"?cursor="+logs.Cursor, alice, nil)
	if l := decode[chimerax.Logs](t, body); len(l.Lines) != 0 || l.Cursor != logs.Cursor {
		t.Errorf("logs after the last cursor = %+v, want nothing new", l)
	}

	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{path, bob, http.StatusNotFound},
		{path, "", http.StatusUnauthorized},
		{path + "?lines=0", alice, http.StatusBadRequest},
		{path + "?lines=many", alice, http.StatusBadRequest},
		{path + "?cursor=garbage", alice, http.StatusBadRequest},
		{"/api/sessions/00000000-0000-4000-8000-000000000000/logs", root, http.StatusNotFound},
	} {
		if resp, body := d.call(t, "GET", tc.path, tc.token, nil); resp.StatusCode != tc.want {
			t.Errorf("GET %s = %d %s, want %d", tc.path, resp.StatusCode, body, tc.want)
		}
	}

	d.call(t, "DELETE", "/api/sessions/"+id, alice, nil)
	resp, body = d.call(t, "GET", path, alice, nil)
	logs = decode[chimerax.Logs](t, body)
	if resp.StatusCode != http.StatusOK || logs.Source != "record" || logs.State != store.StateTerminated ||
		!slices.Contains(logs.Lines, "REST server started on host 127.0.0.1 port (hidden)") {
		t.Errorf("logs of an ended session = %d %s, want the record's last output, redacted", resp.StatusCode, body)
	}
}

func TestSessionStatsInView(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	id := decode[server.SessionView](t, body).ID
	for range 3 {
		if _, err := d.SV.Command(context.Background(), id, "info models"); err != nil {
			t.Fatal(err)
		}
	}
	_, body = d.call(t, "GET", "/api/sessions/"+id, alice, nil)
	if s := decode[server.SessionView](t, body); s.Stats == nil || s.Stats.Commands != 3 || s.Stats.RSSBytes < 1<<20 {
		t.Errorf("live session's stats = %+v, want 3 commands and the child's memory", s.Stats)
	}
	_, body = d.call(t, "GET", "/api/sessions", alice, nil)
	if l := decode[struct{ Sessions []server.SessionView }](t, body); len(l.Sessions) != 1 || l.Sessions[0].Stats == nil {
		t.Errorf("listed session = %s, want stats", body)
	}
	_, body = d.call(t, "DELETE", "/api/sessions/"+id, alice, nil)
	s := decode[server.SessionView](t, body)
	if s.Stats == nil || s.Stats.Commands != 3 || s.Stats.CPUSeconds <= 0 || s.Stats.RSSBytes != 0 || strings.Contains(string(body), "rss_bytes") {
		t.Errorf("ended session's stats = %s, want 3 commands, the CPU time, no memory", body)
	}
}
