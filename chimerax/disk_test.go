//go:build linux

package chimerax_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
)

// dirBytes sums the sizes of the regular files under dir.
func dirBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestDiskQuota: with session.disk_max set, repeated large saves fill the
// session directory only up to the quota: the save that goes over it
// answers ErrDiskQuota and its file is removed, later saves are refused
// before they run, the directory never holds more than the quota plus one
// save's output, an upload is refused, the session's stats show its disk
// usage, and commands that write nothing still work.
func TestDiskQuota(t *testing.T) {
	const quota = 512 << 10
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) { c.DiskMax = quota })
	rec := mustCreate(t, sv, "1hpv.pdb")
	dir := filepath.Join(sv.Config().DataDir, "sessions", rec.ID)

	var biggest int64 // one save's output
	var refused error
	for i := range 100 {
		name := fmt.Sprintf("big%d.png", i)
		res, err := sv.Command(ctx, rec.ID, "save "+name+" width 400 height 400")
		if err != nil {
			refused = err
			if _, statErr := os.Stat(filepath.Join(dir, name)); statErr == nil {
				t.Errorf("%s over the quota left in the session directory, want it removed", name)
			}
			break
		}
		if !res.OK() {
			t.Fatalf("save %s: %s", name, res.Message())
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		biggest = max(biggest, fi.Size())
	}
	if refused == nil {
		t.Fatalf("100 saves of %d bytes each all accepted under a %d-byte quota", biggest, quota)
	}
	if biggest == 0 {
		t.Fatalf("the first save was refused (%v); the quota leaves room for none", refused)
	}
	checkQuotaError := func(err error) {
		t.Helper()
		msg := err.Error()
		if !errors.Is(err, chimerax.ErrDiskQuota) || !strings.Contains(msg, "session.disk_max") ||
			!strings.Contains(msg, "512 KiB") || strings.Contains(msg, dir) {
			t.Errorf("save over the quota: %v, want ErrDiskQuota naming session.disk_max, in KiB, without the path", err)
		}
	}
	checkQuotaError(refused)
	if !strings.Contains(refused.Error(), "removed") {
		t.Errorf("save that went over the quota: %v, want it to say its files were removed", refused)
	}
	if used := dirBytes(t, dir); used > quota+biggest {
		t.Errorf("session directory holds %d bytes, want at most the quota %d plus one save's %d", used, quota, biggest)
	}

	stats, ok := sv.SessionStats(rec.ID)
	if used := dirBytes(t, dir); !ok || stats.DiskBytes <= 0 || stats.DiskBytes > quota+biggest {
		t.Errorf("SessionStats = %+v, %v; want disk_bytes > 0 and at most %d (the directory holds %d)", stats, ok, quota+biggest, used)
	}
	if info, err := sv.Session(ctx, rec.ID); err != nil || info.Stats == nil || info.Stats.DiskBytes <= 0 {
		t.Errorf("Session(%s).Stats = %+v, %v; want disk_bytes", rec.ID, info.Stats, err)
	}

	// With the directory at the quota (here by a file of the test's), a
	// writing command is refused before it runs.
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, quota), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sv.Command(ctx, rec.ID, "save again.png width 400 height 400")
	checkQuotaError(err)
	if err == nil || !strings.Contains(err.Error(), "are refused") {
		t.Errorf("save at the quota: %v, want it refused before it runs", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "again.png")); statErr == nil {
		t.Error("a save refused at the quota wrote its file")
	}

	// An upload that would take the directory over is refused too.
	if _, _, err := sv.AddFile(ctx, rec.ID, mustUpload(t, "1hpv.pdb")); !errors.Is(err, chimerax.ErrDiskQuota) || !strings.Contains(err.Error(), "session.disk_max") {
		t.Errorf("AddFile at the quota = %v, want ErrDiskQuota", err)
	}

	// Commands that write nothing still run.
	res, err := sv.Command(ctx, rec.ID, "color red; info models")
	if err != nil || !res.OK() {
		t.Errorf("color after the quota = %v, %v; want it to run", res, err)
	}
}
