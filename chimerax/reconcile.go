package chimerax

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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
	sessionsDir := sv.sessionsDir()
	strays := map[string][]int{}
	if sv.cfg.Launcher != LauncherSlurm { // jobs run elsewhere: cancelStrayJobs
		strays = process.FindChildren(sessionsDir)
	}
	adopted := 0
	resume := sv.cfg.OnRestart == OnRestartResume
	var toResume, toEnd []store.Session
	adoptErrs := sv.adoptAll(ctx, live)
	for _, rec := range live {
		if sv.cfg.OnRestart == OnRestartAdopt {
			err := adoptErrs[rec.ID]
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
		if resume && sv.checkCheckpoint(rec) == nil { // it died with the daemon
			toResume = append(toResume, rec)
			continue
		}
		toEnd = append(toEnd, rec)
	}
	for id, pids := range strays {
		for _, pid := range pids {
			sv.Logger.Warn().Str("session_id", id).Int("pid", pid).Msg("killing unrecorded chimerax child")
			process.KillGroup(pid)
		}
	}
	if sv.cfg.Launcher == LauncherSlurm {
		sv.cancelStrayJobs(ctx)
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
		// Every live record was adopted above or is ended below: only
		// adopted sessions' directories are in use.
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
	// Writes come last, after what frees space: on a full disk they may
	// fail, and the daemon still starts (degraded; see noteUnended).
	var unended []string
	for _, rec := range toEnd {
		if err := sv.endAtStart(ctx, rec.ID, "chimerad restarted while the session was "+string(rec.State)); errors.Is(err, store.ErrNoSpace) {
			unended = append(unended, rec.ID)
		} else if err != nil {
			return err
		}
	}
	marked, err := sv.resumeMarked(ctx, resume)
	if err != nil {
		return err
	}
	toResume = append(toResume, marked...)
	for _, rec := range toResume {
		if err := sv.resume(ctx, rec); err != nil {
			sv.Logger.Error().Err(err).Str("session_id", rec.ID).Msg("cannot resume session")
			if err := sv.endAtStart(ctx, rec.ID, "chimerad restarted and could not resume the session from its checkpoint"); errors.Is(err, store.ErrNoSpace) {
				unended = append(unended, rec.ID)
			} else if err != nil {
				return err
			}
		}
	}
	if len(toResume) > 0 {
		sv.Logger.Info().Int("sessions", len(toResume)).Msg("resuming sessions from their checkpoints (session.on_restart: resume)")
	}
	sv.noteUnended(unended)
	return nil
}

// noteUnended keeps the sessions a full disk kept Reconcile from marking
// ended (their children are gone): the daemon serves degraded, says so,
// and each full sweep tries again (retryUnended).
func (sv *Supervisor) noteUnended(ids []string) {
	if len(ids) == 0 {
		return
	}
	sv.mu.Lock()
	sv.unended = append(sv.unended, ids...)
	sv.mu.Unlock()
	sv.Logger.Error().Err(store.ErrNoSpace).Int("sessions", len(ids)).
		Msg("the disk is full: chimerad starts degraded, with sessions of the previous daemon not yet marked ended; it retries each sweep, and /readyz fails until a write succeeds")
}

// retryUnended marks ended what Reconcile could not, once there is room.
func (sv *Supervisor) retryUnended(ctx context.Context) {
	sv.mu.Lock()
	ids := sv.unended
	sv.unended = nil
	sv.mu.Unlock()
	var left []string
	for _, id := range ids {
		if err := sv.endAtStart(ctx, id, "chimerad restarted while the session was live"); err != nil {
			left = append(left, id)
		}
	}
	if len(left) > 0 {
		sv.mu.Lock()
		sv.unended = append(left, sv.unended...)
		sv.mu.Unlock()
	} else if len(ids) > 0 {
		sv.Logger.Info().Int("sessions", len(ids)).Msg("space freed: sessions of the previous daemon marked ended")
	}
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

// adoptBound is how long the adopt-mode reconcile waits for each child
// (all at once), and so the most it delays serving: a hung child is not
// adopted, and a healthy one answers far sooner.
const adoptBound = 2 * time.Second

// adoptAll adopts the sessions in live in parallel (OnRestartAdopt; else
// it does nothing) and returns each one's error.
func (sv *Supervisor) adoptAll(ctx context.Context, live []store.Session) map[string]error {
	errs := make(map[string]error, len(live))
	if sv.cfg.OnRestart != OnRestartAdopt {
		return errs
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, rec := range live {
		wg.Go(func() {
			err := sv.adopt(ctx, rec)
			mu.Lock()
			errs[rec.ID] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return errs
}

// adopt re-attaches a ready session whose shim and child survived the
// previous daemon: the shim must answer on its socket about the very child
// recorded (pid and start time), and the child must answer a command.
func (sv *Supervisor) adopt(ctx context.Context, rec store.Session) error {
	var p runner
	if sv.cfg.Launcher == LauncherSlurm {
		if rec.State != store.StateReady {
			return fmt.Errorf("session was %s, not ready", rec.State)
		}
		j, err := sv.adoptJob(rec)
		if err != nil {
			return err
		}
		p = j
	} else {
		if rec.State != store.StateReady || rec.Process == nil || rec.Process.ShimPID == 0 {
			return fmt.Errorf("session was %s, not ready with a shim", rec.State)
		}
		r := rec.Process
		lp, err := process.Adopt(sv.sessionDir(rec.ID), process.Info{
			PID: r.PID, StartTicks: r.StartTicks, Port: r.Port, Dir: r.Dir,
			ShimPID: r.ShimPID, ShimStartTicks: r.ShimStartTicks, Sandboxed: r.Sandboxed,
		}, sv.cg, rec.ID, adoptBound)
		if err != nil {
			return err
		}
		sv.memWatch.Add(lp, sv.cfg.MemoryMax) // nil where memory.max bounds it
		p = lp
	}
	client := NewClient(p.Dial)
	pctx, cancel := context.WithTimeout(ctx, adoptBound)
	res, err := client.Run(pctx, "version")
	cancel()
	if err != nil || res == nil {
		p.Detach()
		return fmt.Errorf("its child does not answer: %v", err)
	}

	c := sv.newChild(rec.ID, rec.Owner, rec.IdleTimeout, rec.CreatedAt, rec.LastActivityAt)
	c.lastHealthy, c.proc, c.client = sv.now(), p, client
	close(c.started)
	sv.mu.Lock()
	sv.children[c.id] = c
	sv.perUser[c.owner]++
	sv.mu.Unlock()
	sv.wg.Add(1)
	go func() {
		defer sv.wg.Done()
		sv.watch(c, p)
	}()
	sv.Logger.Info().Str("session_id", rec.ID).Str("user", rec.Owner).Int("pid", p.PID()).Msg("session adopted")
	return nil
}

// resumeMarked returns the ended sessions the previous daemon shut down
// and marked to resume (if resume is set; otherwise it forgets the marks).
func (sv *Supervisor) resumeMarked(ctx context.Context, resume bool) ([]store.Session, error) {
	ids, err := sv.db.ResumeMarks(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.Session
	for _, id := range ids {
		rec, err := sv.db.Session(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		case resume && rec.TerminationReason == store.ReasonShutdown && sv.checkCheckpoint(rec) == nil:
			out = append(out, rec)
			continue // unmarked once it is starting again
		}
		if err := sv.db.UnmarkResume(ctx, id); err != nil && !errors.Is(err, store.ErrNoSpace) {
			return nil, err // a mark left on a full disk is read again next start
		}
	}
	return out, nil
}

// resume starts session rec again from its latest checkpoint, under its
// id and owner: its record becomes starting again, and the start goes on
// in the background as a create's does. Its lifetime counts from its
// first creation. A crash before it is ready leaves a live record with a
// checkpoint, which the next daemon resumes again.
func (sv *Supervisor) resume(ctx context.Context, rec store.Session) error {
	dir := sv.sessionDir(rec.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("resume session %s: %w", rec.ID, err)
	}
	openPath, err := (&resumePlan{from: rec, path: rec.Checkpoint.Path}).copyInto(dir)
	if err != nil {
		return err
	}
	now := sv.now()
	rec, err = sv.db.UpdateSession(ctx, rec.ID, func(s *store.Session) error {
		s.State, s.ReadyAt, s.LastActivityAt = store.StateStarting, time.Time{}, now
		s.TerminatedAt, s.TerminationReason, s.Error = time.Time{}, "", ""
		s.Process = &store.Process{Dir: dir}
		return nil
	})
	if err != nil {
		return fmt.Errorf("resume session %s: %w", rec.ID, err)
	}
	if err := sv.db.UnmarkResume(ctx, rec.ID); err != nil {
		return err
	}
	c := sv.newChild(rec.ID, rec.Owner, rec.IdleTimeout, rec.CreatedAt, now)
	sv.mu.Lock()
	sv.children[c.id] = c
	sv.perUser[c.owner]++
	sv.mu.Unlock()
	sv.Logger.Info().Str("session_id", rec.ID).Str("user", rec.Owner).Str("state", string(rec.State)).Msg("session resuming from its checkpoint")
	sv.wg.Go(func() { sv.start(c, rec, openPath, false) })
	return nil
}

// endAtStart ends a session a previous daemon left live, at start-up
// (reason daemon_restart); one ended already stays as it is.
func (sv *Supervisor) endAtStart(ctx context.Context, id, msg string) error {
	now := sv.now()
	rec, err := sv.db.UpdateSession(ctx, id, func(s *store.Session) error {
		if !s.State.Live() {
			return errAlreadyEnded
		}
		s.State, s.TerminatedAt, s.TerminationReason, s.Error = store.StateTerminated, now, store.ReasonDaemonRestart, msg
		return nil
	})
	if errors.Is(err, errAlreadyEnded) {
		return nil
	}
	if err != nil {
		return err
	}
	sv.Logger.Info().Str("session_id", id).Str("user", rec.Owner).
		Str("reason", string(store.ReasonDaemonRestart)).Msg("session ended at start-up")
	return nil
}
