//go:build linux

package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/server"
	"github.com/rs/zerolog"
)

// apiTimeRE is how the API writes every time: RFC 3339, UTC, milliseconds.
var apiTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// TestSessionJSONShape: a session's JSON has every documented field, null
// when empty (never absent), and every time in UTC with milliseconds;
// ?state=live lists the live sessions only.
func TestSessionJSONShape(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	live := d.mustSession(t, alice, "")
	ended := d.mustSession(t, alice, "")
	d.call(t, "DELETE", "/api/sessions/"+ended.ID, alice, nil)

	fields := []string{"id", "owner", "name", "state", "engine", "structure", "created_at", "ready_at",
		"last_activity_at", "idle_timeout_seconds", "idle_expires_at", "max_lifetime_expires_at",
		"terminated_at", "termination_reason", "error", "checkpoint_at", "resumed_from", "process",
		"stats", "from_pool", "execution_state", "busy_since", "restarts", "queue_position"}
	for _, id := range []string{live.ID, ended.ID} {
		_, body := d.call(t, "GET", "/api/sessions/"+id, alice, nil)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		for _, f := range fields {
			v, ok := m[f]
			if !ok {
				t.Errorf("session %s: field %q absent, want it present (null when empty)", id, f)
				continue
			}
			if s, isString := v.(string); isString && strings.HasSuffix(f, "_at") && !apiTimeRE.MatchString(s) {
				t.Errorf("session %s: %s = %q, want RFC 3339 UTC with milliseconds", id, f, s)
			}
		}
		if len(m) != len(fields) {
			t.Errorf("session %s has %d fields, want the %d documented", id, len(m), len(fields))
		}
	}
	_, body := d.call(t, "GET", "/api/sessions?state=live", alice, nil)
	list := decode[struct{ Sessions []server.SessionView }](t, body)
	if len(list.Sessions) != 1 || list.Sessions[0].ID != live.ID {
		t.Errorf("?state=live = %s, want only %s", body, live.ID)
	}
}

// sseEvent is one event as read off the wire, with its id.
type sseEvent struct {
	id, typ string
	data    map[string]any
}

// readSSE opens a session's event stream, with Last-Event-ID if given, and
// sends its events (not comments) on the channel until it ends.
func readSSE(t *testing.T, d *daemon, token, id, lastID string) (<-chan sseEvent, func()) {
	t.Helper()
	req, _ := http.NewRequest("GET", d.URL+"/api/sessions/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("events = %v %v", resp, err)
	}
	out := make(chan sseEvent, 300)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data)
			case line == "":
				if ev.typ != "" {
					out <- ev
				}
				ev = sseEvent{}
			}
		}
	}()
	return out, func() { resp.Body.Close() }
}

// nextSSE returns the next event or fails.
func nextSSE(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event in 10 s")
	}
	return sseEvent{}
}

// TestEventsResume: every event has an increasing id; a client that
// reconnects with Last-Event-ID gets exactly what it missed, in order; one
// whose id the kept events no longer reach gets a reset event and the
// state. Event times are in UTC with milliseconds.
func TestEventsResume(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	s := d.mustSession(t, alice, "1hpv.pdb")

	events, stop := readSSE(t, d, alice, s.ID, "")
	if first := nextSSE(t, events); first.typ != "state" || first.id != "" {
		t.Errorf("first event = %+v, want the state, without an id", first)
	}
	d.command(t, alice, s.ID, "color red")
	var last uint64
	for range 3 { // busy, idle, command
		ev := nextSSE(t, events)
		n, err := strconv.ParseUint(ev.id, 10, 64)
		if err != nil || n <= last {
			t.Errorf("event %s id %q, want a number above %d", ev.typ, ev.id, last)
		}
		if ts, _ := ev.data["time"].(string); !apiTimeRE.MatchString(ts) {
			t.Errorf("event %s time %q, want UTC with milliseconds", ev.typ, ts)
		}
		last = n
	}
	stop()

	// Missed while away: two commands, six events.
	d.command(t, alice, s.ID, "color blue")
	d.command(t, alice, s.ID, "view")
	events, stop = readSSE(t, d, alice, s.ID, strconv.FormatUint(last, 10))
	var got []string
	for range 6 {
		ev := nextSSE(t, events)
		if n, _ := strconv.ParseUint(ev.id, 10, 64); n != last+1 {
			t.Errorf("replayed event id %s, want %d", ev.id, last+1)
		} else {
			last = n
		}
		if ev.typ == chimerax.EventCommand {
			got = append(got, ev.data["command"].(map[string]any)["command"].(string))
		}
	}
	if strings.Join(got, "|") != "color blue|view" {
		t.Errorf("replayed commands %q, want color blue, view", got)
	}
	stop()

	// Too far back (past the events kept) or not this session's: reset.
	for i := range 150 { // 3 events a command: past the 256 kept
		d.command(t, alice, s.ID, "turn y "+strconv.Itoa(i))
	}
	events, stop = readSSE(t, d, alice, s.ID, "1")
	if ev := nextSSE(t, events); ev.typ != server.EventReset {
		t.Errorf("reconnect from id 1 after 450 events: %s, want reset", ev.typ)
	}
	if ev := nextSSE(t, events); ev.typ != "state" || ev.data["state"] != "ready" {
		t.Errorf("after reset: %+v, want the state", ev)
	}
	stop()
}

