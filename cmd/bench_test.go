//go:build linux

package cmd_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBenchRuns runs `chimerad bench` with tiny bounds: every part
// measures and prints its row, none fails. (Its figures are the bench's
// business, never the test's.)
func TestBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sessions and a daemon")
	}
	c := exec.Command(binary, "bench", "--starts", "1", "--requests", "100", "--rounds", "1",
		"--clients", "4", "--commands", "3", "--records", "30", "--sessions", "2")
	c.Env = testEnv(t)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	c.WaitDelay = 5 * time.Second
	if err := c.Run(); err != nil {
		t.Fatalf("chimerad bench: %v\n%s\n%s", err, out.String(), errb.String())
	}
	for _, part := range []string{"(a)", "(b)", "(c)", "(d)", "(e)", "(f)"} {
		if !strings.Contains(out.String(), "\n"+part+" ") {
			t.Errorf("no row for %s:\n%s", part, out.String())
		}
	}
	if strings.Contains(out.String(), "error:") {
		t.Errorf("a part failed:\n%s", out.String())
	}
}

// TestBenchLoadLoopbackOnly: the bench's load generator sends nothing
// beyond 127.0.0.1.
func TestBenchLoadLoopbackOnly(t *testing.T) {
	for _, u := range []string{"http://example.com/", "http://10.0.0.1:80/", "https://127.0.0.1/", ""} {
		c := exec.Command(binary, "bench", "load", "--url", u, "--requests", "1", "--clients", "1")
		c.Env = testEnv(t)
		if out, err := c.CombinedOutput(); err == nil || !strings.Contains(string(out), "want http://127.0.0.1") {
			t.Errorf("bench load --url %q = %v, %s; want refused", u, err, out)
		}
	}
}
