package chimerax

import (
	"context"
	"time"

	"github.com/chimerad/chimerad/store"
)

// sweepLoop ends idle sessions on every tick, probes children's health and
// purges old records, until the supervisor closes.
func (sv *Supervisor) sweepLoop() {
	if sv.cfg.SweepInterval <= 0 {
		return
	}
	sweep := time.NewTicker(sv.cfg.SweepInterval)
	defer sweep.Stop()
	var health <-chan time.Time
	if sv.cfg.HealthInterval > 0 {
		t := time.NewTicker(sv.cfg.HealthInterval)
		defer t.Stop()
		health = t.C
	}
	var lastPurge time.Time
	for {
		select {
		case <-sv.ctx.Done():
			return
		case <-sweep.C:
			sv.Sweep()
			sv.recyclePool(sv.now())
			// Purging reads only records older than the retention, but
			// there is no need to look more than once a minute.
			if now := sv.now(); now.Sub(lastPurge) >= time.Minute {
				lastPurge = now
				sv.Purge(sv.ctx)
			}
		case <-health:
			sv.ProbeHealth()
		}
	}
}

// Sweep ends every session past its limits and returns their ids: idle
// longer than its idle timeout (a command in flight keeps it busy, not idle,
// for at most BusyTimeout), or older than MaxLifetime. It looks only at the
// in-memory index of live sessions: no store scan.
func (sv *Supervisor) Sweep() []string {
	now := sv.now()
	type end struct {
		id         string
		reason     store.Reason
		checkpoint bool
	}
	var ends []end
	sv.mu.Lock()
	sv.lastSweep = now
	for id, c := range sv.children {
		if c.ending {
			continue
		}
		select {
		case <-c.started:
		default:
			continue // still starting: the start timeout bounds it
		}
		if sv.cfg.MaxLifetime > 0 && now.Sub(c.created) >= sv.cfg.MaxLifetime {
			ends = append(ends, end{id, store.ReasonMaxLifetime, false})
			continue
		}
		busy := c.busy > 0 && (sv.cfg.BusyTimeout <= 0 || now.Sub(c.busySince) < sv.cfg.BusyTimeout)
		timeout := sv.idleTimeout(c.idleTimeout)
		if !busy && timeout > 0 && now.Sub(c.lastActivity) >= timeout {
			// A checkpoint would queue behind a command still in flight (one
			// past busy_timeout, likely hung): end such a session without.
			ends = append(ends, end{id, store.ReasonIdleTimeout, c.busy == 0})
		}
	}
	sv.mu.Unlock()
	ids := make([]string, 0, len(ends))
	for _, e := range ends {
		ids = append(ids, e.id)
		sv.wg.Add(1)
		go func() {
			defer sv.wg.Done()
			if e.checkpoint {
				sv.checkpointIdle(e.id) // an idle timeout never loses work
			}
			if _, err := sv.stop(context.Background(), e.id, e.reason); err != nil {
				sv.Logger.Error().Err(err).Str("session_id", e.id).Msg("stop at sweep")
			}
		}()
	}
	sv.afterSweep(now)
	return ids
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
		if c.ending || c.proc == nil || c.busy > 0 {
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
		sv.Logger.Warn().Str("session_id", c.id).Int("pid", c.proc.PID()).
			Str("reason", string(store.ReasonUnresponsive)).Msg("chimerax does not answer; killing it")
		sv.wg.Add(1)
		go func() {
			defer sv.wg.Done()
			sv.stop(context.Background(), c.id, store.ReasonUnresponsive)
		}()
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
	res, err := c.client.Run(ctx, "version")
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

// afterSweep is the sweeper's work beyond ending idle sessions: idle
// warnings, and now and then the purge of old checkpoints.
func (sv *Supervisor) afterSweep(now time.Time) {
	type warning struct {
		c       *child
		expires time.Time
	}
	var warn []warning
	purge := false
	sv.mu.Lock()
	for _, c := range sv.children {
		timeout := sv.idleTimeout(c.idleTimeout)
		if sv.cfg.IdleWarning <= 0 || c.ending || c.busy > 0 || timeout <= 0 || c.proc == nil {
			continue
		}
		expires := c.lastActivity.Add(timeout)
		if now.Before(expires.Add(-sv.cfg.IdleWarning)) || !now.Before(expires) || c.events.idleWarned.Equal(c.lastActivity) {
			continue
		}
		c.events.idleWarned = c.lastActivity
		warn = append(warn, warning{c, expires})
	}
	if now.Sub(sv.lastPurge) >= purgeInterval {
		sv.lastPurge, purge = now, true
	}
	sv.mu.Unlock()

	for _, w := range warn {
		sv.Logger.Debug().Str("session_id", w.c.id).Time("idle_expires_at", w.expires).Msg("idle warning")
		sv.publish(w.c, Event{Type: EventIdleWarning, IdleExpiresAt: w.expires})
	}
	if purge {
		sv.purgeCheckpoints()
	}
}
