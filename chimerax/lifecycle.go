package chimerax

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/chimerad/chimerad/chimerax/policy"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/store"
)

// start launches c's child, opens its structure and marks the session
// ready; on failure it ends the session failed. It always closes c.started.
// If unrecorded, rec is not in the store yet: start writes it once, ready
// or (before failing it) starting.
func (sv *Supervisor) start(c *child, rec store.Session, openPath string, unrecorded bool) {
	log := sv.Logger.With().Str("session_id", c.id).Str("user", c.owner).Logger()
	var (
		p      runner
		client *Client
		err    error
	)
	if w := c.warm; w != nil { // from the pool: started already
		p, client = w.proc, w.client
	} else {
		p, err = sv.launch(c.startCtx, c.id, c)
		if err != nil {
			sv.failStart(c, p, store.ReasonStartFailed, err)
			return
		}
		client = NewClient(p.Dial)
	}
	log.Debug().Int("pid", p.PID()).Int("port", processRecord(p).Port).Msg("chimerax listening")

	var open string
	switch {
	case openPath != "": // an upload, or an entry chimerad downloaded
		open = sv.openNamed(c.id, openPath, cmp.Or(rec.Structure.Filename, rec.Name))
	case rec.Structure.Source == store.SourcePDB:
		// ChimeraX fetches the extended form without its pdb_ prefix.
		open = "open " + strings.TrimPrefix(rec.Structure.PDBID, "pdb_") + " from pdb"
	}
	c.openCmd = open // before started is closed: Restart reads it after
	if open != "" {
		ctx, cancel := context.WithTimeout(c.startCtx, sv.cfg.StartTimeout)
		res, err := client.Run(ctx, open)
		cancel()
		if (err != nil || !res.OK()) && unrecorded {
			sv.record(rec)
		}
		switch {
		case err != nil:
			// A structure too big for the memory limit kills the child
			// mid-open: the kernel or the watch has counted the kill by
			// now; a child that failed an allocation says so as it exits
			// (freeing gigabytes can take a while).
			if p.OOMKilled() || p.WaitDone(time.Second) && sv.outOfMemory(p) {
				p.Kill()
				sv.failStart(c, p, store.ReasonOutOfMemory, p.StartError(fmt.Errorf("%w opening the structure: it went over its limit of %s (chimerax.memory_max)", ErrOutOfMemory, humanBytes(sv.cfg.MemoryMax))))
				return
			}
			p.Kill()
			sv.failStart(c, p, store.ReasonStartFailed, p.StartError(fmt.Errorf("%w: open structure: %v", ErrStartFailed, err)))
			return
		case !res.OK():
			p.Kill()
			// ChimeraX's text names the file by its path; show the client's name.
			msg := strings.ReplaceAll(res.Message(), openPath, cmp.Or(rec.Structure.Filename, rec.Structure.PDBID))
			sv.failStart(c, p, store.ReasonOpenFailed, fmt.Errorf("%w: %s", ErrOpenFailed, msg))
			return
		}
	}

	sv.mu.Lock()
	abandoned := c.ending
	if !abandoned {
		c.proc, c.client = p, client
		c.lastActivity, c.lastHealthy = sv.now(), sv.now()
	}
	sv.mu.Unlock()
	if abandoned && unrecorded {
		sv.record(rec) // for the Stop's end to be recorded
	}
	if abandoned { // a Stop claimed the session while it started
		p.Kill()
		c.startErr = ErrNotLive
		close(c.started)
		return
	}
	now := sv.now()
	ready := func(s *store.Session) error {
		if s.State != store.StateStarting {
			return nil
		}
		s.State, s.ReadyAt, s.LastActivityAt = store.StateReady, now, now
		// The pid is recorded only now, saving a write per start: a child
		// started but unrecorded when the daemon dies is still found by
		// Reconcile, through the session id in its environment.
		s.Process = processRecord(p)
		return nil
	}
	if unrecorded {
		ready(&rec)
		err = sv.db.CreateSession(sv.ctx, &rec)
	} else {
		_, err = sv.db.UpdateSession(sv.ctx, c.id, ready)
	}
	if err != nil {
		log.Error().Err(err).Msg("record ready")
	}
	log.Info().Int("pid", p.PID()).Str("state", string(store.StateReady)).
		Dur("start_duration_ms", now.Sub(rec.CreatedAt)).Msg("session ready")
	sv.publishState(c, store.StateReady)
	sv.observer().SessionReady(now.Sub(rec.CreatedAt))
	close(c.started)
	sv.wakeSweeper() // its idle and lifetime deadlines begin
	if c.warm != nil {
		// Refill only now: a child starting beside the open would compete
		// with it for the CPU. (A failed start refills in finish.)
		sv.refillPool()
	}

	sv.wg.Add(1)
	go func() {
		defer sv.wg.Done()
		sv.watch(c, p)
	}()
}

