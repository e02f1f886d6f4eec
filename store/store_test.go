package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chimerad/chimerad/store"
)

// MustOpenDB opens a database in a temporary directory and closes it, after
// a consistency check, when the test ends.
func MustOpenDB(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(tb.TempDir(), time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Check(); err != nil {
			tb.Error(err)
		}
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

func newSession(owner string, created time.Time) *store.Session {
	return &store.Session{
		ID:        uuid.NewString(),
		Owner:     owner,
		State:     store.StateStarting,
		Engine:    "simulator",
		Structure: store.Structure{Source: store.SourceNone},
		CreatedAt: created,
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	start := time.Now()
	_, err = store.Open(dir, 50*time.Millisecond)
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("second Open took %v, want it to give up after its timeout", time.Since(start))
	}
}

func TestSessionCRUD(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)

	s := newSession("alice", time.Now().UTC())
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSession(ctx, s); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateSession(dup) = %v, want ErrExists", err)
	}

	got, err := db.Session(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != "alice" || got.State != store.StateStarting {
		t.Errorf("Session = %+v, want owner alice state starting", got)
	}

	upd, err := db.UpdateSession(ctx, s.ID, func(s *store.Session) error {
		s.State = store.StateReady
		s.ReadyAt = time.Now().UTC()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if upd.State != store.StateReady {
		t.Errorf("UpdateSession state = %q, want ready", upd.State)
	}

	// An ended session without a reason is refused and nothing is written.
	_, err = db.UpdateSession(ctx, s.ID, func(s *store.Session) error {
		s.State = store.StateTerminated
		return nil
	})
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("UpdateSession(no reason) = %v, want ErrInvalid", err)
	}
	if got, _ := db.Session(ctx, s.ID); got.State != store.StateReady {
		t.Errorf("state after refused update = %q, want ready", got.State)
	}

	if err := db.DeleteSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(ctx, s.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session(deleted) = %v, want ErrNotFound", err)
	}
}

func TestSessionsNewestFirstPaged(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)

	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 7 {
		owner := "alice"
		if i%2 == 1 {
			owner = "bob"
		}
		s := newSession(owner, base.Add(time.Duration(i)*time.Minute))
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}

	var all []string
	cursor := ""
	for page := 0; ; page++ {
		got, next, err := db.Sessions(ctx, store.SessionFilter{Limit: 3, After: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range got {
			all = append(all, s.ID)
		}
		if next == "" {
			break
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	if len(all) != len(ids) {
		t.Fatalf("paged through %d sessions, want %d", len(all), len(ids))
	}
	for i, id := range all {
		if want := ids[len(ids)-1-i]; id != want {
			t.Errorf("page order [%d] = %s, want %s", i, id, want)
		}
	}

	bobs, _, err := db.Sessions(ctx, store.SessionFilter{Owner: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if len(bobs) != 3 {
		t.Errorf("Sessions(owner bob) = %d sessions, want 3", len(bobs))
	}

	if _, _, err := db.Sessions(ctx, store.SessionFilter{After: "%%%"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Sessions(bad cursor) = %v, want ErrInvalid", err)
	}
}

func TestUsersAndTokens(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)

	u, token, err := db.CreateUser(ctx, "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "alice" || u.Admin {
		t.Errorf("CreateUser = %+v, want non-admin alice", u)
	}
	if _, _, err := db.CreateUser(ctx, "alice", true); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateUser(dup) = %v, want ErrExists", err)
	}
	for _, bad := range []string{"", "Alice", "a b", "../x", "1abc", string(make([]byte, 65))} {
		if _, _, err := db.CreateUser(ctx, bad, false); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateUser(%q) = %v, want ErrInvalid", bad, err)
		}
	}

	got, err := db.UserByToken(ctx, token)
	if err != nil || got.Name != "alice" {
		t.Fatalf("UserByToken = %+v, %v, want alice", got, err)
	}
	for _, bad := range []string{"", "chx_", token + "x", token[:len(token)-1]} {
		if _, err := db.UserByToken(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByToken(%q) = %v, want ErrNotFound", bad, err)
		}
	}

	fresh, err := db.RotateToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByToken(ctx, token); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old token after rotate = %v, want ErrNotFound", err)
	}
	if got, err := db.UserByToken(ctx, fresh); err != nil || got.Name != "alice" {
		t.Errorf("new token = %+v, %v, want alice", got, err)
	}

	if err := db.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByToken(ctx, fresh); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token of removed user = %v, want ErrNotFound", err)
	}
	users, err := db.Users(ctx)
	if err != nil || len(users) != 0 {
		t.Errorf("Users after remove = %v, %v, want none", users, err)
	}
}

func TestRecordsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := newSession("alice", time.Now().UTC())
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Session(ctx, s.ID); err != nil {
		t.Errorf("Session after reopen = %v", err)
	}
}

func TestPurgeSessions(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cutoff := base.Add(10 * 24 * time.Hour)
	ended := func(created, terminated time.Time) *store.Session {
		s := newSession("alice", created)
		s.State, s.TerminationReason, s.TerminatedAt = store.StateTerminated, store.ReasonDeleted, terminated
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	var purged, kept []*store.Session
	for i := range 5 {
		at := base.Add(time.Duration(i) * time.Hour)
		purged = append(purged, ended(at, at.Add(time.Hour)))
	}
	kept = append(kept,
		ended(base, cutoff.Add(time.Hour)),                    // created long ago, ended recently
		ended(cutoff.Add(time.Hour), cutoff.Add(2*time.Hour)), // recent
	)
	live := newSession("alice", base)
	if err := db.CreateSession(ctx, live); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, live)

	n, err := db.PurgeSessions(ctx, cutoff)
	if err != nil || n != len(purged) {
		t.Fatalf("PurgeSessions = %d, %v, want %d", n, err, len(purged))
	}
	for _, s := range purged {
		if _, err := db.Session(ctx, s.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("purged session %s: %v, want ErrNotFound", s.ID, err)
		}
	}
	for _, s := range kept {
		if _, err := db.Session(ctx, s.ID); err != nil {
			t.Errorf("kept session %s: %v", s.ID, err)
		}
	}
	all, _, _ := db.Sessions(ctx, store.SessionFilter{})
	if len(all) != len(kept) {
		t.Errorf("Sessions after purge = %d, want %d (index and records agree)", len(all), len(kept))
	}
	if n, _ := db.PurgeSessions(ctx, cutoff); n != 0 {
		t.Errorf("second PurgeSessions = %d, want 0", n)
	}
}
