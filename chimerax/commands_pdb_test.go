//go:build linux

package chimerax_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/chimerax/structure"
)

// TestCommandOpensDownloadedEntry: a command that opens a PDB entry opens a
// copy chimerad downloaded, so a sandboxed ChimeraX (no network) can too.
func TestCommandOpensDownloadedEntry(t *testing.T) {
	ctx := context.Background()
	m := chimeraxtest.StartPDBMirror("../testdata")
	defer m.Close()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.PDB = structure.NewFetcher(filepath.Join(c.DataDir, "pdb-cache"), []string{m.Template()})
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
	if got := m.Requests.Load(); got != 1 {
		t.Errorf("two opens made %d mirror requests, want 1", got)
	}
	if _, err := sv.Command(ctx, rec.ID, "open 9zzz"); !errors.Is(err, structure.ErrPDBNotFound) {
		t.Errorf("open of an unknown entry = %v, want ErrPDBNotFound", err)
	}
}
