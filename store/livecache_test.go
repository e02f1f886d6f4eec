package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/chimerad/chimerad/store"
)

// checkSame fails unless db.Session(id) (from memory for a live session)
// equals a read of the file, and says whether it came from memory.
func checkSame(t *testing.T, db *store.DB, id, step string, wantCached bool) store.Session {
	t.Helper()
	got, gotErr := db.Session(context.Background(), id)
	want, wantErr := db.ReadSession(id)
	if !errors.Is(gotErr, store.ErrNotFound) || !errors.Is(wantErr, store.ErrNotFound) {
		if gotErr != nil || wantErr != nil {
			t.Fatalf("%s: Session = %v, file = %v", step, gotErr, wantErr)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: Session =\n%+v\nwant (the file's)\n%+v", step, got, want)
	}
	if c := db.Cached(id); c != wantCached {
		t.Errorf("%s: cached = %v, want %v", step, c, wantCached)
	}
	return got
}

// TestLiveCacheEqualsFile: after each kind of write a live session's
// record read from memory equals the file's, and an ended one is read
// from the file.
func TestLiveCacheEqualsFile(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 123456789, time.Local) // decoding makes it UTC-less-monotonic
	s := newSession("alice", t0)
	s.Name = "first"
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	checkSame(t, db, s.ID, "create", true)

	update := func(step string, fn func(*store.Session) error) {
		t.Helper()
		if _, err := db.UpdateSession(ctx, s.ID, fn); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	update("rename", func(r *store.Session) error { r.Name = "renamed"; return nil })
	if got := checkSame(t, db, s.ID, "rename", true); got.Name != "renamed" {
		t.Errorf("name = %q, want renamed", got.Name)
	}
	update("idle timeout", func(r *store.Session) error { r.IdleTimeout = time.Hour; return nil })
	checkSame(t, db, s.ID, "idle timeout", true)
	code := 0
	update("ready", func(r *store.Session) error {
		r.State, r.ReadyAt = store.StateReady, t0.Add(time.Second)
		r.Process = &store.Process{PID: 42, StartTicks: 7, Port: 9000, Dir: "/d", ExitCode: &code, LastOutput: []string{"a", "b"}}
		return nil
	})
	checkSame(t, db, s.ID, "ready", true)
	if err := db.SetLastActivity(ctx, map[string]time.Time{s.ID: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if got := checkSame(t, db, s.ID, "activity", true); !got.LastActivityAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("last activity = %v, want %v", got.LastActivityAt, t0.Add(time.Minute))
	}
	update("checkpoint and restart", func(r *store.Session) error {
		r.Checkpoint = &store.Checkpoint{Path: "/c.cxs", At: t0.Add(2 * time.Minute), SizeBytes: 10}
		r.Restarts++
		return nil
	})
	checkSame(t, db, s.ID, "checkpoint", true)

	// A refused update (fn's error, or an invalid record) changes nothing.
	refused := errors.New("no")
	if _, err := db.UpdateSession(ctx, s.ID, func(r *store.Session) error { r.Name = "never"; return refused }); !errors.Is(err, refused) {
		t.Fatalf("refused update = %v", err)
	}
	if _, err := db.UpdateSession(ctx, s.ID, func(r *store.Session) error { r.State = "bogus"; return nil }); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("invalid update = %v", err)
	}
	if got := checkSame(t, db, s.ID, "refused", true); got.Name != "renamed" || got.State != store.StateReady {
		t.Errorf("after refused updates: %q %s", got.Name, got.State)
	}

	// The returned record is the caller's: changing it changes no other read.
	got, _ := db.Session(ctx, s.ID)
	got.Name, got.Process.LastOutput[0], *got.Process.ExitCode, got.Checkpoint.Path = "x", "x", 9, "x"
	checkSame(t, db, s.ID, "after the caller changed its copy", true)

	update("stopping", func(r *store.Session) error { r.State = store.StateStopping; return nil })
	checkSame(t, db, s.ID, "stopping", true)
	update("terminated", func(r *store.Session) error {
		r.State, r.TerminatedAt, r.TerminationReason = store.StateTerminated, t0.Add(time.Hour), store.ReasonDeleted
		r.Stats = &store.SessionStats{Commands: 3, CPUSeconds: 1.5}
		return nil
	})
	checkSame(t, db, s.ID, "terminated", false)
	// Activity for an ended session is ignored, and caches nothing.
	if err := db.SetLastActivity(ctx, map[string]time.Time{s.ID: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	checkSame(t, db, s.ID, "activity after the end", false)

	// A live session deleted is gone from memory too.
	other := newSession("bob", t0)
	if err := db.CreateSession(ctx, other); err != nil {
		t.Fatal(err)
	}
	checkSame(t, db, other.ID, "create other", true)
	if err := db.DeleteSession(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(ctx, other.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted session: %v, want ErrNotFound", err)
	}
	checkSame(t, db, other.ID, "deleted", false)
}

// TestLiveCacheFilledAfterReopen: a session live in the file at Open
// (a previous daemon's) is read from the file once, then from memory, and
// writes keep it equal.
func TestLiveCacheFilledAfterReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	live, ended := newSession("alice", time.Now()), newSession("alice", time.Now())
	ended.State, ended.TerminationReason, ended.TerminatedAt = store.StateFailed, store.ReasonStartFailed, time.Now()
	for _, s := range []*store.Session{live, ended} {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if db, err = store.Open(dir, time.Second); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Cached(live.ID) {
		t.Fatal("cached before any read")
	}
	checkSame(t, db, live.ID, "first read", true)
	checkSame(t, db, ended.ID, "ended", false)
	if _, err := db.UpdateSession(ctx, live.ID, func(s *store.Session) error { s.Name = "adopted"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := checkSame(t, db, live.ID, "update", true); got.Name != "adopted" {
		t.Errorf("name = %q", got.Name)
	}
}

// TestLiveCacheConcurrent: readers (some of them filling) and writers at
// once; in the end memory and file agree. Run it with -race.
func TestLiveCacheConcurrent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 4 {
		s := newSession("alice", time.Now())
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	db.Close()
	if db, err = store.Open(dir, time.Second); err != nil { // nothing cached: reads fill
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				id := ids[(w+i)%len(ids)]
				switch i % 3 {
				case 0:
					db.UpdateSession(ctx, id, func(s *store.Session) error { s.Name = fmt.Sprint(w, i); return nil })
				case 1:
					db.SetLastActivity(ctx, map[string]time.Time{id: time.Now()})
				default:
					db.Session(ctx, id)
				}
			}
		})
		wg.Go(func() {
			for i := range 200 {
				db.Session(ctx, ids[i%len(ids)])
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		checkSame(t, db, id, "after the race", true)
	}
}

// TestCloneSharesNothing: a clone of a record with every field set holds
// no pointer, slice or map of the original, so that a new field of
// reference type cannot be forgotten by clone.
func TestCloneSharesNothing(t *testing.T) {
	var s store.Session
	fillAll(reflect.ValueOf(&s).Elem())
	c := s.Clone()
	if !reflect.DeepEqual(s, c) {
		t.Fatalf("clone differs:\n%+v\n%+v", s, c)
	}
	shared(t, "Session", reflect.ValueOf(s), reflect.ValueOf(c))
}

// fillAll sets every exported field of v, recursively, to something not zero.
func fillAll(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillAll(v.Field(i))
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillAll(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillAll(k)
		fillAll(e)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		v.SetUint(1)
	case reflect.Float64, reflect.Float32:
		v.SetFloat(1)
	}
}

// shared fails where a and b hold the same pointer, slice or map.
func shared(t *testing.T, path string, a, b reflect.Value) {
	t.Helper()
	switch a.Kind() {
	case reflect.Struct:
		if a.Type() == reflect.TypeOf(time.Time{}) {
			return
		}
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				shared(t, path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
			}
		}
	case reflect.Pointer, reflect.Map:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			t.Errorf("%s is shared by the clone", path)
		}
		if a.Kind() == reflect.Pointer && !a.IsNil() {
			shared(t, path, a.Elem(), b.Elem())
		}
	case reflect.Slice:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			t.Errorf("%s is shared by the clone", path)
		}
		for i := range min(a.Len(), b.Len()) {
			shared(t, fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i))
		}
	}
}
