//go:build linux

package server_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
)

// leakCheck greps what a non-admin sees for the data dir (plain or
// URL-escaped), a loopback port and a pid.
type leakCheck struct {
	t     *testing.T
	leaks *regexp.Regexp
	n     int
}

func newLeakCheck(t *testing.T, dir string) *leakCheck {
	return &leakCheck{t: t, leaks: regexp.MustCompile(regexp.QuoteMeta(dir) + "|" + regexp.QuoteMeta(url.QueryEscape(dir)) +
		`|127\.0\.0\.1:\d|localhost:\d|\bpid:? ?\d|\bport:? ?\d`)}
}

func (lc *leakCheck) check(what string, body []byte) {
	lc.t.Helper()
	lc.n++
	if m := lc.leaks.Find(body); m != nil {
		lc.t.Errorf("%s shows %q to a non-admin: %s", what, m, body)
	}
}

// TestNoPathsPortsOrPidsForUsers runs the error paths a non-admin can
// trigger — a child that dies while opening the structure or during a
// command, a start that times out, a missing entry, bad uploads, refused
// and failed commands, missing files and checkpoints, a session no longer
// live — and greps every answer, session view and event a non-admin sees
// for the data dir, a loopback port and a pid. An admin still sees the
// child's process.
func TestNoPathsPortsOrPidsForUsers(t *testing.T) {
	t.Run("dies while opening", func(t *testing.T) {
		d := MustServe(t, options{knobs: []string{"CHIMERAX_SIM_CRASH_ON=open"}})
		alice, root := d.mustUser(t, "alice", false), d.mustUser(t, "root", true)
		lc := newLeakCheck(t, d.Dir)
		resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{"pdb_id": "1hpv"})
		lc.check("a create whose child dies while opening", body)
		p := decode[problem](t, body)
		if resp.StatusCode < 500 || p.SessionID == "" || p.Detail == "" {
			t.Fatalf("create with a child that dies on open = %d %s, want a 5xx naming the session", resp.StatusCode, body)
		}
		_, body = d.call(t, "GET", "/api/sessions/"+p.SessionID, alice, nil)
		lc.check("the failed session", body)
		if s := decode[map[string]any](t, body); s["error"] == nil || s["error"] == "" {
			t.Errorf("failed session has no error: %s", body)
		}
		_, body = d.call(t, "GET", "/api/sessions?state=failed", alice, nil)
		lc.check("the session list", body)
		for _, path := range []string{"/files", "/files/structure.pdb", "/checkpoint", "/snapshot"} {
			_, body = d.call(t, "GET", "/api/sessions/"+p.SessionID+path, alice, nil)
			lc.check("GET …"+path+" of a failed session", body)
		}
		_, body = d.call(t, "POST", "/api/sessions/"+p.SessionID+"/commands", alice, map[string]any{"command": "view"})
		lc.check("a command to a failed session", body)
		_, body = d.upload(t, alice, "1hpv.pdb", mustRead(t, "1hpv.pdb"), nil)
		lc.check("an upload whose child dies while opening", body)

		_, body = d.call(t, "GET", "/api/sessions/"+p.SessionID, root, nil)
		if !strings.Contains(string(body), `"process"`) {
			t.Errorf("an admin's view of the failed session has no process: %s", body)
		}
		t.Logf("checked %d answers", lc.n)
	})

	t.Run("start times out", func(t *testing.T) {
		d := MustServe(t, options{
			sv:    func(c *chimerax.Config) { c.StartTimeout = 2 * time.Second },
			knobs: []string{"CHIMERAX_SIM_NO_PORT=1"},
		})
		alice := d.mustUser(t, "alice", false)
		lc := newLeakCheck(t, d.Dir)
		resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{})
		lc.check("a create that times out", body)
		if resp.StatusCode != 504 {
			t.Errorf("create with a silent child = %d %s, want 504", resp.StatusCode, body)
		}
		p := decode[problem](t, body)
		_, body = d.call(t, "GET", "/api/sessions/"+p.SessionID, alice, nil)
		lc.check("the timed-out session", body)
	})

	t.Run("live session", func(t *testing.T) {
		d := MustServe(t, options{knobs: []string{"CHIMERAX_SIM_CRASH_ON=turn"}})
		alice := d.mustUser(t, "alice", false)
		lc := newLeakCheck(t, d.Dir)
		s := d.mustSession(t, alice, "1hpv.pdb")
		events, stop := readSSE(t, d, alice, s.ID, "")
		defer stop()

		for _, bad := range []struct{ name, content string }{
			{"x.pdb", "<html></html>"}, {"x.pdb.gz", "not gzip"}, {"../../etc/passwd.pdb", "ATOM"},
			{strings.Repeat("a", 300) + ".pdb", "ATOM"},
		} {
			_, body := d.upload(t, alice, bad.name, []byte(bad.content), nil)
			lc.check("the upload of "+bad.name[:min(len(bad.name), 20)], body)
		}
		_, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{"pdb_id": "9zzz"})
		lc.check("a create of a missing entry", body)
		for _, cmd := range []string{
			"open /etc/passwd", "save /tmp/x.png", "save ../x.png", "save nodir/x.png", "open missing.pdb",
			"runscript x.py", "color #9 red", "nonsense", "open " + d.Dir + "/chimerad.db",
		} {
			_, body = d.call(t, "POST", "/api/sessions/"+s.ID+"/commands", alice, map[string]any{"command": cmd})
			lc.check("the command "+cmd, body)
		}
		for _, path := range []string{"/files/nothere.png", "/files/..%2Fchimerad.db", "/checkpoint", "/snapshot?width=99999"} {
			_, body = d.call(t, "GET", "/api/sessions/"+s.ID+path, alice, nil)
			lc.check("GET …"+path, body)
		}

		// The child dies during a command: the answer, the session and its
		// events.
		resp, body := d.call(t, "POST", "/api/sessions/"+s.ID+"/commands", alice, map[string]any{"command": "turn y 10"})
		lc.check("a command whose child dies", body)
		if resp.StatusCode < 500 {
			t.Errorf("a command that kills the child = %d %s, want 5xx", resp.StatusCode, body)
		}
		ended := d.waitEnded(t, alice, s.ID, 20*time.Second)
		if ended.Error == "" {
			t.Errorf("session ended by a crash has no error: %+v", ended)
		}
		_, body = d.call(t, "GET", "/api/sessions/"+s.ID, alice, nil)
		lc.check("the crashed session", body)
		for ev := range events {
			data, _ := json.Marshal(ev.data)
			lc.check("the event "+ev.typ, data)
			if ev.typ == "state" && ev.data["state"] != "live" && ev.data["state"] != "starting" {
				break
			}
		}
		_, body = d.call(t, "POST", "/api/sessions/"+s.ID+"/commands", alice, map[string]any{"command": "view"})
		lc.check("a command to an ended session", body)
		t.Logf("checked %d answers", lc.n)
	})
}