// record writes the starting record of a session start did not record.
func (sv *Supervisor) record(rec store.Session) {
	if err := sv.db.CreateSession(context.Background(), &rec); err != nil {
		sv.Logger.Error().Err(err).Str("session_id", rec.ID).Msg("record session")
	}
}

// failStart ends a session whose start failed, unless a Stop has claimed it.
func (sv *Supervisor) failStart(c *child, p runner, reason store.Reason, err error) {
	c.startErr = err
	if !sv.claimEnd(c) {
		close(c.started)
		return
	}
	sv.Logger.Warn().Str("session_id", c.id).Str("user", c.owner).Str("reason", string(reason)).Err(err).Msg("session start failed")
	c.proc = p
	msg := err.Error()
	if se, ok := errors.AsType[*process.StartError](err); ok {
		msg = se.Err.Error() // the output goes to the record's process info
	}
	sv.finish(c, store.StateFailed, reason, msg)
	close(c.started) // after finish, so a waiting Create reads the ended record
}

// watch waits for c's child p to exit and, unless a Stop made it exit or
// a Restart replaced it, ends the session as crashed.
func (sv *Supervisor) watch(c *child, p runner) {
	<-p.Done()
	sv.mu.Lock()
	replaced := c.proc != p || c.restarting
	sv.mu.Unlock()
	if replaced || !sv.claimEnd(c) {
		return
	}
	msg := "ChimeraX exited on its own (" + p.DescribeExit() + ")"
	reason := store.ReasonCrashed
	if j, ok := p.(*jobRunner); ok {
		if r, m, ok := j.endReason(); ok { // Slurm ended the job
			reason, msg = r, m
		}
	}
	if reason == store.ReasonCrashed && sv.outOfMemory(p) {
		reason = store.ReasonOutOfMemory
		msg = fmt.Sprintf("ChimeraX went over its memory limit of %s (chimerax.memory_max) and was stopped (%s)", humanBytes(sv.cfg.MemoryMax), p.DescribeExit())
	}
	sv.Logger.Warn().Str("session_id", c.id).Str("user", c.owner).Int("pid", p.PID()).
		Str("reason", string(reason)).Msg(msg)
	p.ReapAll()
	sv.finish(c, store.StateFailed, reason, msg)
}

// outOfMemory reports whether p, exited, died of its memory limit: over
// memory.max the kernel kills (memory.events counts it), over the bound of
// the memory watch the watch kills, and a child whose allocation fails
// anyway (the machine is out of memory) says so as it exits.
func (sv *Supervisor) outOfMemory(p runner) bool {
	return p.OOMKilled() || sv.cfg.MemoryMax > 0 && ranOutOfMemory(p.Tail(1000))
}

// ranOutOfMemory reports whether a child's last output says it died of a
// failed allocation: Python's MemoryError, or a runtime's "out of memory".
func ranOutOfMemory(lastLines []string) bool {
	for _, l := range lastLines {
		if strings.Contains(l, "MemoryError") || strings.Contains(l, "out of memory") {
			return true
		}
	}
	return false
}

