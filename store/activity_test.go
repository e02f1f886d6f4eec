package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/chimerad/chimerad/store"
)

func TestSetLastActivity(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	live, ended := newSession("alice", t0), newSession("alice", t0)
	live.LastActivityAt, ended.LastActivityAt = t0, t0
	for _, s := range []*store.Session{live, ended} {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.UpdateSession(ctx, ended.ID, func(s *store.Session) error {
		s.State, s.TerminatedAt, s.TerminationReason = store.StateTerminated, t0, store.ReasonDeleted
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Minute)
	err := db.SetLastActivity(ctx, map[string]time.Time{live.ID: later, ended.ID: later, "missing": later})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   string
		want time.Time
	}{{live.ID, later}, {ended.ID, t0}} {
		got, err := db.Session(ctx, c.id)
		if err != nil || !got.LastActivityAt.Equal(c.want) {
			t.Errorf("LastActivityAt(%s) = %v, %v, want %v", c.id, got.LastActivityAt, err, c.want)
		}
	}
	// An older time never moves activity back.
	if err := db.SetLastActivity(ctx, map[string]time.Time{live.ID: t0}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Session(ctx, live.ID); !got.LastActivityAt.Equal(later) {
		t.Errorf("LastActivityAt after older time = %v, want %v", got.LastActivityAt, later)
	}
}

// BenchmarkUserByToken measures resolving a known token, as every
// authenticated request does: from memory after the first.
func BenchmarkUserByToken(b *testing.B) {
	ctx := context.Background()
	db := MustOpenDB(b)
	_, token, err := db.CreateUser(ctx, "alice", false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.UserByToken(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}
