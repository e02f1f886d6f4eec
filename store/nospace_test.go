//go:build linux

package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chimerad/chimerad/store"
)

// mustTmpfs mounts a tmpfs of size bytes for the test, or skips saying why.
func mustTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs to fill needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes a file until the disk holding dir is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}

// TestFullDisk: on a full disk a write fails with ErrNoSpace and Full
// says so, nothing acknowledged is lost, the file reopens without writing
// (a daemon can start), and once space is freed writes work and Full
// clears.
func TestFullDisk(t *testing.T) {
	dir := mustTmpfs(t, 2<<20)
	ctx := context.Background()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	filler := fill(t, dir)

	var acked []string
	var noSpace error
	for i := range 10000 {
		rec := store.Session{ID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), Owner: "alice",
			State: store.StateReady, Name: strings.Repeat("n", 200)}
		if err := db.CreateSession(ctx, &rec); err != nil {
			noSpace = err
			break
		}
		acked = append(acked, rec.ID)
	}
	if !errors.Is(noSpace, store.ErrNoSpace) || !db.Full() {
		t.Fatalf("writes on a full disk ended with %v (Full %v), want ErrNoSpace", noSpace, db.Full())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart on the full disk: Open writes nothing.
	db, err = store.Open(dir, time.Second)
	if err != nil {
		t.Fatalf("open on a full disk: %v", err)
	}
	defer db.Close()
	for _, id := range acked {
		if _, err := db.Session(ctx, id); err != nil {
			t.Fatalf("acknowledged session %s lost: %v", id, err)
		}
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}

	os.Remove(filler)
	if err := db.CreateSession(ctx, &store.Session{ID: "10000000-0000-0000-0000-000000000000", Owner: "alice", State: store.StateReady}); err != nil {
		t.Fatalf("write after freeing space: %v", err)
	}
	if db.Full() {
		t.Error("Full still set after a write succeeded")
	}
	t.Logf("%d sessions acknowledged before the disk filled", len(acked))
}
