//go:build linux

package server_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromiumPath is Debian's chromium; .ci/run installs it when it can.
const chromiumPath = "/usr/bin/chromium"

// TestDocsPageInChromium opens /docs in headless Chromium, which renders it
// with the embedded Redoc and the document from the same daemon, and checks
// that the page lists the endpoints. Chromium gets no network but loopback
// use: the page must not need any.
func TestDocsPageInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not installed (apt-get install chromium): %v", chromiumPath, err)
	}
	if testing.Short() {
		t.Skip("starts a browser")
	}
	d := MustServe(t, options{})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=10000", "--dump-dom", d.URL+"/docs")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Kill the whole group: chromium's wrapper script, the browser and its
	// renderer, GPU and utility processes.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	if err := cmd.Wait(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(stderr.String(), 2000))
	}
	dom := stdout.String()
	for _, want := range []string{
		"chimerad REST API",
		"Create a session", "List sessions", "Run a ChimeraX command", "Render a snapshot",
		"Stream a session's events", "Usage statistics", "Add a user", "Liveness", "Readiness",
		"/api/sessions/{id}/commands", "/api/users/{name}/token",
	} {
		if !strings.Contains(dom, want) && !strings.Contains(dom, htmlEscape(want)) {
			t.Errorf("the /docs page rendered by chromium lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM (%d bytes): %s\nstderr: %s", len(dom), tail(dom, 3000), tail(stderr.String(), 2000))
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("'", "&#39;", "&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
