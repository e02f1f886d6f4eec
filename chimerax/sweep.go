package chimerax

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/chimerad/chimerad/chimerax/process"
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
			if _, err := sv.Stop(context.Background(), e.id, e.reason); err != nil {
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
			sv.Stop(context.Background(), c.id, store.ReasonUnresponsive)
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

// Reconcile ends every session a previous daemon left live: a surviving
// child, recognised by pid, start time and session id together, is killed,
// and the session ends with reason daemon_restart. Children started but
// never recorded (the daemon died in between) are found by the session id
// in their environment and killed too. Session directories with no live
// record are removed.
func (sv *Supervisor) Reconcile(ctx context.Context) error {
	live, _, err := sv.db.Sessions(ctx, store.SessionFilter{Live: true})
	if err != nil {
		return err
	}
	sessionsDir := filepath.Join(sv.cfg.DataDir, "sessions")
	strays := process.FindChildren(sessionsDir)
	now := sv.now()
	adopted := 0
	for _, rec := range live {
		if sv.cfg.OnRestart == OnRestartAdopt {
			err := sv.adopt(ctx, rec)
			if err == nil {
				adopted++
				delete(strays, rec.ID)
				continue
			}
			sv.Logger.Warn().Err(err).Str("session_id", rec.ID).Str("user", rec.Owner).Msg("cannot adopt session")
		}
		if p := rec.Process; p != nil && p.PID > 0 && process.IsChild(p.PID, p.StartTicks, rec.ID) {
			process.KillGroup(p.PID)
		}
		if p := rec.Process; p != nil && p.ShimPID > 0 && process.IsChild(p.ShimPID, p.ShimStartTicks, rec.ID) {
			process.KillGroup(p.ShimPID)
		}
		for _, pid := range strays[rec.ID] {
			process.KillGroup(pid)
		}
		delete(strays, rec.ID)
		_, err := sv.db.UpdateSession(ctx, rec.ID, func(s *store.Session) error {
			if !s.State.Live() {
				return errAlreadyEnded
			}
			s.State, s.TerminatedAt, s.TerminationReason = store.StateTerminated, now, store.ReasonDaemonRestart
			s.Error = "chimerad restarted while the session was " + string(rec.State)
			return nil
		})
		if err != nil && !errors.Is(err, errAlreadyEnded) {
			return err
		}
		sv.Logger.Info().Str("session_id", rec.ID).Str("user", rec.Owner).
			Str("reason", string(store.ReasonDaemonRestart)).Msg("session ended at start-up")
	}
	for id, pids := range strays {
		for _, pid := range pids {
			sv.Logger.Warn().Str("session_id", id).Int("pid", pid).Msg("killing unrecorded chimerax child")
			process.KillGroup(pid)
		}
	}
	if adopted > 0 {
		sv.Logger.Info().Int("sessions", adopted).Msg("adopted sessions left running by the previous chimerad")
	}
	// A cgroup holds all a dead session's processes, even those that left
	// its process group. Only this daemon's sessions' (a record, or a
	// directory under its data dir): a chimerax.cgroup may be shared.
	for _, id := range sv.cg.SessionIDs() {
		sv.mu.Lock()
		_, inUse := sv.children[id]
		sv.mu.Unlock()
		if !inUse && sv.ours(ctx, id) {
			sv.cg.DestroySession(id)
		}
	}
	entries, err := os.ReadDir(sessionsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		// Every live record was adopted or ended above: only adopted
		// sessions' directories are in use.
		if uuid.Validate(e.Name()) != nil {
			continue
		}
		sv.mu.Lock()
		_, inUse := sv.children[e.Name()]
		sv.mu.Unlock()
		if !inUse {
			os.RemoveAll(filepath.Join(sessionsDir, e.Name()))
		}
	}
	return nil
}

// ours reports whether session id is this daemon's: it has a record in
// the store or a directory under the data dir (a pool child, or a child
// started but never recorded).
func (sv *Supervisor) ours(ctx context.Context, id string) bool {
	if _, err := os.Stat(sv.sessionDir(id)); err == nil {
		return true
	}
	_, err := sv.db.Session(ctx, id)
	return err == nil
}

// adopt re-attaches a ready session whose shim and child survived the
// previous daemon: the shim must answer on its socket about the very child
// recorded (pid and start time), and the child must answer a command.
func (sv *Supervisor) adopt(ctx context.Context, rec store.Session) error {
	if rec.State != store.StateReady || rec.Process == nil || rec.Process.ShimPID == 0 {
		return fmt.Errorf("session was %s, not ready with a shim", rec.State)
	}
	r := rec.Process
	p, err := process.Adopt(sv.sessionDir(rec.ID), process.Info{
		PID: r.PID, StartTicks: r.StartTicks, Port: r.Port, Dir: r.Dir,
		ShimPID: r.ShimPID, ShimStartTicks: r.ShimStartTicks, Sandboxed: r.Sandboxed,
	}, sv.cg, rec.ID)
	if err != nil {
		return err
	}
	client := NewClient(p.Dial)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	res, err := client.Run(pctx, "version")
	cancel()
	if err != nil || res == nil {
		p.Detach()
		return fmt.Errorf("its child does not answer: %v", err)
	}

	startCtx, cancelStart := context.WithCancel(sv.ctx)
	c := &child{
		id: rec.ID, owner: rec.Owner, idleTimeout: rec.IdleTimeout,
		startCtx: startCtx, cancelStart: cancelStart,
		started: make(chan struct{}), ended: make(chan struct{}),
		created: rec.CreatedAt, lastActivity: rec.LastActivityAt, lastHealthy: sv.now(),
		proc: p, client: client,
	}
	close(c.started)
	sv.mu.Lock()
	sv.children[c.id] = c
	sv.perUser[c.owner]++
	sv.mu.Unlock()
	sv.wg.Add(1)
	go func() {
		defer sv.wg.Done()
		sv.watch(c)
	}()
	sv.Logger.Info().Str("session_id", rec.ID).Str("user", rec.Owner).Int("pid", p.PID()).Msg("session adopted")
	return nil
}
