//go:build linux

package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/server"
	"github.com/chimerad/chimerad/store"
)

type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
	SessionID string `json:"session_id"`
}

func TestSessionLifecycle(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)

	for _, tc := range []struct {
		file, format string
	}{
		{"1hpv.pdb", "pdb"},
		{"1hpv.pdb.gz", "pdb"},
		{"3al1.cif", "mmcif"},
		{"ligs3d.sdf", "sdf"},
		{"small03.mol2", "mol2"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			resp, body := d.upload(t, alice, tc.file, mustRead(t, tc.file), map[string]string{"name": "my " + tc.file})
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("create %s = %d %s, want 201", tc.file, resp.StatusCode, body)
			}
			s := decode[server.SessionView](t, body)
			if resp.Header.Get("Location") != "/api/sessions/"+s.ID {
				t.Errorf("Location = %q, want /api/sessions/%s", resp.Header.Get("Location"), s.ID)
			}
			if s.State != store.StateReady || s.Owner != "alice" || s.Name != "my "+tc.file ||
				s.Structure.Source != "upload" || s.Structure.Format != tc.format || s.Structure.Filename != tc.file ||
				s.Structure.SizeBytes != int64(len(mustRead(t, tc.file))) {
				t.Errorf("created session = %+v", s)
			}
			if s.Process != nil || bytes.Contains(body, []byte(d.Dir)) {
				t.Errorf("a user's answer shows process details or paths: %s", body)
			}
			if s.ReadyAt == nil || s.IdleExpiresAt == nil {
				t.Errorf("ready_at %v idle_expires_at %v, want both set", s.ReadyAt, s.IdleExpiresAt)
			}
			resp, body = d.call(t, "DELETE", "/api/sessions/"+s.ID, alice, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("delete = %d %s", resp.StatusCode, body)
			}
		})
	}

	// From a PDB id, through ChimeraX's own fetch (the simulator's cache).
	resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{"pdb_id": "1HPV", "name": "fetched"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create from pdb id = %d %s", resp.StatusCode, body)
	}
	s := decode[server.SessionView](t, body)
	if s.Structure.Source != "pdb" || s.Structure.PDBID != "1hpv" {
		t.Errorf("structure = %+v, want pdb 1hpv", s.Structure)
	}

	resp, body = d.call(t, "GET", "/api/sessions/"+s.ID, alice, nil)
	if got := decode[server.SessionView](t, body); resp.StatusCode != 200 || got.ID != s.ID || got.State != store.StateReady {
		t.Errorf("get = %d %s", resp.StatusCode, body)
	}

	resp, body = d.call(t, "PUT", "/api/sessions/"+s.ID+"/heartbeat", alice, nil)
	hb := decode[map[string]any](t, body)
	if resp.StatusCode != 200 || hb["id"] != s.ID || hb["last_activity_at"] == nil || hb["idle_expires_at"] == nil {
		t.Errorf("heartbeat = %d %s", resp.StatusCode, body)
	}

	resp, body = d.call(t, "GET", "/api/sessions", alice, nil)
	list := decode[struct{ Sessions []server.SessionView }](t, body)
	if resp.StatusCode != 200 || len(list.Sessions) != 6 || list.Sessions[0].ID != s.ID {
		t.Errorf("list = %d, %d sessions, first %v; want 6, newest first", resp.StatusCode, len(list.Sessions), list.Sessions)
	}
	resp, body = d.call(t, "GET", "/api/sessions?state=ready", alice, nil)
	list = decode[struct{ Sessions []server.SessionView }](t, body)
	if len(list.Sessions) != 1 || list.Sessions[0].ID != s.ID {
		t.Errorf("list ?state=ready = %s, want only %s", body, s.ID)
	}

	resp, body = d.call(t, "DELETE", "/api/sessions/"+s.ID, alice, nil)
	ended := decode[server.SessionView](t, body)
	if resp.StatusCode != 200 || ended.State != store.StateTerminated || ended.TerminationReason != store.ReasonDeleted || ended.TerminatedAt == nil {
		t.Fatalf("delete = %d %s", resp.StatusCode, body)
	}
	resp, again := d.call(t, "DELETE", "/api/sessions/"+s.ID, alice, nil)
	if resp.StatusCode != 200 || !bytes.Equal(again, body) {
		t.Errorf("second delete = %d %s, want 200 and the same record", resp.StatusCode, again)
	}
	resp, body = d.call(t, "PUT", "/api/sessions/"+s.ID+"/heartbeat", alice, nil)
	if p := decode[problem](t, body); resp.StatusCode != http.StatusConflict || p.Code != "session_not_live" {
		t.Errorf("heartbeat on ended = %d %s, want 409 session_not_live", resp.StatusCode, body)
	}
}

