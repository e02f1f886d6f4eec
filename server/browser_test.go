//go:build linux

package server_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/server"
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
		"stats", "from_pool", "execution_state", "busy_since", "restarts"}
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
