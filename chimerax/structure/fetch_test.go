package structure_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax/structure"
)

// mirror is a local stand-in for a PDB archive: it serves entries as gzip'd
// mmCIF under /{mid}/{id}.cif.gz and counts requests.
type mirror struct {
	*httptest.Server
	requests atomic.Int32
	entries  map[string][]byte
	status   int           // if set, every answer has this status
	gate     chan struct{} // if set, answers wait for it
}

func newMirror(t *testing.T, entries map[string][]byte) *mirror {
	m := &mirror{entries: entries}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		if m.gate != nil {
			<-m.gate
		}
		if m.status != 0 {
			w.WriteHeader(m.status)
			return
		}
		body, ok := m.entries[filepath.Base(r.URL.Path)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *mirror) template() string { return m.URL + "/{mid}/{id}.cif.gz" }

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func entry3al1(t *testing.T) []byte {
	b, err := os.ReadFile("../../testdata/3al1.cif")
	if err != nil {
		t.Fatal(err)
	}
	return gzipped(t, b)
}

func TestFetcherCacheAndSingleDownload(t *testing.T) {
	m := newMirror(t, map[string][]byte{"3al1.cif.gz": entry3al1(t)})
	m.gate = make(chan struct{})
	f := structure.NewFetcher(t.TempDir(), []string{m.template()})

	const n = 8
	var started atomic.Int32
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			started.Add(1)
			paths[i], errs[i] = f.Fetch(context.Background(), "3al1")
		})
	}
	waitFor(t, 5*time.Second, "all callers waiting on the download", func() bool {
		return started.Load() == n && m.requests.Load() >= 1
	})
	time.Sleep(50 * time.Millisecond) // let the last callers reach Fetch
	close(m.gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("Fetch %d = %q, %v; want %q", i, paths[i], errs[i], paths[0])
		}
	}
	if got := m.requests.Load(); got != 1 {
		t.Errorf("%d concurrent fetches made %d requests, want 1", n, got)
	}
	// The extended form of the same entry is a cache hit.
	if p, err := f.Fetch(context.Background(), "pdb_00003al1"); err != nil || p != paths[0] || m.requests.Load() != 1 {
		t.Errorf("cached fetch = %q, %v after %d requests; want the cache, no request", p, err, m.requests.Load())
	}
}

func TestFetcherFailures(t *testing.T) {
	good := entry3al1(t)
	for _, tc := range []struct {
		name    string
		mirrors func(t *testing.T) []string
		max     int64
		want    error
		detail  string
	}{
		{
			name: "unknown id",
			mirrors: func(t *testing.T) []string {
				return []string{newMirror(t, nil).template(), newMirror(t, nil).template()}
			},
			want: structure.ErrPDBNotFound,
		},
		{
			name: "failover",
			mirrors: func(t *testing.T) []string {
				down := newMirror(t, nil)
				down.status = http.StatusServiceUnavailable
				return []string{down.template(), newMirror(t, map[string][]byte{"3al1.cif.gz": good}).template()}
			},
		},
		{
			name: "all down",
			mirrors: func(t *testing.T) []string {
				a, b := newMirror(t, nil), newMirror(t, nil)
				a.status, b.status = http.StatusInternalServerError, http.StatusBadGateway
				return []string{a.template(), b.template(), "http://127.0.0.1:1/{id}.cif.gz"}
			},
			want:   structure.ErrPDBUnavailable,
			detail: "127.0.0.1:1",
		},
		{
			name: "oversize",
			mirrors: func(t *testing.T) []string {
				return []string{newMirror(t, map[string][]byte{"3al1.cif.gz": good}).template()}
			},
			max:    1000,
			want:   structure.ErrPDBUnavailable,
			detail: "over 1000 bytes",
		},
		{
			name: "malformed",
			mirrors: func(t *testing.T) []string {
				return []string{newMirror(t, map[string][]byte{"3al1.cif.gz": []byte("<html>maintenance</html>")}).template()}
			},
			want:   structure.ErrPDBUnavailable,
			detail: "not a gzip'd mmCIF",
		},
		{
			name: "not mmCIF inside",
			mirrors: func(t *testing.T) []string {
				return []string{newMirror(t, map[string][]byte{"3al1.cif.gz": gzipped(t, []byte("<html>x</html>"))}).template()}
			},
			want: structure.ErrPDBUnavailable,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := structure.NewFetcher(dir, tc.mirrors(t))
			if tc.max > 0 {
				f.MaxBytes = tc.max
			}
			path, err := f.Fetch(context.Background(), "3al1")
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Fetch = %v", err)
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("fetched file: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("Fetch = %v, want %v mentioning %q", err, tc.want, tc.detail)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("a failed fetch left %d files in the cache", len(left))
			}
		})
	}
}

func TestFetcherEvicts(t *testing.T) {
	e := entry3al1(t)
	m := newMirror(t, map[string][]byte{"3al1.cif.gz": e, "1abc.cif.gz": e, "2abc.cif.gz": e})
	dir := t.TempDir()
	f := structure.NewFetcher(dir, []string{m.template()})
	f.CacheMaxBytes = int64(len(e))*2 + 1
	for _, id := range []string{"3al1", "1abc", "2abc"} {
		if _, err := f.Fetch(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		// Each entry is used later than the one before (mtime granularity).
		old := time.Now().Add(-time.Hour)
		if id == "3al1" {
			os.Chtimes(filepath.Join(dir, id+".cif.gz"), old, old)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "3al1.cif.gz")); !os.IsNotExist(err) {
		t.Errorf("least recently used entry still cached: %v", err)
	}
	for _, id := range []string{"1abc", "2abc"} {
		if _, err := os.Stat(filepath.Join(dir, id+".cif.gz")); err != nil {
			t.Errorf("entry %s evicted: %v", id, err)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: still not %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
