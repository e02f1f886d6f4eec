//go:build linux

package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/server"
	"github.com/chimerad/chimerad/store"
)

// commandResult is the answer of POST /api/sessions/{id}/commands.
type commandResult struct {
	OK         bool                `json:"ok"`
	Log        map[string][]string `json:"log"`
	JSONValues []json.RawMessage   `json:"json_values"`
	Error      *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// mustSession creates a ready session of the token's user, from a testdata
// file ("" for an empty session).
func (d *daemon) mustSession(tb testing.TB, token, file string) server.SessionView {
	tb.Helper()
	var resp *http.Response
	var body []byte
	if file == "" {
		resp, body = d.call(tb, "POST", "/api/sessions", token, map[string]any{})
	} else {
		resp, body = d.upload(tb, token, file, mustRead(tb, file), nil)
	}
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	return decode[server.SessionView](tb, body)
}

// command runs a command line in a session through the API.
func (d *daemon) command(tb testing.TB, token, id, line string) (*http.Response, []byte) {
	tb.Helper()
	return d.call(tb, "POST", "/api/sessions/"+id+"/commands", token, map[string]string{"command": line})
}

func TestCommandsRelayResults(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	bob := d.mustUser(t, "bob", false)
	s := d.mustSession(t, alice, "1hpv.pdb")

	resp, body := d.command(t, alice, s.ID, "info models")
	res := decode[commandResult](t, body)
	if resp.StatusCode != 200 || !res.OK || res.Error != nil || len(res.JSONValues) != 1 ||
		!strings.Contains(strings.Join(res.Log["note"], ""), "model id #1") {
		t.Errorf("info models = %d %s, want 200 ok with a note naming #1 and one json value", resp.StatusCode, body)
	}
	for _, level := range []string{"note", "warning", "error", "bug"} {
		if _, ok := res.Log[level]; !ok {
			t.Errorf("log has no %q: %s", level, body)
		}
	}

	// ChimeraX's own errors come back in "error", with 200.
	for _, tc := range []struct{ line, want string }{
		{"open nothere.pdb", "No such file/path: nothere.pdb"},
		{"open 9zzz", "HTTP Error 404"},
		{"close #5", ""},
	} {
		resp, body := d.command(t, alice, s.ID, tc.line)
		res := decode[commandResult](t, body)
		if tc.want == "" {
			if resp.StatusCode != 200 {
				t.Errorf("%q = %d %s, want 200", tc.line, resp.StatusCode, body)
			}
			continue
		}
		if resp.StatusCode != 200 || res.OK || res.Error == nil || !strings.Contains(res.Error.Message, tc.want) {
			t.Errorf("%q = %d %s, want 200 with error %q", tc.line, resp.StatusCode, body, tc.want)
		}
		if bytes.Contains(body, []byte(d.Dir)) {
			t.Errorf("%q: the answer shows the data directory: %s", tc.line, body)
		}
	}

	// Allowed commands pass, one at a time or several on a line.
	for _, line := range []string{
		"view", "color red", "cartoon; show :1-10 atoms", "turn y 30", "style stick", "hide atoms",
		"select /A:10-20", "label #1 text 'hello; world'", "lighting soft", "view; # a comment; runscript x",
		"open 1hpv", "open pdb:1hpv format pdb", "save image.png width 64 height 64", "save copy.cxs",
		"open copy.cxs", "close #2",
	} {
		resp, body := d.command(t, alice, s.ID, line)
		if res := decode[commandResult](t, body); resp.StatusCode != 200 || !res.OK {
			t.Errorf("allowed %q = %d %s, want 200 ok", line, resp.StatusCode, body)
		}
	}

	for _, tc := range []struct {
		name, token, body string
		status            int
		code              string
	}{
		{"no command", alice, `{}`, 400, "invalid_request"},
		{"empty body", alice, ``, 400, "invalid_request"},
		{"unknown field", alice, `{"command": "view", "cmd": "x"}`, 400, "invalid_request"},
		{"not JSON", alice, `command=view`, 400, "invalid_request"},
		{"not a string", alice, `{"command": 1}`, 400, "invalid_request"},
		{"no command on the line", alice, `{"command": "  ;  "}`, 400, "invalid_request"},
		{"too large", alice, `{"command": "` + strings.Repeat("x", 70<<10) + `"}`, 413, "too_large"},
		{"another user's session", bob, `{"command": "view"}`, 404, "session_not_found"},
	} {
		resp, body := d.call(t, "POST", "/api/sessions/"+s.ID+"/commands", tc.token, tc.body)
		if p := decode[problem](t, body); resp.StatusCode != tc.status || p.Code != tc.code {
			t.Errorf("%s: = %d %s, want %d %s", tc.name, resp.StatusCode, body, tc.status, tc.code)
		}
	}
	d.call(t, "DELETE", "/api/sessions/"+s.ID, alice, nil)
	resp, body = d.command(t, alice, s.ID, "view")
	if p := decode[problem](t, body); resp.StatusCode != http.StatusConflict || p.Code != "session_not_live" {
		t.Errorf("command on an ended session = %d %s, want 409 session_not_live", resp.StatusCode, body)
	}
}

// TestCommandInjectionRefused sends each injection form of PROTOCOL.md §4
// to a child that crashes on the first command it receives: every one must
// be refused with 403, and the child must still be alive afterwards.
func TestCommandInjectionRefused(t *testing.T) {
	d := MustServe(t, options{knobs: []string{"CHIMERAX_SIM_CRASH_AFTER=0"}})
	alice := d.mustUser(t, "alice", false)
	s := d.mustSession(t, alice, "")

	for _, tc := range []struct{ line, names string }{
		// ; separates commands outside quotes.
		{"open 1abc;runscript /tmp/x.py", "runscript"},
		{"view; runscript /tmp/x.py", "runscript"},
		{`label #1 text "a" ; runscript /tmp/x.py`, "runscript"},
		{`open "a;b.pdb" ; runscript /tmp/x.py`, "runscript"},
		{`view "x";runscript /tmp/x.py`, "semicolon"},
		// Comments: # starts one only where a command starts.
		{"view #1;runscript /tmp/x.py", "runscript"},
		{"color red #c; runscript /tmp/x.py", "runscript"},
		// Line breaks are spaces to the REST server.
		{"view\nrunscript /tmp/x.py", "line break"},
		{"view\r\n;runscript /tmp/x.py", "runscript"},
		// Prefix completion, case and quoting of the command word.
		{"runs /tmp/x.py", `"runs" abbreviates runscript`},
		{"run /tmp/x.py", "abbreviates runscript"},
		{"RUNSCRIPT /tmp/x.py", "runscript"},
		{"Runscript /tmp/x.py", "runscript"},
		{`"runscript" /tmp/x.py`, "runscript"},
		{"rem rest start port 8080", "remotecontrol"},
		{"toolsh install x", "toolshed"},
		{"sav /tmp/x.png", "abbreviates save"},
		{"op /etc/passwd", "abbreviates"},
		{"ex", "abbreviates exit"},
		// Dangerous commands.
		{"runscript /tmp/x.py", "runscript"},
		{"pip install requests", "pip"},
		{"toolshed install x", "toolshed"},
		{"devel build /tmp/x", "devel"},
		{"devel install /tmp/x", "devel"},
		{"cd /", "cd"},
		{"alias x runscript /tmp/x.py", "alias"},
		{"remotecontrol rest stop", "remotecontrol"},
		{"remotecontrol xmlrpc on address 0.0.0.0", "remotecontrol"},
		{"meeting start", "meeting"},
		{"boltz install", "boltz"},
		{"openfold install", "openfold"},
		{"shell", "shell"},
		{"python", "python"},
		{"system ls", "system"},
		{"exit", "exit"},
		{"quit", "quit"},
		{"info notify start models url http://127.0.0.1:9/", "info notify"},
		{"info models saveFile /tmp/x.txt", "saveFile"},
		{"hbonds ligand saveFile /tmp/x.txt", "saveFile"},
		// open: no URLs, no scripts, nothing outside the session directory.
		{"open http://127.0.0.1:1234/run?command=runscript%20/tmp/x.py", "URLs"},
		{"open https://example.org/x.py", "URLs"},
		{"open ftp://example.org/x.pdb", "URLs"},
		{"open /tmp/x.py", "outside the session directory"},
		{"open x.py", "want a file ending in"},
		{"open x.pyc", "want a file ending in"},
		{"open x.pyo", "want a file ending in"},
		{"open x.cxc", "want a file ending in"},
		{"open x.pdb format python", "python"},
		{"open 1abc format python", "python"},
		{"open /etc/passwd", "outside the session directory"},
		{"open ../../x.pdb", ".. leaves"},
		{"open ~/x.pdb", "~ and $"},
		{"open $HOME/x.pdb", "~ and $"},
		{"open *.pdb", "wildcards"},
		{"open home/.config/x.pdb", "hidden"},
		// save only into the session directory.
		{"save /tmp/x.png", "outside the session directory"},
		{"save ../x.png", ".. leaves"},
		{"save home/chimerax_start/x.py", "want a file ending in"},
		// Escapes, invisible characters, control characters.
		{`label #1 text "a\x3b runscript /tmp/x.py"`, "backslash"},
		{"view\u2003runscript /tmp/x.py", "U+2003"},
		{"view\u200b;runscript /tmp/x.py", "U+200B"},
		{"view\x00; runscript /tmp/x.py", "U+0000"},
		{`label #1 text "{0.__class__}"`, "__"},
	} {
		resp, body := d.command(t, alice, s.ID, tc.line)
		p := decode[problem](t, body)
		if resp.StatusCode != http.StatusForbidden || p.Code != "command_refused" || !strings.Contains(p.Detail, tc.names) {
			t.Errorf("%q = %d %s, want 403 command_refused naming %q", tc.line, resp.StatusCode, body, tc.names)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%q: Content-Type %q", tc.line, ct)
		}
	}
	_, body := d.call(t, "GET", "/api/sessions/"+s.ID, alice, nil)
	if got := decode[server.SessionView](t, body); got.State != store.StateReady {
		t.Fatalf("after the refused lines the session is %s (%s), want ready: one reached ChimeraX", got.State, got.Error)
	}
	// The canary: an allowed command reaches the child, which crashes.
	d.command(t, alice, s.ID, "view")
	chimeraxtest.WaitFor(t, 10*time.Second, "the canary child crashed", func() bool {
		_, body := d.call(t, "GET", "/api/sessions/"+s.ID, alice, nil)
		return decode[server.SessionView](t, body).TerminationReason == store.ReasonCrashed
	})
}

func TestSnapshotEndToEnd(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	s := d.mustSession(t, alice, "1hpv.pdb")
	for _, tc := range []struct {
		query         string
		width, height int
	}{
		{"", 800, 600},
		{"?width=320&height=240", 320, 240},
		{"?width=64", 64, 600},
	} {
		resp, body := d.call(t, "GET", "/api/sessions/"+s.ID+"/snapshot"+tc.query, alice, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("snapshot%s = %d %s %.200s", tc.query, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(body))
		if err != nil || cfg.Width != tc.width || cfg.Height != tc.height {
			t.Errorf("snapshot%s = %dx%d %v, want a %dx%d PNG", tc.query, cfg.Width, cfg.Height, err, tc.width, tc.height)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(d.Dir, "sessions", s.ID, "snapshot-*")); len(left) != 0 {
		t.Errorf("snapshot files left: %v", left)
	}
	for _, q := range []string{"?width=4097", "?height=100000", "?width=0", "?width=-5", "?width=abc", "?height=1.5"} {
		resp, body := d.call(t, "GET", "/api/sessions/"+s.ID+"/snapshot"+q, alice, nil)
		if p := decode[problem](t, body); resp.StatusCode != 400 || p.Code != "invalid_request" {
			t.Errorf("snapshot%s = %d %s, want 400", q, resp.StatusCode, body)
		}
	}
}

// addFile posts a file to a session.
func (d *daemon) addFile(tb testing.TB, token, id, filename string, content []byte, extra map[string]string) (*http.Response, []byte) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range extra {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", d.URL+"/api/sessions/"+id+"/files", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return d.send(tb, req, token)
}

func TestFilesEndToEnd(t *testing.T) {
	d := MustServe(t, options{server: func(c *server.Config) { c.MaxUploadBytes = 1 << 20 }})
	alice := d.mustUser(t, "alice", false)
	bob := d.mustUser(t, "bob", false)
	s := d.mustSession(t, alice, "1hpv.pdb")

	resp, body := d.addFile(t, alice, s.ID, "3al1.cif", mustRead(t, "3al1.cif"), nil)
	got := decode[server.FileResult](t, body)
	if resp.StatusCode != http.StatusCreated || !got.OK || got.Structure.Format != "mmcif" || got.Structure.Filename != "3al1.cif" {
		t.Fatalf("add file = %d %s, want 201 ok mmcif", resp.StatusCode, body)
	}
	_, body = d.command(t, alice, s.ID, "info models")
	if res := decode[commandResult](t, body); !strings.Contains(strings.Join(res.Log["note"], ""), "#2") {
		t.Errorf("after adding a file, info models = %s, want model #2", body)
	}

	for _, tc := range []struct {
		name, token, file string
		content           []byte
		extra             map[string]string
		status            int
		code              string
	}{
		{"a script", alice, "x.py", []byte("import os\n"), nil, 415, "unsupported_format"},
		{"a session file", alice, "x.cxs", mustRead(t, "1hpv.pdb"), nil, 415, "unsupported_format"},
		{"a lie", alice, "x.pdb", []byte("#!/bin/sh\nrm -rf /\n"), nil, 415, "unsupported_format"},
		{"too large", alice, "big.pdb", append(mustRead(t, "1hpv.pdb"), bytes.Repeat([]byte("REMARK\n"), 200<<10)...), nil, 413, "too_large"},
		{"another field", alice, "1hpv.pdb", mustRead(t, "1hpv.pdb"), map[string]string{"name": "x"}, 400, "invalid_request"},
		{"another user's session", bob, "1hpv.pdb", mustRead(t, "1hpv.pdb"), nil, 404, "session_not_found"},
		{"broken structure", alice, "broken.pdb", []byte("HEADER    x\nATOM      1  CA  ALA A   1     garbage\n"), nil, 422, "open_failed"},
	} {
		resp, body := d.addFile(t, tc.token, s.ID, tc.file, tc.content, tc.extra)
		if p := decode[problem](t, body); resp.StatusCode != tc.status || p.Code != tc.code {
			t.Errorf("%s: = %d %s, want %d %s", tc.name, resp.StatusCode, body, tc.status, tc.code)
		}
	}
	resp, body = d.call(t, "POST", "/api/sessions/"+s.ID+"/files", alice, map[string]string{"file": "x"})
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("JSON to files = %d %s, want 415", resp.StatusCode, body)
	}
	if left, _ := filepath.Glob(filepath.Join(d.Dir, "spool", "*")); len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(d.Dir, "sessions", s.ID, "upload-*")); len(left) != 1 {
		t.Errorf("session uploads = %v, want only the one ChimeraX opened", left)
	}
}

// sse reads a Server-Sent Events stream.
type sse struct {
	events   chan chimerax.Event
	comments atomic.Int64
	body     io.Closer
}

// mustEvents opens a session's event stream; it is closed at cleanup.
func mustEvents(tb testing.TB, url, token string) *sse {
	tb.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tb.Fatalf("events = %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	s := &sse{events: make(chan chimerax.Event, 100), body: resp.Body}
	tb.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, ":"):
				s.comments.Add(1)
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var ev chimerax.Event
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil || ev.Type != typ {
					ev.Type = "malformed: " + line
				}
				s.events <- ev
			}
		}
	}()
	return s
}

