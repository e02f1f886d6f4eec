package chimerax

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/chimerad/chimerad/chimerax/checkpoints"
	"github.com/chimerad/chimerad/store"
)

// Checkpoints live in the area chimerax/checkpoints keeps,
// <data-dir>/checkpoints/. The record of a session names its latest
// checkpoint (store.Checkpoint); the sweeper removes the checkpoints of
// ended sessions once they are older than Config.CheckpointRetention.

// purgeInterval is how often the sweeper looks for expired checkpoints.
const purgeInterval = time.Hour

// checkpoints is the checkpoint area.
func (sv *Supervisor) checkpoints() checkpoints.Area {
	return checkpoints.Area{Dir: filepath.Join(sharedRoot(sv.cfg), "checkpoints")}
}

// Checkpoint saves a ready session's whole ChimeraX state as a session
// file (.cxs) in the checkpoint area, records it as the session's latest
// checkpoint and tells the session's subscribers. A later Create with
// ResumeFrom opens it in a new session, once this one has ended. The
// command is chimerad's own; it is the owner's, so it counts as activity,
// and runs in turn with the session's other commands. ChimeraX refusing to save gives
// ErrCommandFailed with its message.
func (sv *Supervisor) Checkpoint(ctx context.Context, id string) (store.Checkpoint, error) {
	return sv.checkpoint(ctx, id, true)
}

// checkpoint is Checkpoint, counting as activity only if activity is set:
// the checkpoints the supervisor takes itself (idle end, shutdown) do not.
func (sv *Supervisor) checkpoint(ctx context.Context, id string, activity bool) (store.Checkpoint, error) {
	if uuid.Validate(id) != nil {
		return store.Checkpoint{}, fmt.Errorf("%w: %s", ErrNotFound, truncate(id, 40))
	}
	if _, err := sv.readyChild(ctx, id); err != nil {
		return store.Checkpoint{}, err
	}
	at := sv.now()
	partial, final, err := sv.checkpoints().Begin(id, at)
	if err != nil {
		return store.Checkpoint{}, fmt.Errorf("checkpoint session %s: %w", id, err)
	}
	defer os.Remove(partial)
	dir := filepath.Dir(final)

	res, err := sv.run(ctx, id, "save "+quote(partial), activity)
	if err != nil {
		return store.Checkpoint{}, err
	}
	if !res.OK() {
		return store.Checkpoint{}, fmt.Errorf("%w: checkpoint: %s", ErrCommandFailed, relativize(res.Message(), dir))
	}
	size, err := sv.checkpoints().Finish(partial, final)
	if err != nil {
		return store.Checkpoint{}, fmt.Errorf("%w: checkpoint: ChimeraX wrote no session file: %v", ErrProtocol, err)
	}
	cp := store.Checkpoint{Path: final, At: at, SizeBytes: size}
	_, err = sv.db.UpdateSession(context.WithoutCancel(ctx), id, func(s *store.Session) error {
		if s.Checkpoint == nil || !s.Checkpoint.At.After(at) {
			s.Checkpoint = &cp
		}
		return nil
	})
	if err != nil {
		return store.Checkpoint{}, fmt.Errorf("record checkpoint of session %s: %w", id, err)
	}
	if c := sv.liveChild(id); c != nil {
		sv.publish(c, Event{Type: EventCheckpoint, Checkpoint: &CheckpointEvent{At: at, SizeBytes: cp.SizeBytes}})
	}
	sv.Logger.Info().Str("session_id", id).Int64("size_bytes", cp.SizeBytes).Msg("checkpoint saved")
	return cp, nil
}

// purgeCheckpoints removes the checkpoints of ended sessions last written
// more than Config.CheckpointRetention ago, and partial files they left.
// Live sessions' checkpoints stay.
func (sv *Supervisor) purgeCheckpoints() {
	if sv.cfg.CheckpointRetention <= 0 {
		return
	}
	valid := func(id string) bool { return uuid.Validate(id) == nil }
	live := func(id string) bool { return sv.liveChild(id) != nil }
	emptied, err := sv.checkpoints().Purge(sv.now().Add(-sv.cfg.CheckpointRetention), valid, live)
	if err != nil {
		sv.Logger.Error().Err(err).Msg("purge checkpoints")
	}
	for _, id := range emptied {
		sv.Logger.Info().Str("session_id", id).Msg("checkpoints expired")
	}
}

// resumePlan is a checkpoint a new session is to open.
type resumePlan struct {
	from store.Session
	path string
}

// resumeSource checks resumeFrom, if set, and fills in rec from the
// session of owner's it names: its structure becomes the checkpoint, and an
// unset name or idle timeout is taken from that session. Another owner's
// session is not found, exactly as a missing one.
func (sv *Supervisor) resumeSource(ctx context.Context, owner, resumeFrom string, rec *store.Session) (*resumePlan, error) {
	if resumeFrom == "" {
		return nil, nil
	}
	notFound := fmt.Errorf("%w: %s", ErrNotFound, truncate(resumeFrom, 40))
	if uuid.Validate(resumeFrom) != nil {
		return nil, notFound
	}
	from, err := sv.db.Session(ctx, resumeFrom)
	if errors.Is(err, store.ErrNotFound) || (err == nil && from.Owner != owner) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if from.State.Live() {
		return nil, fmt.Errorf("%w: session %s is %s: end it before resuming it", ErrSessionLive, from.ID, from.State)
	}
	if err := sv.checkCheckpoint(from); err != nil {
		return nil, err
	}
	cp := from.Checkpoint
	rec.Structure = store.Structure{
		Source:    store.SourceCheckpoint,
		Filename:  filepath.Base(cp.Path),
		Format:    "session",
		SizeBytes: cp.SizeBytes,
	}
	rec.ResumedFrom = from.ID
	if rec.Name == "" {
		rec.Name = from.Name
	}
	if rec.IdleTimeout == 0 && (sv.cfg.MaxIdleTimeout <= 0 || from.IdleTimeout <= sv.cfg.MaxIdleTimeout) {
		rec.IdleTimeout = from.IdleTimeout
	}
	return &resumePlan{from: from, path: cp.Path}, nil
}

// checkCheckpoint reports why session from's latest checkpoint cannot be
// opened (ErrNoCheckpoint), or nil if it can.
func (sv *Supervisor) checkCheckpoint(from store.Session) error {
	cp := from.Checkpoint
	if cp == nil {
		return fmt.Errorf("%w: session %s ended without a checkpoint", ErrNoCheckpoint, from.ID)
	}
	if err := sv.checkpoints().Check(from.ID, cp.Path); err != nil {
		return fmt.Errorf("%w: session %s: its checkpoint of %s: %v", ErrNoCheckpoint, from.ID, cp.At.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// copyInto copies the checkpoint into a new session's directory and
// returns the copy's path; the checkpoint itself stays.
func (p *resumePlan) copyInto(dir string) (string, error) {
	return p.copyTo(dir, "resume.cxs")
}

// copyTo copies the checkpoint to dir/name, a new file, and returns its path.
func (p *resumePlan) copyTo(dir, name string) (string, error) {
	dst := filepath.Join(dir, name)
	if err := checkpoints.Copy(p.path, dst); err != nil {
		return "", fmt.Errorf("%w: session %s: %v", ErrNoCheckpoint, p.from.ID, err)
	}
	return dst, nil
}
