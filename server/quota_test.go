//go:build linux

package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chimerad/chimerad/chimerax"
)

// TestDiskQuotaAnswers: saves past session.disk_max answer 507
// disk_quota_exceeded with a sentence naming the setting and the usage,
// and no path; the session's stats show its disk_bytes; a command that
// writes nothing still answers 200.
func TestDiskQuotaAnswers(t *testing.T) {
	d := MustServe(t, options{sv: func(c *chimerax.Config) { c.DiskMax = 512 << 10 }})
	alice := d.mustUser(t, "alice", false)
	lc := newLeakCheck(t, d.Dir)
	s := d.mustSession(t, alice, "1hpv.pdb")
	run := func(line string) (int, []byte) {
		resp, body := d.call(t, "POST", "/api/sessions/"+s.ID+"/commands", alice, map[string]any{"command": line})
		lc.check("the command "+line, body)
		return resp.StatusCode, body
	}

	refusals := 0
	for i := range 100 {
		code, body := run(fmt.Sprintf("save big%d.png width 400 height 400", i))
		if code == 200 {
			if refusals > 0 {
				t.Fatalf("a save after a refusal answered 200: %s", body)
			}
			continue
		}
		p := decode[problem](t, body)
		if code != 507 || p.Code != "disk_quota_exceeded" || !strings.Contains(p.Detail, "session.disk_max") || !strings.Contains(p.Detail, "512 KiB") {
			t.Fatalf("save %d over the quota = %d %s, want 507 disk_quota_exceeded naming session.disk_max", i, code, body)
		}
		if refusals++; refusals == 2 { // the save that went over, and the next: no room for it either
			break
		}
	}
	if refusals < 2 {
		t.Fatalf("100 saves under a 512 KiB quota: %d refused, want the quota to stop them", refusals)
	}

	_, body := d.call(t, "GET", "/api/sessions/"+s.ID, alice, nil)
	lc.check("the session", body)
	v := decode[struct {
		Stats struct {
			DiskBytes int64 `json:"disk_bytes"`
		} `json:"stats"`
	}](t, body)
	if v.Stats.DiskBytes <= 0 || v.Stats.DiskBytes > 1<<20 {
		t.Errorf("session stats.disk_bytes = %d, want the directory's usage, near the 512 KiB quota: %s", v.Stats.DiskBytes, body)
	}

	// An added file that would take the session over is refused the same way.
	resp, body := d.addFile(t, alice, s.ID, "1hpv.pdb", mustRead(t, "1hpv.pdb"), nil)
	lc.check("an added file over the quota", body)
	if p := decode[problem](t, body); resp.StatusCode != 507 || p.Code != "disk_quota_exceeded" || !strings.Contains(p.Detail, "session.disk_max") {
		t.Errorf("add a file over the quota = %d %s, want 507 disk_quota_exceeded", resp.StatusCode, body)
	}

	if code, body := run("color red"); code != 200 {
		t.Errorf("color after the quota = %d %s, want 200", code, body)
	}
}