// next returns the next event but execution_state ones (which come around
// every command: nextAny sees them), or fails the test.
func (s *sse) next(tb testing.TB) chimerax.Event {
	tb.Helper()
	for {
		if ev := s.nextAny(tb); ev.Type != chimerax.EventExecutionState {
			return ev
		}
	}
}

// nextAny returns the next event, or fails the test.
func (s *sse) nextAny(tb testing.TB) chimerax.Event {
	tb.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			tb.Fatal("event stream ended")
		}
		return ev
	case <-time.After(20 * time.Second):
		tb.Fatal("no event within 20s")
	}
	return chimerax.Event{}
}

// ended reports whether the stream ends (after no more events) within d.
func (s *sse) ended(d time.Duration) bool {
	select {
	case _, ok := <-s.events:
		return !ok
	case <-time.After(d):
		return false
	}
}

// spawner is the goroutine that starts every ChimeraX child, for the
// daemon's (and the test binary's) whole life.
var spawner = goleak.IgnoreTopFunction("github.com/chimerad/chimerad/chimerax.spawner")

func TestEventsStream(t *testing.T) {
	// Registered first, so it runs last: after the daemon has stopped.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		goleak.VerifyNone(t, before, spawner)
	})
	d := MustServe(t, options{server: func(c *server.Config) { c.EventsHeartbeat = 20 * time.Millisecond }})
	alice := d.mustUser(t, "alice", false)
	bob := d.mustUser(t, "bob", false)
	s := d.mustSession(t, alice, "1hpv.pdb")
	url := d.URL + "/api/sessions/" + s.ID + "/events"

	resp, body := d.call(t, "GET", "/api/sessions/"+s.ID+"/events", bob, nil)
	if resp.StatusCode != 404 {
		t.Errorf("bob's events = %d %s, want 404", resp.StatusCode, body)
	}

	stream := mustEvents(t, url, alice)
	if ev := stream.next(t); ev.Type != "state" || ev.State != store.StateReady || ev.SessionID != s.ID {
		t.Errorf("first event = %+v, want state ready", ev)
	}
	d.command(t, alice, s.ID, "color red")
	d.command(t, alice, s.ID, "open nothere.pdb")
	if ev := stream.next(t); ev.Type != "command" || ev.Command.Command != "color red" || !ev.Command.OK {
		t.Errorf("event = %+v, want command color red ok", ev)
	}
	ev := stream.next(t)
	if ev.Type != "command" || ev.Command.OK || ev.Command.Error == nil || ev.Command.Command != "open nothere.pdb" {
		t.Errorf("event = %+v, want command open nothere.pdb failed", ev)
	}
	if resp, body := d.call(t, "POST", "/api/sessions/"+s.ID+"/checkpoint", alice, nil); resp.StatusCode != 201 {
		t.Fatalf("checkpoint = %d %s", resp.StatusCode, body)
	}
	if ev := stream.next(t); ev.Type != "checkpoint" || ev.Checkpoint == nil || ev.Checkpoint.SizeBytes == 0 {
		t.Errorf("event = %+v, want checkpoint", ev)
	}
	chimeraxtest.WaitFor(t, 5*time.Second, "heartbeats", func() bool { return stream.comments.Load() >= 2 })

	d.call(t, "DELETE", "/api/sessions/"+s.ID, alice, nil)
	if ev := stream.next(t); ev.Type != "state" || ev.State != store.StateStopping {
		t.Errorf("event = %+v, want state stopping", ev)
	}
	if ev := stream.next(t); ev.Type != "state" || ev.State != store.StateTerminated || ev.Reason != store.ReasonDeleted {
		t.Errorf("event = %+v, want state terminated deleted", ev)
	}
	if !stream.ended(5 * time.Second) {
		t.Error("the stream did not end with the session")
	}

	// A client that goes away ends its stream's handler.
	s2 := d.mustSession(t, alice, "")
	quiet := goleak.IgnoreCurrent()
	gone := mustEvents(t, d.URL+"/api/sessions/"+s2.ID+"/events", alice)
	gone.next(t)
	gone.body.Close()
	// (The session's watcher may start after Create returns.)
	goleak.VerifyNone(t, quiet, spawner, goleak.IgnoreTopFunction("github.com/chimerad/chimerad/chimerax.(*Supervisor).watch"))

	// An ended session's stream is its final state.
	stream = mustEvents(t, url, alice)
	if ev := stream.next(t); ev.State != store.StateTerminated {
		t.Errorf("ended session's event = %+v, want state terminated", ev)
	}
	if !stream.ended(5 * time.Second) {
		t.Error("an ended session's stream did not end")
	}

	// A stream outlives the server's read and write timeouts, and
	// Shutdown ends it.
	s = d.mustSession(t, alice, "")
	srv := d.Server.HTTPServer(false)
	srv.ReadTimeout, srv.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(srv, ln)
	stream = mustEvents(t, "http://"+ln.Addr().String()+"/api/sessions/"+s.ID+"/events", alice)
	stream.next(t)
	// Heartbeats every 20 ms keep coming for well past the 200 ms timeouts.
	start := time.Now()
	chimeraxtest.WaitFor(t, 10*time.Second, "heartbeats past the server timeouts", func() bool {
		return stream.comments.Load() >= 30 && time.Since(start) > 600*time.Millisecond
	})
	d.command(t, alice, s.ID, "view")
	if ev := stream.next(t); ev.Type != "command" {
		t.Errorf("event after the server timeouts = %+v, want command", ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with an open event stream = %v", err)
	}
	if !stream.ended(5 * time.Second) {
		t.Error("Shutdown did not end the stream")
	}
}

