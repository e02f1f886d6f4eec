//go:build linux

package cmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/store"
)

// mustTmpfs mounts a tmpfs of size bytes for the test, or skips saying why.
func mustTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs to fill needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fillDisk writes a file until the disk holding dir is full and returns
// its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 16<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}

// TestFullDiskEndToEnd: with the data dir on an 8 MiB tmpfs filled up, a
// create and an upload answer 507 insufficient_storage with a sentence and
// no path, /readyz turns 503 naming the store, the log says the disk is
// full; a daemon killed with SIGKILL starts again on the full disk; the
// sessions acknowledged before are all there; and once space is freed the
// daemon is ready again and the old sessions end.
func TestFullDiskEndToEnd(t *testing.T) {
	dir := mustTmpfs(t, 8<<20)
	alice := mustToken(t, dir, "alice")
	d := startDaemon(t, dir, "--chimerax", "simulator")
	var acked []string
	for range 2 {
		acked = append(acked, d.create(t, alice, `{}`).ID)
	}
	filler := fillDisk(t, dir)

	code, body := d.do(t, "POST", "/api/sessions", alice, `{}`)
	var p struct{ Code, Detail string }
	json.Unmarshal(body, &p)
	if code != 507 || p.Code != "insufficient_storage" || !strings.Contains(p.Detail, "full") || strings.Contains(string(body), dir) {
		t.Errorf("create on a full disk = %d %s, want 507 insufficient_storage, no path", code, body)
	}
	code, body = uploadTo(t, d, alice, "1hpv.pdb", mustReadFile(t, "../testdata/1hpv.pdb"))
	if code != 507 || strings.Contains(string(body), dir) {
		t.Errorf("upload on a full disk = %d %s, want 507, no path", code, body)
	}
	code, body = d.get(t, "/readyz", "")
	if code != 503 || !strings.Contains(string(body), `"failing":["store"`) {
		t.Errorf("/readyz on a full disk = %d %s, want 503 failing store", code, body)
	}
	if !strings.Contains(d.log(), "full") {
		t.Errorf("no log line says the disk is full: %s", d.log())
	}

	// A crash on the full disk, and a start on it. What the restart could
	// free (the dead sessions' directories) is taken too, so its writes
	// fail: it starts degraded and says so.
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	chimeraxtest.WaitFor(t, 10*time.Second, "the children to die with the daemon", func() bool {
		return len(chimeraxtest.Children(dir)) == 0
	})
	entries, _ := os.ReadDir(filepath.Join(dir, "sessions"))
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, "sessions", e.Name()))
	}
	filler2 := fillDisk(t, dir)
	d = startDaemon(t, dir, "--chimerax", "simulator", "--config", writeConfig(t, "session:\n  sweep_interval: 1s\n"))
	for _, id := range acked {
		d.session(t, alice, id) // fails the test if it is gone
	}
	if code, body := d.get(t, "/readyz", ""); code != 503 || !strings.Contains(d.log(), "starts degraded") {
		t.Errorf("a start on a full disk: /readyz %d %s; want 503 and a log line saying it is degraded: %s", code, body, d.log())
	}

	os.Remove(filler)
	os.Remove(filler2)
	chimeraxtest.WaitFor(t, 20*time.Second, "the old sessions ended and the daemon ready", func() bool {
		for _, id := range acked {
			if s := d.session(t, alice, id); s.State != "terminated" {
				return false
			}
		}
		code, _ := d.get(t, "/readyz", "")
		return code == 200
	})
	d.create(t, alice, `{}`)
	for _, id := range acked {
		if s := d.session(t, alice, id); s.TerminationReason != "daemon_restart" {
			t.Errorf("session %s after the restart = %+v, want ended daemon_restart", id, s)
		}
	}
}