// claimEnd makes the caller the one who ends c; false if someone already is.
func (sv *Supervisor) claimEnd(c *child) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if c.ending {
		return false
	}
	c.ending = true
	return true
}

// finish records the end of c's session (once: a reason is never
// overwritten), removes its directory and gives its place back.
func (sv *Supervisor) finish(c *child, state store.State, reason store.Reason, msg string) store.Session {
	defer sv.refillPool() // a place under max_sessions may have come free
	defer close(c.ended)
	defer sv.release(c)
	now := sv.now()
	stats := sv.finalStats(c)
	sv.mu.Lock()
	last := c.lastActivity
	delete(sv.dirty, c.id)
	sv.mu.Unlock()
	rec, err := sv.db.UpdateSession(context.Background(), c.id, func(s *store.Session) error {
		if !s.State.Live() {
			return errAlreadyEnded
		}
		s.State, s.TerminatedAt, s.TerminationReason, s.Error = state, now, reason, msg
		if last.After(s.LastActivityAt) {
			s.LastActivityAt = last
		}
		s.Stats = stats
		if c.proc != nil {
			s.Process = processRecord(c.proc)
			s.Process.ExitCode, s.Process.Signal = c.proc.ExitStatus()
			s.Process.LastOutput = c.proc.Tail(20)
		}
		return nil
	})
	sv.observeEnd(rec, reason, err)
	if errors.Is(err, errAlreadyEnded) {
		rec, err = sv.db.Session(context.Background(), c.id)
	}
	if err != nil {
		sv.Logger.Error().Err(err).Str("session_id", c.id).Msg("record session end")
	}
	sv.endEvents(c, rec)
	if err := os.RemoveAll(sv.sessionDir(c.id)); err != nil {
		sv.Logger.Error().Err(err).Str("session_id", c.id).Msg("remove session dir")
	}
	sv.Logger.Info().Str("session_id", c.id).Str("user", c.owner).Str("state", string(state)).
		Str("reason", string(reason)).Msg("session ended")
	return rec
}

// Stop ends a session: its child gets `exit`, then SIGTERM, then SIGKILL,
// its files are removed, and the record ends terminated with reason.
// Stopping an ended session returns its record unchanged.
func (sv *Supervisor) Stop(ctx context.Context, id string, reason store.Reason) (Info, error) {
	rec, err := sv.stop(ctx, id, reason)
	return sv.info(rec), err
}

// stop is Stop, returning the record.
func (sv *Supervisor) stop(ctx context.Context, id string, reason store.Reason) (store.Session, error) {
	sv.mu.Lock()
	c := sv.children[id]
	claimed := c != nil && !c.ending
	if claimed {
		c.ending = true
	}
	sv.mu.Unlock()

	if c == nil {
		rec, err := sv.current(ctx, id)
		if err != nil || !rec.State.Live() {
			return rec, err
		}
		// A live record with no child: only a crash between writes leaves
		// one, and Reconcile ends those; end it here all the same.
		return sv.endOrphan(ctx, rec, reason)
	}
	if !claimed { // someone else is ending it
		select {
		case <-c.ended:
		case <-ctx.Done():
			return store.Session{}, ctx.Err()
		}
		return sv.current(ctx, id)
	}

	c.cancelStart()
	<-c.started
	sv.db.UpdateSession(context.Background(), id, func(s *store.Session) error {
		if !s.State.Live() {
			return errAlreadyEnded
		}
		s.State = store.StateStopping
		return nil
	})
	sv.publishState(c, store.StateStopping)
	sv.mu.Lock()
	busy := c.busy > 0
	sv.mu.Unlock()
	switch {
	case c.proc == nil:
	case busy: // ChimeraX reads no `exit` while a command runs
		c.proc.Terminate(sv.cfg.StopGrace)
	default:
		c.proc.Stop(sv.cfg.StopGrace)
	}
	state := store.StateTerminated
	if reason == store.ReasonUnresponsive {
		state = store.StateFailed // the child failed; nobody asked for the end
	}
	return sv.finish(c, state, reason, ""), nil
}