func TestCheckpointIdleEndResume(t *testing.T) {
	d := MustServe(t, options{sv: func(c *chimerax.Config) {
		c.SweepInterval = 50 * time.Millisecond
		c.IdleWarning = time.Second
	}})
	alice := d.mustUser(t, "alice", false)
	bob := d.mustUser(t, "bob", false)

	resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{"pdb_id": "1hpv", "name": "work", "idle_timeout_seconds": 2})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	s := decode[server.SessionView](t, body)
	stream := mustEvents(t, d.URL+"/api/sessions/"+s.ID+"/events", alice)
	stream.next(t) // ready
	d.command(t, alice, s.ID, "open 3al1 format pdb")
	stream.next(t) // command

	// Now nothing touches the session: it warns, checkpoints and ends.
	var got []string
	for {
		ev := stream.next(t)
		got = append(got, ev.Type+" "+string(ev.State))
		if ev.Type == "state" && !ev.State.Live() {
			if ev.Reason != store.ReasonIdleTimeout {
				t.Errorf("final state %+v, want idle_timeout", ev)
			}
			break
		}
	}
	want := "idle_warning |checkpoint |state stopping|state terminated"
	if strings.Join(got, "|") != want {
		t.Errorf("events until the idle end = %q, want %q", strings.Join(got, "|"), want)
	}
	_, body = d.call(t, "GET", "/api/sessions/"+s.ID, alice, nil)
	ended := decode[server.SessionView](t, body)
	if ended.CheckpointAt == nil || ended.TerminationReason != store.ReasonIdleTimeout || bytes.Contains(body, []byte(d.Dir)) {
		t.Fatalf("ended session = %s, want idle_timeout with checkpoint_at and no path", body)
	}

	for _, tc := range []struct {
		name, token, from string
		status            int
		code              string
	}{
		{"another user's session", bob, s.ID, 404, "session_not_found"},
		{"a missing session", alice, "00000000-0000-4000-8000-000000000000", 404, "session_not_found"},
		{"not an id", alice, "../../etc", 404, "session_not_found"},
	} {
		resp, body := d.call(t, "POST", "/api/sessions", tc.token, map[string]any{"resume_from": tc.from})
		if p := decode[problem](t, body); resp.StatusCode != tc.status || p.Code != tc.code {
			t.Errorf("resume %s = %d %s, want %d %s", tc.name, resp.StatusCode, body, tc.status, tc.code)
		}
	}
	resp, body = d.call(t, "POST", "/api/sessions", alice, map[string]any{"resume_from": s.ID, "pdb_id": "1hpv"})
	if resp.StatusCode != 400 {
		t.Errorf("resume with a pdb_id = %d %s, want 400", resp.StatusCode, body)
	}

	resp, body = d.call(t, "POST", "/api/sessions", alice, map[string]any{"resume_from": s.ID, "idle_timeout_seconds": 3600})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("resume = %d %s", resp.StatusCode, body)
	}
	resumed := decode[server.SessionView](t, body)
	if resumed.ResumedFrom != s.ID || resumed.Name != "work" || resumed.Structure.Source != store.SourceCheckpoint {
		t.Errorf("resumed = %s", body)
	}
	_, body = d.command(t, alice, resumed.ID, "info models")
	notes := strings.Join(decode[commandResult](t, body).Log["note"], "")
	if !strings.Contains(notes, "#1 type AtomicStructure name 1hpv") || !strings.Contains(notes, "#2 type AtomicStructure name 3al1") {
		t.Errorf("resumed info models = %q, want both models back", notes)
	}

	resp, body = d.call(t, "POST", "/api/sessions", alice, map[string]any{"resume_from": resumed.ID})
	if p := decode[problem](t, body); resp.StatusCode != 409 || p.Code != "session_live" {
		t.Errorf("resume a live session = %d %s, want 409 session_live", resp.StatusCode, body)
	}
	plain := d.mustSession(t, alice, "")
	d.call(t, "DELETE", "/api/sessions/"+plain.ID, alice, nil)
	resp, body = d.call(t, "POST", "/api/sessions", alice, map[string]any{"resume_from": plain.ID})
	if p := decode[problem](t, body); resp.StatusCode != 409 || p.Code != "no_checkpoint" {
		t.Errorf("resume without a checkpoint = %d %s, want 409 no_checkpoint", resp.StatusCode, body)
	}
	if fi, err := os.Stat(filepath.Join(d.Dir, "checkpoints", s.ID)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("checkpoint dir: %v, want mode 0700", err)
	}
}