func TestCreateWithoutWait(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	resp, body := d.call(t, "POST", "/api/sessions?wait=false", alice, map[string]any{})
	s := decode[server.SessionView](t, body)
	if resp.StatusCode != http.StatusAccepted || s.State != store.StateStarting {
		t.Fatalf("create ?wait=false = %d %s, want 202 starting", resp.StatusCode, body)
	}
	chimeraxtest.WaitFor(t, 20e9, "ready", func() bool {
		_, body := d.call(t, "GET", "/api/sessions/"+s.ID, alice, nil)
		return decode[server.SessionView](t, body).State == store.StateReady
	})
}

func TestOwnership(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	bob := d.mustUser(t, "bob", false)
	root := d.mustUser(t, "root", true)

	_, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{})
	s := decode[server.SessionView](t, body)

	missing := "/api/sessions/00000000-0000-4000-8000-000000000000"
	for _, path := range []string{"/api/sessions/" + s.ID, missing} {
		for _, method := range []string{"GET", "DELETE"} {
			resp, body := d.call(t, method, path, bob, nil)
			p := decode[problem](t, body)
			if resp.StatusCode != 404 || p.Code != "session_not_found" {
				t.Errorf("bob %s %s = %d %s, want 404 session_not_found", method, path, resp.StatusCode, body)
			}
		}
	}
	resp, body := d.call(t, "PUT", "/api/sessions/"+s.ID+"/heartbeat", bob, nil)
	if resp.StatusCode != 404 {
		t.Errorf("bob heartbeat = %d %s, want 404", resp.StatusCode, body)
	}
	_, body = d.call(t, "GET", "/api/sessions", bob, nil)
	if got := decode[struct{ Sessions []server.SessionView }](t, body); len(got.Sessions) != 0 {
		t.Errorf("bob lists %d sessions, want 0", len(got.Sessions))
	}
	resp, _ = d.call(t, "GET", "/api/sessions?user=alice", bob, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob lists alice's = %d, want 403", resp.StatusCode)
	}

	// The admin sees everything, process details included.
	resp, body = d.call(t, "GET", "/api/sessions?user=alice", root, nil)
	got := decode[struct{ Sessions []server.SessionView }](t, body)
	if resp.StatusCode != 200 || len(got.Sessions) != 1 || got.Sessions[0].Process == nil || got.Sessions[0].Process.PID == 0 {
		t.Errorf("admin list = %d %s", resp.StatusCode, body)
	}
	resp, body = d.call(t, "DELETE", "/api/sessions/"+s.ID, root, nil)
	if resp.StatusCode != 200 {
		t.Errorf("admin delete = %d %s", resp.StatusCode, body)
	}
}

func TestAuthentication(t *testing.T) {
	d := MustServe(t, options{})
	d.mustUser(t, "alice", false)
	for _, auth := range []string{"", "Bearer", "Bearer chx_nope", "Basic YWxpY2U6eA==", "bearer "} {
		req, _ := http.NewRequest("GET", d.URL+"/api/sessions", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, body := d.send(t, req, "")
		p := decode[problem](t, body)
		if resp.StatusCode != 401 || p.Code != "unauthorized" || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q = %d %s (WWW-Authenticate %q), want 401", auth, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("problem Content-Type = %q", ct)
		}
		if p.RequestID == "" || resp.Header.Get("X-Request-ID") != p.RequestID {
			t.Errorf("request id: header %q body %q", resp.Header.Get("X-Request-ID"), p.RequestID)
		}
	}
}

