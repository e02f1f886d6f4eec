//go:build linux

package chimerax_test

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
	"sync/atomic"
	"testing"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
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
	b, err := os.ReadFile("../testdata/3al1.cif")
	if err != nil {
		t.Fatal(err)
	}
	return gzipped(t, b)
}

// TestCommandOpensDownloadedEntry: a command that opens a PDB entry opens a
// copy chimerad downloaded, so a sandboxed ChimeraX (no network) can too.
func TestCommandOpensDownloadedEntry(t *testing.T) {
	ctx := context.Background()
	m := newMirror(t, map[string][]byte{"3al1.cif.gz": entry3al1(t)})
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.PDB = structure.NewFetcher(filepath.Join(c.DataDir, "pdb-cache"), []string{m.template()})
	})
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := sv.Command(ctx, rec.ID, "open 3al1")
	if err != nil || !res.OK() {
		t.Fatalf("open 3al1 = %+v, %v", res, err)
	}
	res, err = sv.Command(ctx, rec.ID, "open pdb:3AL1; info models")
	if err != nil || !res.OK() || !strings.Contains(strings.Join(res.Log.Note, ""), "#2") {
		t.Fatalf("second open = %+v, %v; want model #2", res, err)
	}
	if got := m.requests.Load(); got != 1 {
		t.Errorf("two opens made %d mirror requests, want 1", got)
	}
	if _, err := sv.Command(ctx, rec.ID, "open 9zzz"); !errors.Is(err, structure.ErrPDBNotFound) {
		t.Errorf("open of an unknown entry = %v, want ErrPDBNotFound", err)
	}
}
