//go:build linux

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/server"
	"github.com/chimerad/chimerad/store"
)

func TestMain(m *testing.M) { chimeraxtest.Main(m) }

// daemon is a running API: a real store, a real supervisor running the
// simulator, and real HTTP on loopback and on the admin socket.
type daemon struct {
	URL    string
	Dir    string
	DB     *store.DB
	SV     *chimerax.Supervisor
	Admin  *http.Client // over the admin socket
	Server *server.Server

	// Metrics are on a registry of this daemon's own.
	Metrics *server.Metrics

	close func()
}

type options struct {
	sv     func(*chimerax.Config)
	server func(*server.Config)
	knobs  []string
	dir    string
	logger *zerolog.Logger // instead of testLogger's
}

// MustServe starts a daemon in a temporary data dir (or opts.dir) and stops
// it at cleanup, failing the test if a child or a session file is left.
func MustServe(tb testing.TB, opts options) *daemon {
	tb.Helper()
	dir := opts.dir
	if dir == "" {
		dir = tb.TempDir()
	}
	db, err := store.Open(dir, time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := chimeraxtest.Config(dir)
	cfg.StartTimeout = 20 * time.Second
	cfg.StopGrace = 2 * time.Second
	if opts.sv != nil {
		opts.sv(&cfg)
	}
	knobs := append([]string{"CHIMERAX_SIM_FETCH_CACHE=" + mustAbs(tb, "../testdata")}, opts.knobs...)
	sv := chimerax.NewSupervisor(db, chimeraxtest.Engine(knobs...), cfg)
	if err := sv.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	scfg := server.DefaultConfig()
	scfg.SpoolDir = filepath.Join(dir, "spool")
	scfg.URLKey = []byte("a test key for the signed URLs..")
	os.MkdirAll(scfg.SpoolDir, 0o700)
	if scfg.Metrics, err = server.NewMetrics(prometheus.NewRegistry(), sv); err != nil {
		tb.Fatal(err)
	}
	sv.Observer = scfg.Metrics // before any session starts
	if opts.server != nil {
		opts.server(&scfg)
	}
	logger := testLogger(tb)
	if opts.logger != nil {
		logger = *opts.logger
	}
	srv := server.New(scfg, sv, db, logger)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	sockPath := filepath.Join(dir, "chimerad.sock")
	sock, err := net.Listen("unix", sockPath)
	if err != nil {
		tb.Fatal(err)
	}
	api, admin := srv.HTTPServer(false), srv.HTTPServer(true)
	go server.Serve(api, srv.LimitListener(ln))
	go server.Serve(admin, sock)

	d := &daemon{
		URL: "http://" + ln.Addr().String(), Dir: dir, DB: db, SV: sv, Server: srv, Metrics: scfg.Metrics,
		Admin: &http.Client{Transport: validatingTransport{base: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var dl net.Dialer
				return dl.DialContext(ctx, "unix", sockPath)
			},
		}}},
	}
	closed := false
	d.close = func() {
		if closed {
			return
		}
		closed = true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		api.Shutdown(ctx)
		admin.Shutdown(ctx)
		if err := sv.Close(ctx); err != nil {
			tb.Error(err)
		}
		if pids := chimeraxtest.Children(dir); len(pids) > 0 {
			tb.Errorf("children left running: %v", pids)
		}
		if err := db.Check(); err != nil {
			tb.Error(err)
		}
		db.Close()
	}
	tb.Cleanup(d.close)
	return d
}

// mustUser adds a user directly in the store and returns its token.
func (d *daemon) mustUser(tb testing.TB, name string, admin bool) string {
	tb.Helper()
	_, token, err := d.DB.CreateUser(context.Background(), name, admin)
	if err != nil {
		tb.Fatal(err)
	}
	return token
}

// call sends a request with a JSON body (if body is not nil) and returns
// the response with its body read.
func (d *daemon) call(tb testing.TB, method, path, token string, body any) (*http.Response, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = bytes.NewReader([]byte(b))
		default:
			buf, _ := json.Marshal(b)
			rd = bytes.NewReader(buf)
		}
	}
	req, err := http.NewRequest(method, d.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return d.send(tb, req, token)
}

func (d *daemon) send(tb testing.TB, req *http.Request, token string) (*http.Response, []byte) {
	tb.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := apiClient.Do(req) // validates the answer: openapi_validate_test.go
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, b
}

// upload sends a multipart create with a file part named filename.
func (d *daemon) upload(tb testing.TB, token, filename string, content []byte, fields map[string]string) (*http.Response, []byte) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		tb.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	req, err := http.NewRequest("POST", d.URL+"/api/sessions", &buf)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return d.send(tb, req, token)
}

func mustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustAbs(tb testing.TB, p string) string {
	tb.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		tb.Fatal(err)
	}
	return abs
}

func decode[T any](tb testing.TB, b []byte) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func testLogger(tb testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(tb)).Level(zerolog.WarnLevel)
}
