package chimerax

import (
	"context"
	"fmt"
	"time"

	"github.com/chimerad/chimerad/store"
)

// sweepLoop runs the sweeper until the supervisor closes. It sweeps at the
// next deadline it knows of (an idle warning; an idle, busy or lifetime
// end), when woken because a deadline may have come closer (wakeSweeper),
// and fully every SweepInterval, which also recycles the pool and purges
// old records and checkpoints. Health probes have their own interval.
func (sv *Supervisor) sweepLoop() {
	interval := sv.cfg.SweepInterval
	if interval <= 0 {
		return
	}
	timer := time.NewTimer(interval)
	defer timer.Stop()
	var health <-chan time.Time
	if sv.cfg.HealthInterval > 0 {
		t := time.NewTicker(sv.cfg.HealthInterval)
		defer t.Stop()
		health = t.C
	}
	lastFull, lastPurge := sv.now(), time.Time{}
	for {
		select {
		case <-sv.ctx.Done():
			return
		case <-health:
			sv.ProbeHealth()
			continue
		case <-sv.wake:
		case <-timer.C:
		}
		sv.sweepAt.Store(0) // sweeping: every wake counts (wakeSweeperFor)
		var next time.Time
		if now := sv.now(); now.Sub(lastFull) >= interval {
			lastFull = now
			_, next = sv.fullSweep()
			sv.recyclePool(now)
			// Purging reads only records older than the retention, but
			// there is no need to look more than once a minute.
			if now.Sub(lastPurge) >= time.Minute {
				lastPurge = now
				sv.Purge(sv.ctx)
			}
		} else {
			_, next = sv.sweep()
		}
		now := sv.now()
		wait := interval - now.Sub(lastFull)
		if !next.IsZero() {
			// A little past the deadline, so that it has passed by the
			// sweeper's own clock.
			wait = min(wait, max(next.Sub(now)+sweepSlop, sweepSlop))
		}
		timer.Reset(max(wait, sweepSlop))
		sv.sweepAt.Store(now.Add(max(wait, sweepSlop)).UnixNano())
	}
}

// sweepSlop is how long after a deadline the sweeper wakes for it.
const sweepSlop = 10 * time.Millisecond

