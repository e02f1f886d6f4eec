package chimerax

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/chimerad/chimerad/chimerax/policy"
	"github.com/chimerad/chimerad/store"
)

// Open prepares the supervisor to serve: it reconciles what a previous
// daemon left behind, then starts the idle sweeper.
func (sv *Supervisor) Open(ctx context.Context) error {
	// Session paths go into ChimeraX commands; refuse a data dir the command
	// policy could not pass, rather than failing every command later.
	if reason := policy.DirReason(sv.sessionDir("00000000-0000-4000-8000-000000000000")); reason != "" {
		return fmt.Errorf("%w: data dir %q: its session directories %s", ErrInvalid, sv.cfg.DataDir, reason)
	}
	if sv.cfg.Launcher == LauncherSlurm {
		if err := sv.checkSlurm(); err != nil {
			return err
		}
	} else {
		if err := sv.decideSandbox(); err != nil {
			return err
		}
		if err := sv.decideLimits(); err != nil {
			return err
		}
	}
	if err := sv.Reconcile(ctx); err != nil {
		return err
	}
	sv.markOpen()
	if sv.memWatch != nil {
		sv.wg.Go(func() { sv.memWatch.Run(sv.ctx) })
	}
	sv.openPool()
	sv.wg.Go(sv.probeVersion)
	if sv.cfg.ActivityFlushInterval > 0 {
		sv.wg.Add(1)
		go func() {
			defer sv.wg.Done()
			sv.flushLoop()
		}()
	}
	sv.sweepDone = make(chan struct{})
	sv.wg.Add(1)
	go func() {
		defer sv.wg.Done()
		defer close(sv.sweepDone)
		sv.sweepLoop()
	}()
	return nil
}

// Close stops every child in parallel (reason shutdown), each ready one
// checkpointed first so that no work is lost, and waits for the
// supervisor's goroutines; with OnRestartAdopt it leaves ready sessions
// running instead, for the next daemon to adopt. New creates are refused
// from the moment it starts.
func (sv *Supervisor) Close(ctx context.Context) error {
	adopt := sv.cfg.OnRestart == OnRestartAdopt
	var stop []string
	var leave []*child
	sv.mu.Lock()
	sv.closing = true
	sv.failQueueLocked(ErrShuttingDown)
	sv.mu.Unlock()
	sv.closePool()
	sv.mu.Lock()
	for id, c := range sv.children {
		if adopt && c.proc != nil && !c.ending {
			c.ending = true // nobody ends it now: the next daemon adopts it
			leave = append(leave, c)
			continue
		}
		stop = append(stop, id)
	}
	sv.mu.Unlock()

	for _, c := range leave {
		c.proc.Detach()
	}
	if len(leave) > 0 {
		sv.Logger.Info().Int("sessions", len(leave)).
			Msg("session.on_restart is adopt: leaving ready sessions running for the next chimerad to adopt")
	}
	var wg sync.WaitGroup
	for _, id := range stop {
		wg.Go(func() {
			sv.checkpointAtShutdown(id)
			if _, err := sv.stop(context.Background(), id, store.ReasonShutdown); err != nil {
				sv.Logger.Error().Err(err).Str("session_id", id).Msg("stop at shutdown")
			}
		})
	}
	wg.Wait()
	// Only now end the supervisor's context (the sweeper, probes, starts):
	// a start cancelled before its Stop claimed it would end start_failed.
	sv.cancel()
	done := make(chan struct{})
	go func() { sv.wg.Wait(); close(done) }()
	select {
	case <-done:
		sv.zygote.Close() // its children have been stopped
		// Sessions left for adoption keep their activity for the next daemon.
		return sv.FlushActivity(ctx)
	case <-ctx.Done():
		return fmt.Errorf("chimerax: close: %w", ctx.Err())
	}
}

// checkpointAtShutdown checkpoints a ready session that Close is about to
// end, within StopGrace: resume_from (or, with OnRestartResume, the next
// daemon) then opens it. A failure is logged; the session ends all the same.
func (sv *Supervisor) checkpointAtShutdown(id string) {
	if _, err := sv.readyChild(sv.ctx, id); err != nil {
		return // starting or ending: nothing to save
	}
	ctx, cancel := context.WithTimeout(sv.ctx, sv.cfg.StopGrace)
	defer cancel()
	if _, err := sv.checkpoint(ctx, id, false); err != nil {
		sv.Logger.Warn().Err(err).Str("session_id", id).Msg("checkpoint at shutdown")
		return
	}
	if sv.cfg.OnRestart != OnRestartResume {
		return
	}
	if err := sv.db.MarkResume(context.Background(), id); err != nil {
		sv.Logger.Error().Err(err).Str("session_id", id).Msg("mark session for resume")
	}
}

// probeVersion learns the engine's version once, in the background.
func (sv *Supervisor) probeVersion() {
	ctx, cancel := context.WithTimeout(sv.ctx, sv.cfg.StartTimeout)
	defer cancel()
	v, err := sv.engine.Version(ctx)
	if err != nil {
		sv.Logger.Warn().Err(err).Msg("cannot tell the engine's version")
		return
	}
	sv.version.Store(&v)
}

// EngineVersion is the engine's version (ChimeraX's, or the one the
// simulator reports); empty until it is known, a moment after Open.
func (sv *Supervisor) EngineVersion() string {
	if v := sv.version.Load(); v != nil {
		return *v
	}
	return ""
}

// Capabilities is what the supervisor lets clients do, for a client to
// know before it tries.
type Capabilities struct {
	// Engine is EngineChimeraX or EngineSimulator; Version its version,
	// empty until known.
	Engine, EngineVersion string
	// Commands are the command words the policy allows.
	Commands []string
	// MaxSnapshotSide caps a snapshot's width and height.
	MaxSnapshotSide int
	// IdleTimeout is the default idle timeout, MaxIdleTimeout the longest
	// a session may ask for (0: none).
	IdleTimeout, MaxIdleTimeout time.Duration
	// MaxSessions and MaxSessionsPerUser are the caps (0: none).
	MaxSessions, MaxSessionsPerUser int
	// MaxUncompressedBytes caps what a gzip upload inflates to.
	MaxUncompressedBytes int64
}

// Capabilities returns what the supervisor lets clients do.
func (sv *Supervisor) Capabilities() Capabilities {
	return Capabilities{
		Engine: sv.engine.Name, EngineVersion: sv.EngineVersion(),
		Commands:        slices.Clone(sv.cfg.Allow),
		MaxSnapshotSide: MaxSnapshotSide,
		IdleTimeout:     sv.cfg.IdleTimeout, MaxIdleTimeout: sv.cfg.MaxIdleTimeout,
		MaxSessions: sv.cfg.MaxSessions, MaxSessionsPerUser: sv.cfg.MaxSessionsPerUser,
		MaxUncompressedBytes: sv.UncompressedLimit(),
	}
}
