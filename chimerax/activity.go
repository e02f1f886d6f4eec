package chimerax

import (
	"context"
	"time"
)

// Activity is what restarts a session's idle clock. This is its one
// definition; the README and the OpenAPI document carry the same table.
//
//   - A heartbeat (Touch), by the owner or an admin.
//   - A command (Command): the clock restarts when it completes. While a
//     command is in flight the session is busy, not idle, for at most
//     Config.BusyTimeout at a stretch.
//   - Adding a file (AddFile) and a snapshot (Snapshot), which run
//     commands of chimerad's own.
//   - A checkpoint the owner asks for (Checkpoint). The checkpoints the
//     supervisor takes itself, before an idle end or at shutdown, are not.
//   - With Config.KeepConnected, an open event stream (Events): a session
//     with a subscriber is never idle, and its clock restarts when the last
//     one leaves. Without it, streams are not activity.
//
// Never activity: reading a session or a list of them, its logs, its
// events without KeepConnected, health probes. MaxLifetime ends a session
// whatever its activity.
//
// Activity is kept in memory, in each child's lastActivity, and overlaid
// on the records read (see overlay). markActive marks a session dirty; the
// flusher writes the dirty sessions' last_activity_at in one bbolt batch
// every Config.ActivityFlushInterval, and once more at Close. A crash loses
// at most that interval of activity timestamps, and nothing else: a
// record's end always carries its session's last activity (finish).

// markActive records activity on c now and marks it for the next flush.
// The caller holds sv.mu.
func (sv *Supervisor) markActive(c *child, now time.Time) {
	c.lastActivity = now
	if sv.dirty == nil {
		sv.dirty = make(map[string]struct{})
	}
	sv.dirty[c.id] = struct{}{}
}

// flushLoop writes dirty activity every ActivityFlushInterval until the
// supervisor closes.
func (sv *Supervisor) flushLoop() {
	t := time.NewTicker(sv.cfg.ActivityFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-sv.ctx.Done():
			return
		case <-t.C:
			sv.FlushActivity(sv.ctx)
		}
	}
}

// FlushActivity writes the last activity of every session touched since
// the last flush to the store, in one transaction.
func (sv *Supervisor) FlushActivity(ctx context.Context) error {
	sv.mu.Lock()
	if len(sv.dirty) == 0 {
		sv.mu.Unlock()
		return nil
	}
	at := make(map[string]time.Time, len(sv.dirty))
	for id := range sv.dirty {
		if c := sv.children[id]; c != nil {
			at[id] = c.lastActivity
		}
	}
	clear(sv.dirty)
	sv.mu.Unlock()
	err := sv.db.SetLastActivity(context.WithoutCancel(ctx), at)
	if err != nil {
		sv.Logger.Error().Err(err).Int("sessions", len(at)).Msg("record activity")
		sv.mu.Lock()
		for id := range at { // try again at the next tick
			sv.dirty[id] = struct{}{}
		}
		sv.mu.Unlock()
	}
	return err
}
