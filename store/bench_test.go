package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chimerad/chimerad/store"
)

// fillOthers stores n ended sessions of 100 users other than alice,
// created one millisecond apart from t0 on.
func fillOthers(tb testing.TB, db *store.DB, t0 time.Time, n int) {
	tb.Helper()
	ctx := context.Background()
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		rec := &store.Session{
			ID: uuid.NewString(), Owner: fmt.Sprintf("u%d", i%100), Name: "bench", State: store.StateTerminated,
			Engine: "simulator", Structure: store.Structure{Source: store.SourcePDB, PDBID: "1hpv", Format: "mmcif"},
			CreatedAt: at, ReadyAt: at, LastActivityAt: at, TerminatedAt: at.Add(time.Second),
			TerminationReason: store.ReasonDeleted,
			Stats:             &store.SessionStats{Commands: 10, CPUSeconds: 1.5},
		}
		if err := db.CreateSession(ctx, rec); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkSessionsOneUserAmong10000 lists one user's sessions (alice's
// 10, the API's default page of 100) with 10,000 records of 100 other
// users stored, all newer than hers: the worst case for a walk of the
// creation index, which must pass every other record to reach hers.
func BenchmarkSessionsOneUserAmong10000(b *testing.B) {
	ctx := context.Background()
	db := MustOpenDB(b)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		if err := db.CreateSession(ctx, newSession("alice", t0.Add(time.Duration(i)*time.Second))); err != nil {
			b.Fatal(err)
		}
	}
	fillOthers(b, db, t0.Add(time.Minute), 10000)
	b.ReportAllocs()
	for b.Loop() {
		if got, next, err := db.Sessions(ctx, store.SessionFilter{Owner: "alice", Limit: 100}); err != nil || len(got) != 10 || next != "" {
			b.Fatalf("Sessions = %d, %q, %v", len(got), next, err)
		}
	}
}

// BenchmarkSessionsAdminPage lists the newest page of 100 of all sessions,
// as an admin does, with 10,000 stored.
func BenchmarkSessionsAdminPage(b *testing.B) {
	ctx := context.Background()
	db := MustOpenDB(b)
	fillOthers(b, db, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10000)
	b.ReportAllocs()
	for b.Loop() {
		if got, next, err := db.Sessions(ctx, store.SessionFilter{Limit: 100}); err != nil || len(got) != 100 || next == "" {
			b.Fatalf("Sessions = %d, %q, %v", len(got), next, err)
		}
	}
}
