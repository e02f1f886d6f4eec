//go:build linux

package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
)

// BenchmarkHandler measures the API's handler alone (no network) for the
// owner's GET of a live session and its heartbeat, with the access log on
// at info (into io.Discard): the CPU a request costs chimerad beyond
// net/http. chimerad bench (cmd/bench.go) measures the same routes over
// loopback against a bare Gin handler.
func BenchmarkHandler(b *testing.B) {
	logger := zerolog.New(io.Discard).Level(zerolog.InfoLevel)
	d := MustServe(b, options{logger: &logger})
	token := d.mustUser(b, "alice", false)
	resp, body := d.call(b, "POST", "/api/sessions", token, map[string]any{})
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("create = %s", resp.Status)
	}
	var rec struct{ ID string }
	json.Unmarshal(body, &rec)
	h := d.Server.Handler()
	for _, r := range []struct{ name, method, path string }{
		{"get", http.MethodGet, "/api/sessions/" + rec.ID},
		{"heartbeat", http.MethodPut, "/api/sessions/" + rec.ID + "/heartbeat"},
	} {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(r.method, r.path, nil)
				req.Host = "127.0.0.1"
				req.Header.Set("Authorization", "Bearer "+token)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s = %d %s", r.name, w.Code, w.Body)
				}
			}
		})
	}
}