// TestKnowBeforeYouTry: /api/me validates a token and says who it is and
// what it may; /api/capabilities says what the daemon allows.
func TestKnowBeforeYouTry(t *testing.T) {
	d := MustServe(t, options{sv: func(c *chimerax.Config) { c.MaxSessionsPerUser = 3 }})
	alice := d.mustUser(t, "alice", false)
	d.mustSession(t, alice, "")
	resp, body := d.call(t, "GET", "/api/me", alice, nil)
	me := decode[struct {
		Name   string
		Admin  bool
		Live   int
		Limits struct {
			MaxSessions        int   `json:"max_sessions"`
			IdleTimeoutSeconds int64 `json:"idle_timeout_seconds"`
		}
	}](t, body)
	if resp.StatusCode != 200 || me.Name != "alice" || me.Admin || me.Live != 1 || me.Limits.MaxSessions != 3 || me.Limits.IdleTimeoutSeconds != 1800 {
		t.Errorf("me = %d %s", resp.StatusCode, body)
	}
	if resp, _ := d.call(t, "GET", "/api/me", "chx_wrong", nil); resp.StatusCode != 401 {
		t.Errorf("me with a wrong token = %d, want 401", resp.StatusCode)
	}
	var caps struct {
		Engine   struct{ Name, Version *string }
		Commands struct{ Allow []string }
		Uploads  struct {
			Formats  map[string][]string
			MaxBytes int64 `json:"max_bytes"`
		}
		Snapshots struct {
			MaxWidth int `json:"max_width"`
		}
	}
	chimeraxtest.WaitFor(t, 10*time.Second, "the engine's version known", func() bool {
		_, body = d.call(t, "GET", "/api/capabilities", alice, nil)
		caps = decode[struct {
			Engine   struct{ Name, Version *string }
			Commands struct{ Allow []string }
			Uploads  struct {
				Formats  map[string][]string
				MaxBytes int64 `json:"max_bytes"`
			}
			Snapshots struct {
				MaxWidth int `json:"max_width"`
			}
		}](t, body)
		return caps.Engine.Version != nil
	})
	if *caps.Engine.Name != "simulator" || *caps.Engine.Version == "" || !slicesContain(caps.Commands.Allow, "color") ||
		slicesContain(caps.Commands.Allow, "runscript") || len(caps.Uploads.Formats["mmcif"]) == 0 ||
		caps.Uploads.MaxBytes != 256<<20 || caps.Snapshots.MaxWidth != chimerax.MaxSnapshotSide {
		t.Errorf("capabilities = %s", body)
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestPatchSession: a live session's name and idle timeout change, within
// the range; an ended one answers 409; another user's 404.
func TestPatchSession(t *testing.T) {
	d := MustServe(t, options{sv: func(c *chimerax.Config) { c.MaxIdleTimeout = time.Hour }})
	alice, bob := d.mustUser(t, "alice", false), d.mustUser(t, "bob", false)
	s := d.mustSession(t, alice, "")
	resp, body := d.call(t, "PATCH", "/api/sessions/"+s.ID, alice, map[string]any{"name": "renamed", "idle_timeout_seconds": 600})
	got := decode[server.SessionView](t, body)
	if resp.StatusCode != 200 || got.Name != "renamed" || got.IdleTimeoutSeconds != 600 || !got.IdleExpiresAt.Equal(got.LastActivityAt.Add(10*time.Minute)) {
		t.Errorf("patch = %d %s", resp.StatusCode, body)
	}
	if got := d.get(t, alice, s.ID); got.Name != "renamed" || got.IdleTimeoutSeconds != 600 {
		t.Errorf("after patch: %+v", got)
	}
	for _, bad := range []map[string]any{{"idle_timeout_seconds": 7200}, {"name": "a\x00b"}, {"state": "ready"}} {
		if resp, body := d.call(t, "PATCH", "/api/sessions/"+s.ID, alice, bad); resp.StatusCode != 400 {
			t.Errorf("patch %v = %d %s, want 400", bad, resp.StatusCode, body)
		}
	}
	if resp, _ := d.call(t, "PATCH", "/api/sessions/"+s.ID, bob, map[string]any{"name": "x"}); resp.StatusCode != 404 {
		t.Errorf("bob's patch = %d, want 404", resp.StatusCode)
	}
	d.call(t, "DELETE", "/api/sessions/"+s.ID, alice, nil)
	if resp, body := d.call(t, "PATCH", "/api/sessions/"+s.ID, alice, map[string]any{"name": "x"}); resp.StatusCode != 409 || !strings.Contains(string(body), "was ended by its owner") {
		t.Errorf("patch of an ended session = %d %s, want 409 saying it was ended", resp.StatusCode, body)
	}
}

// TestCORSExplainsItself: a preflight from an origin not allowed answers
// 403 origin_not_allowed naming the setting; an allowed one gets the CORS
// answer, PATCH and Last-Event-ID included.
func TestCORSExplainsItself(t *testing.T) {
	d := MustServe(t, options{server: func(c *server.Config) { c.AllowedOrigins = []string{"http://localhost:3000"} }})
	preflight := func(origin string) (*http.Response, []byte) {
		req, _ := http.NewRequest("OPTIONS", d.URL+"/api/sessions", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "PATCH")
		return d.send(t, req, "")
	}
	resp, body := preflight("http://localhost:4000")
	if resp.StatusCode != 403 || !strings.Contains(string(body), "origin_not_allowed") || !strings.Contains(string(body), "cors.allowed_origins") {
		t.Errorf("preflight from another origin = %d %s, want 403 origin_not_allowed naming cors.allowed_origins", resp.StatusCode, body)
	}
	resp, _ = preflight("http://localhost:3000")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PATCH") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Last-Event-ID") {
		t.Errorf("preflight from the allowed origin = %d %v", resp.StatusCode, resp.Header)
	}
}

// TestFilesOut: what a session saves can be listed and downloaded with its
// content type and Content-Disposition; never its log or chimerad's own
// files; names are checked as save's are; the latest checkpoint downloads.
func TestFilesOut(t *testing.T) {
	d := MustServe(t, options{})
	alice, bob := d.mustUser(t, "alice", false), d.mustUser(t, "bob", false)
	s := d.mustSession(t, alice, "1hpv.pdb")
	d.command(t, alice, s.ID, "save shot.png width 64 height 48")
	d.command(t, alice, s.ID, "save model.pdb")
	_, body := d.call(t, "GET", "/api/sessions/"+s.ID+"/files", alice, nil)
	list := decode[struct {
		Files []struct {
			Name      string
			SizeBytes int64 `json:"size_bytes"`
			URL       string
		}
		Checkpoint *struct{ URL string }
	}](t, body)
	var names []string
	for _, f := range list.Files {
		names = append(names, f.Name)
		if f.SizeBytes == 0 || !strings.Contains(f.URL, "sig=") {
			t.Errorf("file %+v, want a size and a signed URL", f)
		}
	}
	if strings.Join(names, ",") != "model.pdb,shot.png" || list.Checkpoint != nil {
		t.Errorf("files = %s, want model.pdb and shot.png only (no log, no structure.pdb), no checkpoint", body)
	}
	resp, body := d.call(t, "GET", "/api/sessions/"+s.ID+"/files/shot.png", alice, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(string(body), "\x89PNG") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), `attachment; filename="shot.png"`) {
		t.Errorf("download = %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body := d.call(t, "GET", "/api/sessions/"+s.ID+"/files/model.pdb", alice, nil); resp.StatusCode != 200 ||
		resp.Header.Get("Content-Type") != "chemical/x-pdb" || !strings.Contains(string(body), "ATOM") {
		t.Errorf("download of the saved structure = %d %v", resp.StatusCode, resp.Header)
	}
	for name, want := range map[string]int{"chimerax.log": 404, "structure.pdb": 404, "..%2Fchimerad.db": 404, ".hidden.png": 400, "nothere.png": 404} {
		if resp, body := d.call(t, "GET", "/api/sessions/"+s.ID+"/files/"+name, alice, nil); resp.StatusCode != want {
			t.Errorf("download %s = %d %s, want %d", name, resp.StatusCode, body, want)
		}
	}
	if resp, _ := d.call(t, "GET", "/api/sessions/"+s.ID+"/files/shot.png", bob, nil); resp.StatusCode != 404 {
		t.Errorf("bob's download = %d, want 404", resp.StatusCode)
	}
	if resp, body := d.call(t, "GET", "/api/sessions/"+s.ID+"/checkpoint", alice, nil); resp.StatusCode != 409 || !strings.Contains(string(body), "no_checkpoint") {
		t.Errorf("checkpoint download without one = %d %s, want 409 no_checkpoint", resp.StatusCode, body)
	}
	d.call(t, "POST", "/api/sessions/"+s.ID+"/checkpoint", alice, nil)
	d.call(t, "DELETE", "/api/sessions/"+s.ID, alice, nil)
	resp, body = d.call(t, "GET", "/api/sessions/"+s.ID+"/checkpoint", alice, nil)
	if resp.StatusCode != 200 || len(body) == 0 || !strings.Contains(resp.Header.Get("Content-Disposition"), ".cxs") {
		t.Errorf("checkpoint of an ended session = %d %v, want the .cxs", resp.StatusCode, resp.Header)
	}
}

// TestSignedURLs: a signed URL reaches a session's snapshot, events and
// files without a token, for GET only, and stops working when it expires,
// when its user's token is rotated, and when the session ends. A token in
// a URL is refused; the access log never holds a signature.
func TestSignedURLs(t *testing.T) {
	var logs lockedBuffer
	logger := zerolog.New(&logs)
	d := MustServe(t, options{logger: &logger, server: func(c *server.Config) { c.SignedURLLifetime = 2 * time.Second }})
	alice, bob := d.mustUser(t, "alice", false), d.mustUser(t, "bob", false)
	s := d.mustSession(t, alice, "1hpv.pdb")
	d.command(t, alice, s.ID, "save shot.png width 64 height 48")
	_, body := d.call(t, "POST", "/api/sessions/"+s.ID+"/urls", alice, nil)
	urls := decode[struct {
		Snapshot, Events string
		Files            []struct{ Name, URL string }
	}](t, body)
	get := func(path string) *http.Response {
		resp, err := http.Get(d.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := get(urls.Snapshot + "&width=100&height=80"); r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/png" {
		t.Errorf("snapshot by signed URL = %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if len(urls.Files) != 1 || get(urls.Files[0].URL).StatusCode != 200 {
		t.Errorf("file by signed URL: %+v", urls.Files)
	}
	// The signature is bound to its path: it opens no other route.
	other := strings.Replace(urls.Snapshot, "/snapshot?", "/logs?", 1)
	if r := get(other); r.StatusCode != 401 {
		t.Errorf("the snapshot's signature on /logs = %d, want 401", r.StatusCode)
	}
	if r := get(strings.Replace(urls.Snapshot, "/snapshot?", "/files/shot.png?", 1)); r.StatusCode != 401 {
		t.Errorf("the snapshot's signature on a file = %d, want 401", r.StatusCode)
	}
	if r := get("/api/sessions/" + s.ID + "/snapshot?access_token=" + alice); r.StatusCode != 400 {
		t.Errorf("a token in the URL = %d, want 400", r.StatusCode)
	}
	if resp, _ := d.call(t, "POST", "/api/sessions/"+s.ID+"/urls", bob, nil); resp.StatusCode != 404 {
		t.Errorf("bob's signed URLs for alice's session = %d, want 404", resp.StatusCode)
	}
	// Expiry.
	chimeraxtest.WaitFor(t, 10*time.Second, "the signed URL refused past its 2 s lifetime", func() bool {
		return get(urls.Snapshot).StatusCode == 401
	})
	// Token rotation.
	_, body = d.call(t, "POST", "/api/sessions/"+s.ID+"/urls", alice, nil)
	fresh := decode[struct{ Snapshot string }](t, body).Snapshot
	if r := get(fresh); r.StatusCode != 200 {
		t.Fatalf("fresh signed URL = %d", r.StatusCode)
	}
	if _, err := d.DB.RotateToken(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if r := get(fresh); r.StatusCode != 401 {
		t.Errorf("signed URL after the token's rotation = %d, want 401", r.StatusCode)
	}
	if strings.Contains(logs.String(), "sig=") {
		t.Errorf("the access log holds a signature:\n%s", logs.String())
	}
}

// TestSignedURLEndsWithSession: a signed URL stops when its session ends.
func TestSignedURLEndsWithSession(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	s := d.mustSession(t, alice, "")
	_, body := d.call(t, "POST", "/api/sessions/"+s.ID+"/urls", alice, nil)
	snap := decode[struct{ Snapshot string }](t, body).Snapshot
	d.call(t, "DELETE", "/api/sessions/"+s.ID, alice, nil)
	resp, err := http.Get(d.URL + snap)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 409 {
		t.Errorf("signed URL of an ended session = %d, want 409", resp.StatusCode)
	}
}

// TestModelNamedAsUploaded: in ChimeraX the model has the client's file
// name, not chimerad's.
func TestModelNamedAsUploaded(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	resp, body := d.upload(t, alice, "HIV protease (1hpv).pdb", mustRead(t, "1hpv.pdb"), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("upload = %d %s", resp.StatusCode, body)
	}
	s := decode[server.SessionView](t, body)
	_, out := d.command(t, alice, s.ID, "info models")
	if !strings.Contains(string(out), `"value":"HIV protease (1hpv).pdb"`) {
		t.Errorf("info models = %s, want the model named as uploaded", out)
	}
}

// lockedBuffer is a log sink safe for the daemon's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