func (sv *Supervisor) endOrphan(ctx context.Context, rec store.Session, reason store.Reason) (store.Session, error) {
	now := sv.now()
	rec, err := sv.db.UpdateSession(ctx, rec.ID, func(s *store.Session) error {
		if !s.State.Live() {
			return errAlreadyEnded
		}
		s.State, s.TerminatedAt, s.TerminationReason = store.StateTerminated, now, reason
		return nil
	})
	if errors.Is(err, errAlreadyEnded) {
		return sv.current(ctx, rec.ID)
	}
	os.RemoveAll(sv.sessionDir(rec.ID))
	return rec, err
}

// launchSpec is how a session's child, or a pool child, is started.
func (sv *Supervisor) launchSpec(id string) process.Spec {
	return process.Spec{
		Path:        sv.engine.Path,
		Args:        sv.engine.ChildArgs(),
		Env:         sv.engine.Env,
		SessionID:   id,
		Dir:         sv.sessionDir(id),
		Timeout:     sv.cfg.StartTimeout,
		LogMaxBytes: sv.cfg.LogMaxBytes,
		Shim:        sv.cfg.Shim,
		ShimEnv:     sv.cfg.ShimEnv,
		Detach:      sv.cfg.OnRestart == OnRestartAdopt,
		Sandbox:     sv.sandboxed,
		MemoryMax:   sv.cfg.MemoryMax,
		Watch:       sv.memWatch,
		Zygote:      sv.zygote,
		Cgroups:     sv.cg,
		CPUMax:      sv.cfg.CPUMax,
	}
}

// Restart replaces a ready session's ChimeraX with a fresh one under the
// same id: the way out of a wedged child or a runaway command, which a
// ChimeraX REST command cannot interrupt. The old child is killed at once
// (a command in flight there fails); the new one opens the session's latest
// checkpoint if it has one, else what the session opened at its start.
// The session's files stay. While it restarts the session is starting and
// takes no commands; its record counts the restart. A restart that fails
// ends the session failed, as a failed start does. It is the owner's act,
// so it counts as activity. (A pool child cannot stand in: it runs in a
// directory and under an id of its own.)
func (sv *Supervisor) Restart(ctx context.Context, id string) (Info, error) {
	sv.mu.Lock()
	c := sv.children[id]
	ok := c != nil && liveProc(c) != nil && !c.ending && !c.restarting
	restarting := c != nil && c.restarting
	var old runner
	if ok {
		c.restarting, old = true, c.proc
		sv.markActive(c, sv.now())
	}
	sv.mu.Unlock()
	if !ok {
		rec, err := sv.current(ctx, id)
		if err != nil {
			return sv.info(rec), err
		}
		return sv.info(rec), fmt.Errorf("%w: only a ready session restarts", notLive(rec, restarting))
	}
	log := sv.Logger.With().Str("session_id", id).Str("user", c.owner).Logger()
	rec, err := sv.db.UpdateSession(context.WithoutCancel(ctx), id, func(s *store.Session) error {
		if !s.State.Live() {
			return errAlreadyEnded
		}
		s.State, s.Restarts = store.StateStarting, s.Restarts+1
		return nil
	})
	if err != nil {
		sv.mu.Lock()
		c.restarting = false
		sv.mu.Unlock()
		return sv.info(rec), fmt.Errorf("restart session %s: %w", id, err)
	}
	sv.publishState(c, store.StateStarting)
	log.Info().Int("pid", old.PID()).Int("restarts", rec.Restarts).Msg("restarting chimerax")
	old.Kill()

	open := c.openCmd
	if sv.checkCheckpoint(rec) == nil {
		name := "restart-" + strconv.Itoa(rec.Restarts) + ".cxs"
		if path, err := (&resumePlan{from: rec, path: rec.Checkpoint.Path}).copyTo(sv.sessionDir(id), name); err == nil {
			open = "open " + quote(path)
		} else {
			log.Warn().Err(err).Msg("restart without the checkpoint")
		}
	}
	p, client, reason, err := sv.launchAndOpen(c, open)
	sv.mu.Lock()
	abandoned := c.ending // a Stop came meanwhile: it ends the session
	if err == nil && !abandoned {
		c.proc, c.client = p, client
		c.lastHealthy = sv.now()
		sv.markActive(c, sv.now())
	}
	c.restarting = false
	sv.mu.Unlock()
	switch {
	case abandoned:
		if p != nil {
			p.Kill()
		}
		rec, err := sv.current(ctx, id)
		if err == nil {
			err = fmt.Errorf("%w: session %s ended while it restarted", ErrNotLive, id)
		}
		return sv.info(rec), err
	case err != nil:
		if sv.claimEnd(c) {
			if p != nil {
				sv.mu.Lock()
				c.proc = p // the record shows the child that failed
				sv.mu.Unlock()
			}
			msg := err.Error()
			if se, ok := errors.AsType[*process.StartError](err); ok {
				msg = se.Err.Error()
			}
			log.Warn().Err(err).Str("reason", string(reason)).Msg("restart failed")
			return sv.info(sv.finish(c, store.StateFailed, reason, msg)), err
		}
		rec, _ := sv.current(ctx, id)
		return sv.info(rec), err
	}
	now := sv.now()
	rec, err = sv.db.UpdateSession(context.WithoutCancel(ctx), id, func(s *store.Session) error {
		if s.State != store.StateStarting {
			return errAlreadyEnded
		}
		s.State, s.ReadyAt, s.LastActivityAt = store.StateReady, now, now
		s.Process = processRecord(p)
		return nil
	})
	if err != nil {
		log.Error().Err(err).Msg("record restart")
	}
	sv.publishState(c, store.StateReady)
	sv.wg.Go(func() { sv.watch(c, p) })
	sv.wakeSweeper()
	log.Info().Int("pid", p.PID()).Msg("session restarted")
	return sv.info(rec), nil
}