func TestHostAndCORS(t *testing.T) {
	d := MustServe(t, options{server: func(c *server.Config) { c.AllowedOrigins = []string{"http://localhost:3000"} }})
	req, _ := http.NewRequest("GET", d.URL+"/healthz", nil)
	req.Host = "evil.example:8471"
	resp, body := d.send(t, req, "")
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Host evil.example = %d %s, want 421", resp.StatusCode, body)
	}
	for _, host := range []string{"localhost:8471", "127.0.0.1", "[::1]:8471"} {
		req, _ := http.NewRequest("GET", d.URL+"/healthz", nil)
		req.Host = host
		if resp, body := d.send(t, req, ""); resp.StatusCode != 200 {
			t.Errorf("Host %s = %d %s, want 200", host, resp.StatusCode, body)
		}
	}

	req, _ = http.NewRequest("OPTIONS", d.URL+"/api/sessions", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, _ = d.send(t, req, "")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Errorf("preflight from allowed origin = %d, ACAO %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	req, _ = http.NewRequest("GET", d.URL+"/healthz", nil)
	req.Header.Set("Origin", "http://evil.example")
	resp, _ = d.send(t, req, "")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin got ACAO %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestHealthz(t *testing.T) {
	d := MustServe(t, options{})
	resp, body := d.call(t, "GET", "/healthz", "", nil)
	h := decode[map[string]any](t, body)
	if resp.StatusCode != 200 || h["status"] != "ok" || h["engine"] != "simulator" || h["engine_path"] != os.Args[0] {
		t.Errorf("healthz = %d %s", resp.StatusCode, body)
	}
	want := "off"
	if chimeraxtest.Sandboxable() {
		want = "namespaces"
	}
	if h["sandbox"] != want {
		t.Errorf("healthz sandbox = %v, want %s", h["sandbox"], want)
	}
	if _, ok := h["uptime_seconds"].(float64); !ok {
		t.Errorf("healthz uptime_seconds = %v", h["uptime_seconds"])
	}
}

func TestLimitsUnderBurst(t *testing.T) {
	d := MustServe(t, options{sv: func(c *chimerax.Config) {
		c.MaxSessions = 3
		c.MaxSessionsPerUser = 2
		c.QueueSize = 0 // TestQueueAtCapacity has the queue
	}})
	tokens := []string{d.mustUser(t, "alice", false), d.mustUser(t, "bob", false)}
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	for i := range 8 {
		wg.Go(func() {
			resp, body := d.call(t, "POST", "/api/sessions?wait=false", tokens[i%2], map[string]any{})
			mu.Lock()
			defer mu.Unlock()
			codes[resp.StatusCode]++
			if resp.StatusCode == http.StatusTooManyRequests {
				p := decode[problem](t, body)
				// The per-user cap gives no Retry-After: only the user can
				// free a place. The global cap's is an estimate from the
				// sessions' deadlines: none while they all start.
				ra := resp.Header.Get("Retry-After")
				if p.Code != "limit_reached" || !strings.Contains(p.Detail, "limits.max_sessions") ||
					(strings.Contains(p.Detail, "per_user") && ra != "") {
					t.Errorf("429 = %s Retry-After %q", body, ra)
				}
			}
		})
	}
	wg.Wait()
	if codes[http.StatusAccepted] != 3 || codes[http.StatusTooManyRequests] != 5 {
		t.Errorf("burst answers = %v, want 3×202 and 5×429", codes)
	}
	live, _, _ := d.DB.Sessions(context.Background(), store.SessionFilter{Live: true})
	if len(live) != 3 {
		t.Errorf("live records = %d, want 3", len(live))
	}
}

// TestBadInput checks that every refused create answers its documented
// status and leaves nothing behind: no record, no child, no file.
func TestBadInput(t *testing.T) {
	d := MustServe(t, options{server: func(c *server.Config) {
		c.MaxUploadBytes = 200 << 10
		c.MaxUncompressedBytes = 1 << 20
	}})
	alice := d.mustUser(t, "alice", false)
	pdb := mustRead(t, "1hpv.pdb")[:100<<10]

	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	line := []byte("ATOM      1  N   PRO A   1      -2.555   9.253  34.411  1.00 30.60           N  \n")
	for range (2 << 20) / len(line) {
		zw.Write(line)
	}
	zw.Close()

	jsonRows := []struct {
		name, body string
		status     int
		code       string
	}{
		{"short pdb id", `{"pdb_id":"1hp"}`, 400, "invalid_request"},
		{"letter first", `{"pdb_id":"hpv1"}`, 400, "invalid_request"},
		{"injection", `{"pdb_id":"1hpv;runscript /tmp/x.py"}`, 400, "invalid_request"},
		{"url", `{"pdb_id":"http://127.0.0.1:1/run"}`, 400, "invalid_request"},
		{"bad extended", `{"pdb_id":"pdb_1hpv"}`, 400, "invalid_request"},
		{"unknown field", `{"pdb":"1hpv"}`, 400, "invalid_request"},
		{"wrong type", `{"pdb_id":1234}`, 400, "invalid_request"},
		{"not json", `pdb_id=1hpv`, 400, "invalid_request"},
		{"two objects", `{} {}`, 400, "invalid_request"},
		{"negative idle", `{"idle_timeout_seconds":-1}`, 400, "invalid_request"},
		{"control in name", `{"name":"a\u0007b"}`, 400, "invalid_request"},
		{"bidi override in name", `{"name":"abc\u202edcba"}`, 400, "invalid_request"},
		{"zero-width space in name", `{"name":"a\u200bb"}`, 400, "invalid_request"},
		{"null body", `null`, 400, "invalid_request"},
		{"array body", `[{"pdb_id":"1hpv"}]`, 400, "invalid_request"},
		{"string body", `"1hpv"`, 400, "invalid_request"},
		{"huge body", `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "too_large"},
	}
	for _, tc := range jsonRows {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := d.call(t, "POST", "/api/sessions", alice, tc.body)
			p := decode[problem](t, body)
			if resp.StatusCode != tc.status || p.Code != tc.code || p.Detail == "" {
				t.Errorf("POST %s = %d %s, want %d %s", tc.body[:min(len(tc.body), 40)], resp.StatusCode, body, tc.status, tc.code)
			}
		})
	}

	uploadRows := []struct {
		name, filename string
		content        []byte
		status         int
		code           string
	}{
		{"unknown suffix", "1hpv.xyz", pdb, 415, "unsupported_format"},
		{"no suffix", "structure", pdb, 415, "unsupported_format"},
		{"python", "evil.py", []byte("import os\n"), 415, "unsupported_format"},
		{"cxc", "evil.cxc", []byte("runscript x\n"), 415, "unsupported_format"},
		{"content mismatch", "fake.pdb", []byte("<html>not a structure</html>\n"), 415, "unsupported_format"},
		{"cif that is pdb", "x.cif", pdb, 415, "unsupported_format"},
		{"binary", "x.pdb", []byte{0x7f, 'E', 'L', 'F', 0, 0, 0}, 415, "unsupported_format"},
		{"gz that is not", "x.pdb.gz", pdb, 415, "unsupported_format"},
		{"empty", "x.pdb", nil, 415, "unsupported_format"},
		{"too big", "big.pdb", bytes.Repeat(line, (300<<10)/len(line)), 413, "too_large"},
		{"gzip bomb", "bomb.pdb.gz", bomb.Bytes(), 413, "too_large"},
		{"absurd name", strings.Repeat("a", 300) + ".pdb", pdb, 400, "invalid_request"},
	}
	for _, tc := range uploadRows {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := d.upload(t, alice, tc.filename, tc.content, nil)
			p := decode[problem](t, body)
			if resp.StatusCode != tc.status || p.Code != tc.code {
				t.Errorf("upload %s = %d %s, want %d %s", tc.name, resp.StatusCode, body, tc.status, tc.code)
			}
		})
	}

	t.Run("wrong content type", func(t *testing.T) {
		req, _ := http.NewRequest("POST", d.URL+"/api/sessions", strings.NewReader("1hpv"))
		req.Header.Set("Content-Type", "text/plain")
		resp, body := d.send(t, req, alice)
		if resp.StatusCode != 415 {
			t.Errorf("text/plain create = %d %s, want 415", resp.StatusCode, body)
		}
	})

	// Nothing was left behind by any of the above.
	recs, _, _ := d.DB.Sessions(context.Background(), store.SessionFilter{})
	if len(recs) != 0 {
		t.Errorf("refused creates left %d records", len(recs))
	}
	for _, sub := range []string{"spool", "sessions"} {
		if left, _ := os.ReadDir(filepath.Join(d.Dir, sub)); len(left) != 0 {
			t.Errorf("refused creates left %d files in %s", len(left), sub)
		}
	}
	if pids := chimeraxtest.Children(d.Dir); len(pids) != 0 {
		t.Errorf("refused creates left children %v", pids)
	}

	// A traversal in the client's file name is only a display name.
	resp, body := d.upload(t, alice, "../../../../etc/passwd.pdb", mustRead(t, "pept.pdb"), nil)
	s := decode[server.SessionView](t, body)
	if resp.StatusCode != 201 || s.Structure.Filename != "passwd.pdb" {
		t.Errorf("traversal name = %d %s, want 201 with display name passwd.pdb", resp.StatusCode, body)
	}
}

func TestOpenFailureAnswers422(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{"pdb_id": "9zzz"})
	p := decode[problem](t, body)
	if resp.StatusCode != 422 || p.Code != "open_failed" || !strings.Contains(p.Detail, "9zzz") || p.SessionID == "" {
		t.Fatalf("create of a missing entry = %d %s, want 422 open_failed naming the id", resp.StatusCode, body)
	}
	_, body = d.call(t, "GET", "/api/sessions/"+p.SessionID, alice, nil)
	s := decode[server.SessionView](t, body)
	if s.State != store.StateFailed || s.TerminationReason != store.ReasonOpenFailed || !strings.Contains(s.Error, "9zzz") {
		t.Errorf("failed session = %s", body)
	}
}

func TestStartFailureAnswers504(t *testing.T) {
	d := MustServe(t, options{
		sv:    func(c *chimerax.Config) { c.StartTimeout = 2 * time.Second },
		knobs: []string{"CHIMERAX_SIM_NO_PORT=1"},
	})
	alice := d.mustUser(t, "alice", false)
	resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{})
	p := decode[problem](t, body)
	if resp.StatusCode != 504 || p.Code != "start_timeout" || !strings.Contains(p.Detail, "REST port") {
		t.Errorf("create with a silent child = %d %s, want 504 start_timeout", resp.StatusCode, body)
	}
}

func TestAdminSocketAndUsers(t *testing.T) {
	d := MustServe(t, options{})
	bob := d.mustUser(t, "bob", false)

	post := func(path, body string) (*http.Response, []byte) {
		resp, err := d.Admin.Post("http://chimerad"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(bytes.Buffer)
		b.ReadFrom(resp.Body)
		return resp, b.Bytes()
	}
	resp, body := post("/api/users", `{"name":"carol"}`)
	created := decode[struct {
		User  store.User
		Token string
	}](t, body)
	if resp.StatusCode != 201 || !strings.HasPrefix(created.Token, "chx_") {
		t.Fatalf("add user over socket = %d %s", resp.StatusCode, body)
	}
	if resp, _ := d.call(t, "GET", "/api/sessions", created.Token, nil); resp.StatusCode != 200 {
		t.Errorf("new token = %d, want 200", resp.StatusCode)
	}
	// Users are admin business: a plain user gets 403 over TCP.
	if resp, _ := d.call(t, "POST", "/api/users", bob, map[string]any{"name": "mallory"}); resp.StatusCode != 403 {
		t.Errorf("user adds user = %d, want 403", resp.StatusCode)
	}

	// Removing a user revokes the token and ends their live sessions.
	_, body = d.call(t, "POST", "/api/sessions", created.Token, map[string]any{})
	s := decode[server.SessionView](t, body)
	req, _ := http.NewRequest("DELETE", "http://chimerad/api/users/carol", nil)
	resp, err := d.Admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("remove user = %d", resp.StatusCode)
	}
	if resp, _ := d.call(t, "GET", "/api/sessions", created.Token, nil); resp.StatusCode != 401 {
		t.Errorf("removed user's token = %d, want 401", resp.StatusCode)
	}
	rec, _ := d.DB.Session(context.Background(), s.ID)
	if rec.State != store.StateTerminated || rec.TerminationReason != store.ReasonUserRemoved {
		t.Errorf("removed user's session = %q/%q, want terminated/user_removed", rec.State, rec.TerminationReason)
	}
}

func TestRecordsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	d := MustServe(t, options{dir: dir})
	alice := d.mustUser(t, "alice", false)
	_, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{"name": "kept"})
	live := decode[server.SessionView](t, body)
	_, body = d.call(t, "POST", "/api/sessions", alice, map[string]any{})
	deleted := decode[server.SessionView](t, body)
	d.call(t, "DELETE", "/api/sessions/"+deleted.ID, alice, nil)
	d.close()

	d = MustServe(t, options{dir: dir})
	_, body = d.call(t, "GET", "/api/sessions", alice, nil)
	list := decode[struct{ Sessions []server.SessionView }](t, body)
	if len(list.Sessions) != 2 {
		t.Fatalf("after restart: %d sessions, want 2", len(list.Sessions))
	}
	for _, s := range list.Sessions {
		if s.State == store.StateReady {
			t.Errorf("session %s reported ready after a restart", s.ID)
		}
	}
	_, body = d.call(t, "GET", "/api/sessions/"+live.ID, alice, nil)
	if s := decode[server.SessionView](t, body); s.Name != "kept" || s.TerminationReason != store.ReasonShutdown {
		t.Errorf("kept session after restart = %s", body)
	}
}

// TestCreateFromMirror: chimerad downloads the entry itself and opens the
// local file; an unknown id is a 404 and a mirror outage a 502 naming the
// mirrors, neither leaving a record behind.
func TestCreateFromMirror(t *testing.T) {
	mirror := chimeraxtest.StartPDBMirror("../testdata")
	defer mirror.Close()
	d := MustServe(t, options{sv: func(c *chimerax.Config) {
		c.PDB = structure.NewFetcher(filepath.Join(c.DataDir, "pdb-cache"), []string{mirror.Template()})
	}})
	alice := d.mustUser(t, "alice", false)

	for range 2 {
		resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{"pdb_id": "3AL1"})
		s := decode[server.SessionView](t, body)
		if resp.StatusCode != 201 || s.Structure.PDBID != "3al1" || s.Structure.Format != "mmcif" {
			t.Fatalf("create from mirror = %d %s", resp.StatusCode, body)
		}
		d.call(t, "DELETE", "/api/sessions/"+s.ID, alice, nil)
	}
	if got := mirror.Requests.Load(); got != 1 {
		t.Errorf("two creates made %d mirror requests, want 1 (cache)", got)
	}

	resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{"pdb_id": "9zzz"})
	if p := decode[problem](t, body); resp.StatusCode != 404 || p.Code != "pdb_not_found" {
		t.Errorf("unknown entry = %d %s, want 404 pdb_not_found", resp.StatusCode, body)
	}
	mirror.Down.Store(true)
	resp, body = d.call(t, "POST", "/api/sessions", alice, map[string]any{"pdb_id": "1abc"})
	if p := decode[problem](t, body); resp.StatusCode != 502 || p.Code != "pdb_unavailable" || !strings.Contains(p.Detail, "127.0.0.1") {
		t.Errorf("mirror outage = %d %s, want 502 pdb_unavailable naming the mirror", resp.StatusCode, body)
	}
	recs, _, _ := d.DB.Sessions(context.Background(), store.SessionFilter{})
	if len(recs) != 2 {
		t.Errorf("records = %d, want only the 2 successful creates", len(recs))
	}
}
