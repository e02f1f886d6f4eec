package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/chimerad/chimerad/store"
)

// TestSessionsFilterNotFooled: the list skips records by their raw JSON
// before decoding them; a name quoting another owner or state must not
// change what matches.
func TestSessionsFilterNotFooled(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, owner := range []string{"alice", "bob", "alice"} {
		s := newSession(owner, t0.Add(time.Duration(i)*time.Second))
		s.Name = `"owner":"bob" "state":"ready"`
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		f    store.SessionFilter
		want int
	}{
		{store.SessionFilter{Owner: "alice"}, 2},
		{store.SessionFilter{Owner: "bob"}, 1},
		{store.SessionFilter{Owner: "bo"}, 0},
		{store.SessionFilter{State: store.StateReady}, 0},
		{store.SessionFilter{State: store.StateStarting}, 3},
		{store.SessionFilter{Live: true, Owner: "bob"}, 1},
	} {
		got, _, err := db.Sessions(ctx, c.f)
		if err != nil || len(got) != c.want {
			t.Errorf("Sessions(%+v) = %d sessions, %v; want %d", c.f, len(got), err, c.want)
		}
	}
}