// launchAndOpen starts a new child for c and has it run open (if any); on
// failure it kills what it started and says why, with the end reason.
func (sv *Supervisor) launchAndOpen(c *child, open string) (runner, *Client, store.Reason, error) {
	p, err := sv.launch(c.startCtx, c.id, c)
	if err != nil {
		return p, nil, store.ReasonStartFailed, err
	}
	client := NewClient(p.Dial)
	if open == "" {
		return p, client, "", nil
	}
	ctx, cancel := context.WithTimeout(c.startCtx, sv.cfg.StartTimeout)
	res, err := client.Run(ctx, open)
	cancel()
	switch {
	case err != nil:
		p.Kill()
		return p, nil, store.ReasonStartFailed, p.StartError(fmt.Errorf("%w: open structure: %v", ErrStartFailed, err))
	case !res.OK():
		p.Kill()
		return p, nil, store.ReasonOpenFailed, fmt.Errorf("%w: %s", ErrOpenFailed, relativize(res.Message(), sv.sessionDir(c.id)))
	}
	return p, client, "", nil
}

// openNamed is the command that opens path in session id's ChimeraX with
// the model named name (a client's file name or the session's name), not
// chimerad's own file name. The name is cut to plain characters and the
// command passes the command policy, as a client's would; a name that
// would not (or none) leaves the model its file's name.
func (sv *Supervisor) openNamed(id, path, name string) string {
	plain := strings.Join(strings.FieldsFunc(name, func(r rune) bool {
		return !(r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" ._-()+", r)))
	}), "_")
	plain = strings.TrimSpace(truncate(plain, 64))
	plain = strings.TrimSuffix(plain, "…")
	open := "open " + quote(path)
	if plain == "" || filepath.Ext(path) == ".cxs" { // a session file names its models
		return open
	}
	cmds, err := policy.Policy{Allow: []string{"open"}}.Check(open+` name "`+plain+`"`, sv.sessionDir(id))
	if err != nil || len(cmds) != 1 {
		return open
	}
	return cmds[0]
}