// uploadTo creates a session from an uploaded file.
func uploadTo(t *testing.T, d *daemon, token, name string, content []byte) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", d.url+"/api/sessions", &buf)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSlowAdoptKillsNoHealthySession: in adopt mode, a daemon killed with
// SIGKILL leaves three sessions, one of them hung (SIGSTOP). The next
// daemon probes them in parallel and does not adopt the hung one; though
// its reconcile takes longer than health_timeout, the two healthy
// sessions stay ready: their health clock starts at serving time.
func TestSlowAdoptKillsNoHealthySession(t *testing.T) {
	dir := t.TempDir()
	alice := mustToken(t, dir, "alice")
	d := startDaemon(t, dir, "--config", writeConfig(t, "session:\n  on_restart: adopt\n"))
	var ids []string
	var pids []int
	for range 3 {
		s := d.create(t, alice, `{}`)
		out, _, err := chimerad(t, dir, "sessions", "show", s.ID)
		var shown struct {
			Process struct {
				PID     int `json:"pid"`
				ShimPID int `json:"shim_pid"`
			}
		}
		if err != nil || json.Unmarshal([]byte(out), &shown) != nil || shown.Process.PID == 0 {
			t.Fatalf("sessions show = %q, %v", out, err)
		}
		t.Cleanup(func() {
			syscall.Kill(-shown.Process.PID, syscall.SIGKILL)
			syscall.Kill(-shown.Process.ShimPID, syscall.SIGKILL)
		})
		ids, pids = append(ids, s.ID), append(pids, shown.Process.PID)
	}
	hung := ids[0]
	if err := syscall.Kill(pids[0], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited

	const healthTimeout = 1500 * time.Millisecond // under the reconcile's bound
	start := time.Now()
	d = startDaemon(t, dir, "--config", writeConfig(t, fmt.Sprintf(
		"session:\n  on_restart: adopt\nchimerax:\n  health_interval: 200ms\n  health_timeout: %v\n", healthTimeout)))
	t.Logf("serving %v after the start, with one hung child of three", time.Since(start).Round(10*time.Millisecond))

	if s := d.session(t, alice, hung); s.State == "ready" {
		t.Errorf("the hung session was adopted: %+v", s)
	}
	// Watch the healthy ones over three health timeouts.
	watched := time.Now()
	chimeraxtest.WaitFor(t, 20*time.Second, "three health timeouts", func() bool {
		for _, id := range ids[1:] {
			if s := d.session(t, alice, id); s.State != "ready" {
				t.Fatalf("healthy adopted session %s ended %s: %s", id, s.TerminationReason, s.Error)
			}
		}
		return time.Since(watched) > 3*healthTimeout
	})
	for _, id := range ids[1:] {
		d.command(t, alice, id, "view")
		if code, body := d.do(t, "DELETE", "/api/sessions/"+id, alice, ""); code != 200 {
			t.Errorf("delete adopted = %d %s", code, body)
		}
	}
}

// TestKillStorm: the daemon is killed with SIGKILL again and again during
// create and delete storms, in terminate and adopt modes in turn, with a
// pool in adopt mode. Afterwards, with a last daemon stopped cleanly: no
// acknowledged create is lost, no child is left, no record is stuck
// starting or stopping, and no directory is left for an ended session.
// CI runs 6 cycles; CHIMERAD_STORM_CYCLES=40 runs the campaign's.
func TestKillStorm(t *testing.T) {
	cycles := 6
	if v := os.Getenv("CHIMERAD_STORM_CYCLES"); v != "" {
		fmt.Sscan(v, &cycles)
	}
	dir := t.TempDir()
	alice := mustToken(t, dir, "alice")
	modes := []string{
		"session:\n  on_restart: terminate\nlimits:\n  max_sessions_per_user: 32\n",
		"session:\n  on_restart: adopt\nlimits:\n  max_sessions_per_user: 32\npool:\n  size: 1\n",
	}
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
	)
	for cycle := range cycles {
		d := startDaemon(t, dir, "--config", writeConfig(t, modes[cycle%2]))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					path := "/api/sessions"
					if w%2 == 0 {
						path += "?wait=false" // acknowledged at once, starting
					}
					req, _ := http.NewRequest("POST", d.url+path, strings.NewReader(`{}`))
					req.Header.Set("Authorization", "Bearer "+alice)
					req.Header.Set("Content-Type", "application/json")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return // the daemon is gone
					}
					var s struct{ ID string }
					json.NewDecoder(resp.Body).Decode(&s)
					resp.Body.Close()
					if (resp.StatusCode == 201 || resp.StatusCode == 202) && s.ID != "" {
						mu.Lock()
						acked[s.ID] = true
						mu.Unlock()
						if i%2 == 1 { // delete every other one
							del, _ := http.NewRequest("DELETE", d.url+"/api/sessions/"+s.ID, nil)
							del.Header.Set("Authorization", "Bearer "+alice)
							if r, err := http.DefaultClient.Do(del); err == nil {
								r.Body.Close()
							}
						}
					}
				}
			})
		}
		// Kill once a few creates are in, at a different point each cycle.
		chimeraxtest.WaitFor(t, 30*time.Second, "creates under way", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= 4*(cycle+1)+cycle%3
		})
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.exited
		close(stop)
		wg.Wait()
	}

	// A last daemon, terminate mode, ends what is left and stops cleanly.
	d := startDaemon(t, dir)
	chimeraxtest.WaitFor(t, 30*time.Second, "no session starting", func() bool {
		_, body := d.get(t, "/api/sessions?state=live", alice)
		return !strings.Contains(string(body), `"starting"`) && !strings.Contains(string(body), `"stopping"`)
	})
	d.stop(t, syscall.SIGTERM)
	if pids := chimeraxtest.Children(dir); len(pids) > 0 {
		t.Errorf("orphans after the storm: %v", pids)
	}
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Errorf("store after the storm: %v", err)
	}
	all, _, err := db.Sessions(context.Background(), store.SessionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range all {
		seen[s.ID] = true
		if s.State.Live() {
			t.Errorf("session %s stuck %s after a clean stop", s.ID, s.State)
		}
	}
	lost := 0
	for id := range acked {
		if !seen[id] {
			lost++
			t.Errorf("acknowledged session %s lost", id)
		}
	}
	left, _ := os.ReadDir(filepath.Join(dir, "sessions"))
	for _, e := range left {
		t.Errorf("directory left for session %s", e.Name())
	}
	t.Logf("%d cycles: %d creates acknowledged, %d lost, %d records, %d directories left", cycles, len(acked), lost, len(all), len(left))
}
