package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chimerad/chimerad/store"
)

// rawUpdate runs fn on the closed database file at path with bbolt
// itself, as a file written by an older chimerad (or damaged) would be.
func rawUpdate(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// ownerIndex reads sessions_by_owner of the closed file at path.
func ownerIndex(t *testing.T, path string) [][]byte {
	t.Helper()
	var keys [][]byte
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("sessions_by_owner"))
		if b == nil {
			return errors.New("no bucket sessions_by_owner")
		}
		return b.ForEach(func(k, _ []byte) error {
			keys = append(keys, bytes.Clone(k))
			return nil
		})
	})
	return keys
}

// wantOwnerIndex is what sessions_by_owner must hold for these sessions:
// owner, 0x00, created_at in 8 bytes big-endian, id; in key order.
func wantOwnerIndex(ss []store.Session) [][]byte {
	var keys [][]byte
	for _, s := range ss {
		k := append([]byte(s.Owner), 0)
		n := uint64(s.CreatedAt.UnixNano())
		for i := 7; i >= 0; i-- {
			k = append(k, byte(n>>(8*i)))
		}
		keys = append(keys, append(k, s.ID...))
	}
	slices.SortFunc(keys, bytes.Compare)
	return keys
}

// checkByOwner checks that each owner's list is exactly that owner's
// sessions among all, newest first.
func checkByOwner(t *testing.T, db *store.DB, owners ...string) {
	t.Helper()
	ctx := context.Background()
	all, _, err := db.Sessions(ctx, store.SessionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range owners {
		var want []string
		for _, s := range all {
			if s.Owner == o {
				want = append(want, s.ID)
			}
		}
		got, next, err := db.Sessions(ctx, store.SessionFilter{Owner: o})
		if err != nil || next != "" {
			t.Fatalf("Sessions(owner %s) = next %q, %v", o, next, err)
		}
		var ids []string
		for _, s := range got {
			ids = append(ids, s.ID)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("Sessions(owner %s) = %v, want %v", o, ids, want)
		}
	}
}

func TestOwnerIndexConsistent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	path := db.Path()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	owners := []string{"alice", "bob", "carol"}
	var ids []string
	for i := range 30 {
		s := newSession(owners[i%3], base.Add(time.Duration(i)*time.Minute))
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	// Ended, some long ago (purged below), some not.
	for i, id := range ids[:20] {
		_, err := db.UpdateSession(ctx, id, func(s *store.Session) error {
			s.State, s.TerminationReason = store.StateTerminated, store.ReasonDeleted
			s.TerminatedAt = base.Add(time.Duration(i) * time.Minute)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// An owner is part of the session's key in the index: fixed.
	_, err = db.UpdateSession(ctx, ids[25], func(s *store.Session) error { s.Owner = "mallory"; return nil })
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("UpdateSession(owner changed) = %v, want ErrInvalid", err)
	}
	for _, id := range ids[20:24] {
		if err := db.DeleteSession(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.PurgeSessions(ctx, base.Add(10*time.Minute)); err != nil || n != 10 {
		t.Fatalf("PurgeSessions = %d, %v, want 10", n, err)
	}
	checkByOwner(t, db, append(owners, "mallory")...)
	if got, _, _ := db.Sessions(ctx, store.SessionFilter{Owner: "mallory"}); len(got) != 0 {
		t.Errorf("Sessions(owner mallory) = %d sessions, want none", len(got))
	}
	all, _, err := db.Sessions(ctx, store.SessionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 16 {
		t.Errorf("%d sessions left, want 16", len(all))
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
	db.Close()
	if got, want := ownerIndex(t, path), wantOwnerIndex(all); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("sessions_by_owner holds %d keys %q,\nwant %d %q", len(got), got, len(want), want)
	}
}

// A file written before sessions_by_owner existed gets it, filled, at
// Open; the next Open writes nothing.
func TestOwnerIndexBackfilled(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	path := db.Path()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 12 {
		owner := "alice"
		if i%3 == 0 {
			owner = "bob"
		}
		if err := db.CreateSession(ctx, newSession(owner, base.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	all, _, err := db.Sessions(ctx, store.SessionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("sessions_by_owner")) })

	db, err = store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkByOwner(t, db, "alice", "bob")
	if got, _, _ := db.Sessions(ctx, store.SessionFilter{Owner: "alice"}); len(got) != 8 {
		t.Errorf("Sessions(owner alice) after the back-fill = %d sessions, want 8", len(got))
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
	db.Close()
	if got, want := ownerIndex(t, path), wantOwnerIndex(all); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("sessions_by_owner after the back-fill holds %q, want %q", got, want)
	}

	// Filled once: now the file is ready and Open leaves it as it is.
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("Open of a file with sessions_by_owner wrote to it")
	}
}

func TestSessionsByOwnerPaged(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var alices []*store.Session
	for i := range 40 {
		owner := []string{"alice", "al", "bob", "alice2"}[i%4]
		// Pairs share a creation time: the id orders them.
		s := newSession(owner, base.Add(time.Duration(i/2)*time.Second))
		if i%8 == 0 {
			s.State, s.TerminationReason, s.TerminatedAt = store.StateFailed, store.ReasonStartFailed, s.CreatedAt
		}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if owner == "alice" {
			alices = append(alices, s)
		}
	}
	slices.SortFunc(alices, func(a, b *store.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare([]byte(b.ID), []byte(a.ID))
	})

	page := func(f store.SessionFilter) []string {
		t.Helper()
		var ids []string
		for n := 0; ; n++ {
			got, next, err := db.Sessions(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > f.Limit || (next != "" && len(got) != f.Limit) {
				t.Fatalf("page %d: %d sessions, next %q, limit %d", n, len(got), next, f.Limit)
			}
			for _, s := range got {
				if s.Owner != f.Owner {
					t.Errorf("page %d: session of %s", n, s.Owner)
				}
				ids = append(ids, s.ID)
			}
			if next == "" {
				return ids
			}
			if n > 20 {
				t.Fatal("paging does not end")
			}
			f.After = next
		}
	}
	for _, limit := range []int{1, 3, 5, 10, 11} {
		got := page(store.SessionFilter{Owner: "alice", Limit: limit})
		var want []string
		for _, s := range alices {
			want = append(want, s.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: paged %v,\nwant %v", limit, got, want)
		}
		got = page(store.SessionFilter{Owner: "alice", State: store.StateFailed, Limit: limit})
		want = nil
		for _, s := range alices {
			if s.State == store.StateFailed {
				want = append(want, s.ID)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d, failed ones: paged %v,\nwant %v", limit, got, want)
		}
	}

	// A cursor is a place in time, whichever list gave it: one from the
	// list of everyone's continues alice's after it.
	top, next, err := db.Sessions(ctx, store.SessionFilter{Limit: 13})
	if err != nil || next == "" {
		t.Fatal(len(top), next, err)
	}
	last := top[len(top)-1]
	got, _, err := db.Sessions(ctx, store.SessionFilter{Owner: "alice", After: next})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range alices {
		if s.CreatedAt.Before(last.CreatedAt) || (s.CreatedAt.Equal(last.CreatedAt) && s.ID < last.ID) {
			want = append(want, s.ID)
		}
	}
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("alice's after everyone's cursor = %v, want %v", ids, want)
	}
}

// A page stops reading as soon as it is full: a damaged record past it
// is not decoded, so the page is served and says there is more.
func TestSessionsPageDecodesNoMore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	path := db.Path()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var damaged []string
	for i := range 6 {
		s := newSession("alice", base.Add(time.Duration(i)*time.Second))
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if i < 3 {
			damaged = append(damaged, s.ID)
		}
	}
	db.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		for _, id := range damaged {
			if err := tx.Bucket([]byte("sessions")).Put([]byte(id), []byte(`{"owner":"alice", not JSON`)); err != nil {
				return err
			}
		}
		return nil
	})
	db, err = store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, f := range []store.SessionFilter{{Limit: 3}, {Owner: "alice", Limit: 3}} {
		got, next, err := db.Sessions(ctx, f)
		if err != nil || len(got) != 3 || next == "" {
			t.Errorf("Sessions(%+v) = %d sessions, next %q, %v; want 3 and a next page", f, len(got), next, err)
		}
		if _, _, err := db.Sessions(ctx, store.SessionFilter{Owner: f.Owner, Limit: 3, After: next}); err == nil {
			t.Errorf("Sessions(%+v) of the damaged page: no error", f)
		}
	}
}