// wakeSweeper has the sweeper look again now: a deadline may have come
// closer (a session became ready or idle, an idle timeout changed).
func (sv *Supervisor) wakeSweeper() {
	select {
	case sv.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// wakeSweeperFor wakes the sweeper unless it already means to look by
// at, the earliest deadline a session can now have. Activity only moves a
// session's deadlines later, so after a heartbeat or a command the sweeper
// rarely needs waking: that saves a wake-up of its goroutine (a futex on
// a busy machine) on each. A zero at always wakes it.
func (sv *Supervisor) wakeSweeperFor(at time.Time) {
	if planned := sv.sweepAt.Load(); planned != 0 && !at.IsZero() && planned <= at.UnixNano() {
		return
	}
	sv.wakeSweeper()
}

// idleDeadlineLocked is the earliest deadline c's activity can give it:
// its idle warning, or its idle end; zero if it has none to compute
// (wake the sweeper then). The caller holds sv.mu.
func (sv *Supervisor) idleDeadlineLocked(c *child) time.Time {
	timeout := sv.idleTimeout(c.idleTimeout)
	if timeout <= 0 || c.lastActivity.IsZero() {
		return time.Time{}
	}
	return c.lastActivity.Add(timeout - max(sv.cfg.IdleWarning, 0))
}

// Sweep is the full sweep of every SweepInterval: it ends every session
// past its limits and returns their ids (idle longer than its idle timeout,
// where a command in flight keeps it busy, not idle, for at most
// BusyTimeout, and with KeepConnected so does an open event stream; or
// older than MaxLifetime), sends the idle warnings due, and now and then
// purges old checkpoints. It looks only at the in-memory index of live
// sessions: no store scan.
func (sv *Supervisor) Sweep() []string {
	ids, _ := sv.fullSweep()
	return ids
}

// fullSweep is Sweep, also returning the next deadline (see sweep).
func (sv *Supervisor) fullSweep() ([]string, time.Time) {
	ids, next := sv.sweep()
	now := sv.now()
	purge := false
	sv.mu.Lock()
	sv.lastSweep = now
	if now.Sub(sv.lastPurge) >= purgeInterval {
		sv.lastPurge, purge = now, true
	}
	sv.mu.Unlock()
	if purge {
		sv.purgeCheckpoints()
	}
	sv.retryUnended(context.Background())
	return ids, next
}

// sweep ends the sessions due and sends the idle warnings due, and returns
// the next deadline it knows of (zero if none): when the sweeper should
// look again. Sweep, the full sweep of every SweepInterval, does more.
func (sv *Supervisor) sweep() (ids []string, next time.Time) {
	now := sv.now()
	type end struct {
		id         string
		reason     store.Reason
		checkpoint bool
	}
	type warning struct {
		c       *child
		expires time.Time
	}
	var ends []end
	var warn []warning
	due := func(t time.Time) bool {
		if !now.Before(t) {
			return true
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
		return false
	}
	sv.mu.Lock()
	for id, c := range sv.children {
		if c.ending || c.endScheduled || c.proc == nil || c.restarting {
			continue // ending, or (re)starting: the start timeout bounds it
		}
		select {
		case <-c.started:
		default:
			continue
		}
		if sv.cfg.MaxLifetime > 0 && due(c.created.Add(sv.cfg.MaxLifetime)) {
			c.endScheduled = true
			ends = append(ends, end{id, store.ReasonMaxLifetime, false})
			continue
		}
		timeout := sv.idleTimeout(c.idleTimeout)
		if timeout <= 0 || sv.connected(c) {
			continue
		}
		idleAt := c.lastActivity.Add(timeout)
		if c.busy > 0 {
			// Busy is not idle, for at most BusyTimeout at a stretch.
			if sv.cfg.BusyTimeout <= 0 {
				continue
			}
			idleAt = later(idleAt, c.busySince.Add(sv.cfg.BusyTimeout))
		}
		if due(idleAt) {
			// A checkpoint would queue behind a command still in flight (one
			// past busy_timeout, likely hung): end such a session without.
			c.endScheduled = true
			ends = append(ends, end{id, store.ReasonIdleTimeout, c.busy == 0})
			continue
		}
		if c.busy > 0 || sv.cfg.IdleWarning <= 0 || c.idleWarned.Equal(c.lastActivity) {
			continue
		}
		// Warned min(IdleWarning, timeout/2) before the end: a short
		// timeout still gets its warning.
		if due(idleAt.Add(-min(sv.cfg.IdleWarning, timeout/2))) {
			c.idleWarned = c.lastActivity
			warn = append(warn, warning{c, idleAt})
		}
	}
	sv.mu.Unlock()

	for _, w := range warn {
		sv.Logger.Debug().Str("session_id", w.c.id).Time("idle_expires_at", w.expires).Msg("idle warning")
		sv.publish(w.c, Event{Type: EventIdleWarning, IdleExpiresAt: w.expires})
	}
	ids = make([]string, 0, len(ends))
	for _, e := range ends {
		ids = append(ids, e.id)
		sv.wg.Go(func() {
			if e.checkpoint { // an idle timeout never loses work
				if _, err := sv.checkpoint(sv.ctx, e.id, false); err != nil {
					sv.Logger.Warn().Err(err).Str("session_id", e.id).Msg("checkpoint before idle end")
				}
			}
			if _, err := sv.stop(context.Background(), e.id, e.reason); err != nil {
				sv.Logger.Error().Err(err).Str("session_id", e.id).Msg("stop at sweep")
			}
		})
	}
	return ids, next
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ProbeHealth sends `version` to every ready child that has no command in
// flight and no probe pending. ChimeraX serves one request at a time, so a
// busy child is not probed, and is not unhealthy for being busy. A child
// that has not answered for HealthTimeout is killed and its session ends
// with reason unresponsive.
func (sv *Supervisor) ProbeHealth() {
	now := sv.now()
	var probe, dead []*child
	sv.mu.Lock()
	for _, c := range sv.children {
		if c.ending || c.proc == nil || c.busy > 0 || c.restarting {
			continue
		}
		if sv.cfg.HealthTimeout > 0 && now.Sub(c.lastHealthy) >= sv.cfg.HealthTimeout {
			dead = append(dead, c)
			continue
		}
		if !c.probing {
			c.probing = true
			probe = append(probe, c)
		}
	}
	sv.mu.Unlock()
	for _, c := range dead {
		p, _ := sv.handle(c)
		sv.mu.Lock()
		silent := now.Sub(c.lastHealthy).Round(time.Second)
		sv.mu.Unlock()
		sv.Logger.Warn().Str("session_id", c.id).Int("pid", p.PID()).Dur("silent", silent).
			Str("reason", string(store.ReasonUnresponsive)).Msg("chimerax does not answer; killing it")
		sv.wg.Go(func() { sv.killUnresponsive(c.id, silent) })
	}
	for _, c := range probe {
		sv.wg.Add(1)
		go func() {
			defer sv.wg.Done()
			sv.probe(c)
		}()
	}
}

func (sv *Supervisor) probe(c *child) {
	timeout := sv.cfg.HealthTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(sv.ctx, timeout)
	defer cancel()
	_, client := sv.handle(c)
	res, err := client.Run(ctx, "version")
	sv.mu.Lock()
	defer sv.mu.Unlock()
	c.probing = false
	if err == nil && res != nil {
		c.lastHealthy = sv.now()
	}
}

// Purge deletes ended session records older than the retention period and
// returns how many it deleted.
func (sv *Supervisor) Purge(ctx context.Context) int {
	if sv.cfg.Retention <= 0 {
		return 0
	}
	n, err := sv.db.PurgeSessions(ctx, sv.now().Add(-sv.cfg.Retention))
	if err != nil {
		sv.Logger.Error().Err(err).Msg("purge ended sessions")
	} else if n > 0 {
		sv.Logger.Info().Int("purged", n).Msg("purged ended sessions past retention")
	}
	return n
}

// LastSweep returns when the sweeper last ran.
func (sv *Supervisor) LastSweep() time.Time {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.lastSweep
}

// killUnresponsive ends a session whose ChimeraX has not answered for
// silent: at once, SIGKILL to its group (a hung or stopped process honours
// neither `exit` nor SIGTERM), its error saying what happened.
func (sv *Supervisor) killUnresponsive(id string, silent time.Duration) {
	sv.mu.Lock()
	c := sv.children[id]
	claimed := c != nil && !c.ending
	if claimed {
		c.ending = true
	}
	sv.mu.Unlock()
	if !claimed {
		return
	}
	c.cancelStart()
	<-c.started
	if p, _ := sv.handle(c); p != nil {
		p.Kill()
	}
	msg := fmt.Sprintf("ChimeraX did not answer for %v (chimerax.health_timeout is %v): killed", silent, sv.cfg.HealthTimeout)
	sv.finish(c, store.StateFailed, store.ReasonUnresponsive, msg)
}
