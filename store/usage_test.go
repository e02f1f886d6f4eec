package store_test

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/chimerad/chimerad/store"
)

// TestUsage runs a scripted series of creates and ends with known times and
// checks every figure of Usage.
func TestUsage(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(2 * time.Hour)

	type step struct {
		owner          string
		created, ready time.Duration // after t0; ready 0 = never
		ended          time.Duration // after t0; 0 = still live
		reason         store.Reason
		commands       int64
		cpu            float64
		live           bool
		liveCommands   int64
		liveCPU        float64
	}
	script := []step{
		{owner: "alice", created: 0, ready: 2 * time.Second, ended: time.Hour, reason: store.ReasonDeleted, commands: 3, cpu: 10},
		{owner: "alice", created: 10 * time.Minute, ready: 10*time.Minute + 4*time.Second, live: true, liveCommands: 5, liveCPU: 1.5},
		{owner: "bob", created: 20 * time.Minute, ended: 20*time.Minute + 30*time.Second, reason: store.ReasonStartFailed},
		{owner: "bob", created: 30 * time.Minute, ready: 30*time.Minute + time.Second, ended: 90 * time.Minute, reason: store.ReasonIdleTimeout, commands: 1, cpu: 2},
		{owner: "carol", created: -24 * time.Hour, ready: -24*time.Hour + time.Second, ended: -23 * time.Hour, reason: store.ReasonDeleted},
	}
	live := map[string]store.SessionStats{}
	for _, st := range script {
		s := newSession(st.owner, t0.Add(st.created))
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		_, err := db.UpdateSession(ctx, s.ID, func(s *store.Session) error {
			if st.ready != 0 {
				s.State, s.ReadyAt = store.StateReady, t0.Add(st.ready)
			}
			if !st.live {
				s.State, s.TerminatedAt, s.TerminationReason = store.StateTerminated, t0.Add(st.ended), st.reason
				s.Stats = &store.SessionStats{Commands: st.commands, CPUSeconds: st.cpu}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if st.live {
			live[s.ID] = store.SessionStats{Commands: st.liveCommands, CPUSeconds: st.liveCPU}
		}
	}
	liveStats := func(id string) (store.SessionStats, bool) {
		s, ok := live[id]
		return s, ok
	}

	u, err := db.Usage(ctx, store.UsageQuery{Since: t0, Now: now, LiveStats: liveStats})
	if err != nil {
		t.Fatal(err)
	}
	hours := func(ds ...time.Duration) float64 {
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		return sum.Hours()
	}
	alice := store.UsageCounts{
		SessionsCreated: 2, Live: 1,
		SessionHours: hours(time.Hour-2*time.Second, 2*time.Hour-10*time.Minute-4*time.Second),
		Ended:        map[store.Reason]int{store.ReasonDeleted: 1},
		Commands:     3 + 5, CPUSeconds: 10 + 1.5,
	}
	bob := store.UsageCounts{
		SessionsCreated: 2,
		SessionHours:    hours(30*time.Second, time.Hour-time.Second), // never ready: from created
		Ended:           map[store.Reason]int{store.ReasonStartFailed: 1, store.ReasonIdleTimeout: 1},
		Commands:        1, CPUSeconds: 2,
	}
	want := store.Usage{
		Since: t0, Until: now,
		Totals: store.UsageCounts{
			SessionsCreated: 4, Live: 1,
			SessionHours: alice.SessionHours + bob.SessionHours,
			Ended:        map[store.Reason]int{store.ReasonDeleted: 1, store.ReasonStartFailed: 1, store.ReasonIdleTimeout: 1},
			Commands:     9, CPUSeconds: 13.5,
		},
		Users: []store.UserUsage{{User: "alice", UsageCounts: alice}, {User: "bob", UsageCounts: bob}},
		Start: store.StartTimes{Count: 3, Mean: 7.0 / 3, P95: 4},
	}
	roundHours(&u)
	roundHours(&want)
	if !reflect.DeepEqual(u, want) {
		t.Errorf("Usage(since t0) =\n%+v\nwant\n%+v", u, want)
	}

	all, err := db.Usage(ctx, store.UsageQuery{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if all.Totals.SessionsCreated != 5 || len(all.Users) != 3 || all.Users[2].User != "carol" || all.Start.Count != 4 ||
		all.Totals.Commands != 4 { // no LiveStats: the live session's record has none
		t.Errorf("Usage(all) = %+v, want carol's old session too", all)
	}

	none, err := db.Usage(ctx, store.UsageQuery{Since: now, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if none.Totals.SessionsCreated != 0 || len(none.Users) != 0 || none.Users == nil || none.Start != (store.StartTimes{}) {
		t.Errorf("Usage(since now) = %+v, want empty, with users [] not null", none)
	}
}

// roundHours rounds the float figures to nine decimals, so sums taken in a
// different order compare equal.
func roundHours(u *store.Usage) {
	r := func(f *float64) { *f = math.Round(*f*1e9) / 1e9 }
	r(&u.Totals.SessionHours)
	r(&u.Start.Mean)
	for i := range u.Users {
		r(&u.Users[i].SessionHours)
	}
}
