package chimerax

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/chimerad/chimerad/store"
)

// sweepLoop ends idle sessions on every tick until the supervisor closes.
func (sv *Supervisor) sweepLoop() {
	if sv.cfg.SweepInterval <= 0 {
		return
	}
	t := time.NewTicker(sv.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-sv.ctx.Done():
			return
		case <-t.C:
			sv.Sweep()
		}
	}
}

// Sweep ends every session idle past its timeout and returns their ids.
// It looks only at the in-memory index of live sessions: no store scan.
func (sv *Supervisor) Sweep() []string {
	now := sv.now()
	var idle []string
	sv.mu.Lock()
	sv.lastSweep = now
	for id, c := range sv.children {
		timeout := sv.idleTimeout(c.idleTimeout)
		if c.ending || c.busy > 0 || timeout <= 0 || now.Sub(c.lastActivity) < timeout {
			continue
		}
		select {
		case <-c.started:
		default:
			continue // still starting: the start timeout bounds it
		}
		idle = append(idle, id)
	}
	sv.mu.Unlock()
	for _, id := range idle {
		sv.wg.Add(1)
		go func() {
			defer sv.wg.Done()
			sv.checkpointIdle(id)
			if _, err := sv.Stop(context.Background(), id, store.ReasonIdleTimeout); err != nil {
				sv.Logger.Error().Err(err).Str("session_id", id).Msg("stop idle session")
			}
		}()
	}
	sv.afterSweep(now)
	return idle
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
	strays := FindChildren(sessionsDir)
	now := sv.now()
	for _, rec := range live {
		if p := rec.Process; p != nil && p.PID > 0 && sv.isOurChild(p.PID, p.StartTicks, rec.ID) {
			killGroup(p.PID)
		}
		for _, pid := range strays[rec.ID] {
			killGroup(pid)
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
			killGroup(pid)
		}
	}
	entries, err := os.ReadDir(sessionsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		// Every live record has ended above, so no session directory is in use.
		if uuid.Validate(e.Name()) == nil {
			os.RemoveAll(filepath.Join(sessionsDir, e.Name()))
		}
	}
	return nil
}

// isOurChild reports whether pid is still the child recorded for session
// id: same start time, and the session id in its environment.
func (sv *Supervisor) isOurChild(pid int, startTicks uint64, id string) bool {
	ticks, err := processStartTicks(pid)
	return err == nil && ticks == startTicks && processHasEnv(pid, SessionEnv+"="+id)
}

// FindChildren scans /proc for processes working in a session directory
// under sessionsDir and carrying that session's id, by session id.
func FindChildren(sessionsDir string) map[string][]int {
	out := make(map[string][]int)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err != nil || filepath.Dir(cwd) != sessionsDir {
			continue
		}
		cwd = strings.TrimSuffix(cwd, " (deleted)") // its directory was removed under it
		id := filepath.Base(cwd)
		if processHasEnv(pid, SessionEnv+"="+id) {
			out[id] = append(out[id], pid)
		}
	}
	return out
}

// killGroup SIGKILLs the process group led by pid and waits, bounded, for
// the leader to be gone. A child of a dead daemon has been re-parented, so
// it is reaped by its new parent, not here.
func killGroup(pid int) {
	syscall.Kill(-pid, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && isZombie(st) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isZombie(stat []byte) bool {
	for i := len(stat) - 1; i >= 0; i-- {
		if stat[i] == ')' {
			return i+2 < len(stat) && stat[i+2] == 'Z'
		}
	}
	return false
}
