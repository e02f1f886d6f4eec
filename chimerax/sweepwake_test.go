//go:build linux

package chimerax_test

import (
	"context"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/store"
)

// TestIdleEndAfterBusyStretch: heartbeats and commands wake the sweeper
// only when they bring a deadline closer than it means to look
// (wakeSweeperFor). A session that goes idle after a long command, while
// the sweeper sleeps until its next full sweep an hour away, must still
// end on its idle timeout; so must one that got a heartbeat.
func TestIdleEndAfterBusyStretch(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.IdleTimeout = time.Second
		c.IdleWarning = 0
		c.BusyTimeout = 0 // a command in flight protects for ever
		c.SweepInterval = time.Hour
		c.HealthInterval = 0
		c.MaxSessionsPerUser = 0
	}, "CHIMERAX_SIM_SLOW=2s", "CHIMERAX_SIM_SLOW_ON=turn")
	ended := func(id string) {
		t.Helper()
		chimeraxtest.WaitFor(t, 30*time.Second, "ended for idleness", func() bool {
			rec, _ := sv.Session(ctx, id)
			return rec.State == store.StateTerminated && rec.TerminationReason == store.ReasonIdleTimeout
		})
	}

	// Busy past its first idle deadline: the sweeper finds it busy then
	// and, knowing no other deadline, means to sleep an hour; the end of
	// the command must wake it.
	busy, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sv.RunUnchecked(ctx, busy.ID, "turn y 1"); err != nil {
		t.Fatal(err)
	}
	ended(busy.ID)

	// A heartbeat moves the deadline later: the sweeper, woken at the old
	// one, looks again at the new.
	touched, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true, IdleTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sv.Touch(ctx, touched.ID); err != nil {
		t.Fatal(err)
	}
	ended(touched.ID)
}
