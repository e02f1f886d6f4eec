//go:build linux

package cmd_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chimerad/chimerad/cmd"
)

// lockedBuffer is cmd's (logbuffer_test.go): a bytes.Buffer safe to read
// while a process writes it.
type lockedBuffer = cmd.LockedBuffer

// TestMonitoringEndToEnd scrapes the real daemon, asks it whether it is
// ready, and reads and follows a session's log with the CLI.
func TestMonitoringEndToEnd(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	token, _, err := chimerad(t, dir, "users", "add", "alice")
	if err != nil {
		t.Fatal(err)
	}
	token = strings.TrimSpace(token)
	code, body := d.do(t, "POST", "/api/sessions", token, `{"pdb_id":"3al1"}`)
	var s struct{ ID string }
	json.Unmarshal(body, &s)
	if code != 201 {
		t.Fatalf("create = %d %s", code, body)
	}

	// On loopback, /metrics needs no token.
	code, body = d.get(t, "/metrics", "")
	for _, want := range []string{
		`chimerad_sessions{state="ready"} 1`,
		"chimerad_sessions_created_total 1",
		`chimerad_http_requests_total{code="201",method="POST",route="/api/sessions"} 1`,
		"# TYPE chimerad_children_cpu_seconds_total counter",
		"process_resident_memory_bytes ",
		"go_goroutines ",
	} {
		if code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics = %d, missing %q", code, want)
		}
	}
	if strings.Contains(string(body), s.ID) || strings.Contains(string(body), "alice") {
		t.Errorf("GET /metrics names a session or a user")
	}
	if code, body := d.get(t, "/readyz", ""); code != 200 || !strings.Contains(string(body), `"status":"ready"`) {
		t.Errorf("GET /readyz = %d %s, want ready", code, body)
	}

	out, stderr, err := chimerad(t, dir, "sessions", "logs", s.ID)
	if err != nil || !strings.Contains(out, "REST server started on host 127.0.0.1 port ") || strings.Contains(out, "(hidden)") {
		t.Errorf("sessions logs = %q, %v (%s); want the port line, unredacted for the admin", out, err, stderr)
	}
	out, _, err = chimerad(t, dir, "sessions", "logs", s.ID, "-n", "1")
	if err != nil || strings.Count(out, "\n") != 1 {
		t.Errorf("sessions logs -n 1 = %q, %v; want one line", out, err)
	}

	// -f follows until the session ends, then exits by itself.
	follow := exec.Command(binary, "sessions", "logs", s.ID, "-f", "--data-dir", dir)
	follow.Env = testEnv(t)
	var fout, ferr lockedBuffer
	follow.Stdout, follow.Stderr = &fout, &ferr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- follow.Wait() }()
	t.Cleanup(func() {
		follow.Process.Kill()
		<-done
	})
	waitUntil(t, 10*time.Second, "the follower printed the log", func() bool { return strings.Contains(fout.String(), "REST server started") })
	if _, _, err := chimerad(t, dir, "sessions", "kill", s.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil || !strings.Contains(ferr.String(), "ended: terminated (admin_kill)") {
			t.Errorf("sessions logs -f after the kill = %v, stderr %q; want exit 0 saying it ended", err, ferr.String())
		}
	case <-time.After(15 * time.Second):
		t.Errorf("sessions logs -f still running 15s after the session ended")
	}
}

// TestMetricsRequireAuthServe runs the daemon with metrics.require_auth.
func TestMetricsRequireAuthServe(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("metrics:\n  require_auth: true\n"), 0o600)
	d := startDaemon(t, dir, "--config", cfg)
	if code, _ := d.get(t, "/metrics", ""); code != 401 {
		t.Errorf("GET /metrics without a token = %d, want 401", code)
	}
	token, _, err := chimerad(t, dir, "users", "add", "root", "--admin")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := d.get(t, "/metrics", strings.TrimSpace(token)); code != 200 {
		t.Errorf("GET /metrics with an admin token = %d, want 200", code)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: still not %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
