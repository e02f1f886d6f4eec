//go:build linux

package server_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/server"
)

// TestRotatedTokenRefusedAtOnce: tokens are resolved from memory after
// their first use; a rotation through the API must still refuse the old
// one at once.
func TestRotatedTokenRefusedAtOnce(t *testing.T) {
	d := MustServe(t, options{})
	old := d.mustUser(t, "alice", false)
	if resp, _ := d.call(t, "GET", "/api/sessions", old, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("token = %d, want 200", resp.StatusCode)
	}
	resp, err := d.Admin.Post("http://chimerad/api/users/alice/token", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fresh := decode[struct{ Token string }](t, body)
	if resp, _ := d.call(t, "GET", "/api/sessions", old, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("rotated-out token = %d, want 401", resp.StatusCode)
	}
	if resp, _ := d.call(t, "GET", "/api/sessions", fresh.Token, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("new token = %d, want 200", resp.StatusCode)
	}
}

// TestCreateFromPool: the session JSON says whether its child came from
// the warm pool.
func TestCreateFromPool(t *testing.T) {
	d := MustServe(t, options{sv: func(c *chimerax.Config) {
		c.PoolSize = 1
		c.SweepInterval = time.Hour
	}})
	token := d.mustUser(t, "alice", false)
	deadline := time.Now().Add(20 * time.Second)
	for d.SV.PoolReady() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("pool never filled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, body := d.call(t, "POST", "/api/sessions", token, map[string]any{})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	if v := decode[server.SessionView](t, body); !v.FromPool {
		t.Errorf("from_pool = false, want true: %s", body)
	}
}
