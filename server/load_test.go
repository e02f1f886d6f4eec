//go:build linux

package server_test

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/rs/zerolog"

	"github.com/chimerad/chimerad/store"
)

// TestLoadHey is issue 8's and issue 19's target (c) (GET at least 0.85
// of the bare handler's requests per second, the heartbeat 0.80), run
// only when CHIMERAD_LOADTEST=1:
// `hey` (bounded: LOAD_N requests, default 20000, LOAD_C connections,
// default 16, loopback only) against the real API, with the access log on
// (info, into io.Discard), and against a bare Gin handler that does the
// same bearer check and answers the same record, built in the same run.
// It logs requests per second and the ratios; docs/performance.md has the
// figures.
func TestLoadHey(t *testing.T) {
	if os.Getenv("CHIMERAD_LOADTEST") != "1" {
		t.Skip("set CHIMERAD_LOADTEST=1 (needs hey on PATH)")
	}
	hey, err := exec.LookPath("hey")
	if err != nil {
		t.Skip("hey not on PATH: apt-get install hey")
	}
	n, c := envInt("LOAD_N", 20000), envInt("LOAD_C", 16)
	logger := zerolog.New(io.Discard).Level(zerolog.InfoLevel)
	d := MustServe(t, options{logger: &logger})
	token := d.mustUser(t, "alice", false)
	var rec struct{ ID string }
	resp, body := d.call(t, "POST", "/api/sessions", token, map[string]any{})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create = %s", resp.Status)
	}
	json.Unmarshal(body, &rec)
	stored, err := d.SV.Session(t.Context(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}

	// The baseline: Gin, a bearer check against one token's hash (constant
	// time), and the same record as JSON.
	gin.SetMode(gin.ReleaseMode)
	want := store.HashToken(token)
	bare := gin.New()
	check := func(c *gin.Context) bool {
		scheme, tok, ok := strings.Cut(c.GetHeader("Authorization"), " ")
		h := store.HashToken(tok)
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(h[:], want[:]) != 1 {
			c.AbortWithStatus(http.StatusUnauthorized)
			return false
		}
		return true
	}
	bare.GET("/api/sessions/:id", func(c *gin.Context) {
		if check(c) {
			c.JSON(http.StatusOK, stored)
		}
	})
	bare.PUT("/api/sessions/:id/heartbeat", func(c *gin.Context) {
		if check(c) {
			c.JSON(http.StatusOK, gin.H{"id": stored.ID, "last_activity_at": stored.LastActivityAt, "idle_expires_at": stored.LastActivityAt})
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: bare}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	bareURL := "http://" + ln.Addr().String()

	rps := func(method, url string) float64 {
		out, err := exec.Command(hey, "-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "-m", method,
			"-H", "Authorization: Bearer "+token, url).CombinedOutput()
		if err != nil {
			t.Fatalf("hey: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "["+"200]") {
			t.Fatalf("hey %s %s: not all 200:\n%s", method, url, out)
		}
		m := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("hey output without Requests/sec:\n%s", out)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	for _, r := range []struct {
		name, method, path string
		target             float64
	}{
		{"GET session", "GET", "/api/sessions/" + rec.ID, 0.85},
		{"heartbeat", "PUT", "/api/sessions/" + rec.ID + "/heartbeat", 0.80},
	} {
		rps(r.method, d.URL+r.path) // warm-up, discarded
		b := rps(r.method, bareURL+r.path)
		got := rps(r.method, d.URL+r.path)
		t.Logf("%s: chimerad %.0f req/s, bare Gin %.0f req/s, ratio %.2f (target ≥ %.2f)", r.name, got, b, got/b, r.target)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
