package chimerax

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/store"
	"github.com/google/uuid"
)

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
