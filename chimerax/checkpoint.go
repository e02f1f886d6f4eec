package chimerax

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/chimerad/chimerad/store"
)

// Checkpoints live outside the session directories, which are removed when
// their session ends:
//
//	<data-dir>/checkpoints/                      0700
//	    <session id>/                            0700
//	        20260102T150405.123456789Z.cxs       a ChimeraX session file
//	        .partial-<stamp>.cxs                 being written
//
// The record of a session names its latest checkpoint (store.Checkpoint).
// A session keeps its keepCheckpoints newest checkpoints; the sweeper
// removes the checkpoints of ended sessions once they are older than
// Config.CheckpointRetention.

const (
	// keepCheckpoints is how many checkpoints a session keeps.
	keepCheckpoints = 3
	// purgeInterval is how often the sweeper looks for expired checkpoints.
	purgeInterval = time.Hour
	// checkpointStamp names checkpoint files; it sorts by time.
	checkpointStamp = "20060102T150405.000000000Z"
	partialPrefix   = ".partial-"
)

func (sv *Supervisor) checkpointsDir() string {
	return filepath.Join(sv.cfg.DataDir, "checkpoints")
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
	dir := filepath.Join(sv.checkpointsDir(), id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return store.Checkpoint{}, fmt.Errorf("checkpoint session %s: %w", id, err)
	}
	os.Chmod(sv.checkpointsDir(), 0o700) // MkdirAll leaves an existing parent alone
	at := sv.now()
	name := at.Format(checkpointStamp) + ".cxs"
	partial := filepath.Join(dir, partialPrefix+name)
	final := filepath.Join(dir, name)
	defer os.Remove(partial)

	res, err := sv.run(ctx, id, "save "+quote(partial), activity)
	if err != nil {
		return store.Checkpoint{}, err
	}
	if !res.OK() {
		return store.Checkpoint{}, fmt.Errorf("%w: checkpoint: %s", ErrCommandFailed, relativize(res.Message(), dir))
	}
	fi, err := os.Stat(partial)
	if err != nil {
		return store.Checkpoint{}, fmt.Errorf("%w: checkpoint: ChimeraX wrote no session file: %v", ErrProtocol, err)
	}
	os.Chmod(partial, 0o600)
	if err := os.Rename(partial, final); err != nil {
		return store.Checkpoint{}, fmt.Errorf("checkpoint session %s: %w", id, err)
	}
	cp := store.Checkpoint{Path: final, At: at, SizeBytes: fi.Size()}
	_, err = sv.db.UpdateSession(context.WithoutCancel(ctx), id, func(s *store.Session) error {
		if s.Checkpoint == nil || !s.Checkpoint.At.After(at) {
			s.Checkpoint = &cp
		}
		return nil
	})
	if err != nil {
		return store.Checkpoint{}, fmt.Errorf("record checkpoint of session %s: %w", id, err)
	}
	sv.pruneCheckpoints(dir)
	if c := sv.liveChild(id); c != nil {
		sv.publish(c, Event{Type: EventCheckpoint, Checkpoint: &CheckpointEvent{At: at, SizeBytes: cp.SizeBytes}})
	}
	sv.Logger.Info().Str("session_id", id).Int64("size_bytes", cp.SizeBytes).Msg("checkpoint saved")
	return cp, nil
}

// pruneCheckpoints removes all but the newest keepCheckpoints checkpoints
// in a session's checkpoint directory.
func (sv *Supervisor) pruneCheckpoints(dir string) {
	names := checkpointFiles(dir)
	for _, n := range names[:max(0, len(names)-keepCheckpoints)] {
		os.Remove(filepath.Join(dir, n))
	}
}

// checkpointFiles lists a directory's finished checkpoints, oldest first.
func checkpointFiles(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasSuffix(n, ".cxs") && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// purgeCheckpoints removes the checkpoints of ended sessions last written
// more than Config.CheckpointRetention ago, and partial files they left.
// Live sessions' checkpoints stay.
func (sv *Supervisor) purgeCheckpoints() {
	if sv.cfg.CheckpointRetention <= 0 {
		return
	}
	root := sv.checkpointsDir()
	entries, err := os.ReadDir(root)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			sv.Logger.Error().Err(err).Msg("purge checkpoints")
		}
		return
	}
	cutoff := sv.now().Add(-sv.cfg.CheckpointRetention)
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || uuid.Validate(id) != nil || sv.liveChild(id) != nil {
			continue
		}
		dir := filepath.Join(root, id)
		files, _ := os.ReadDir(dir)
		left := 0
		for _, f := range files {
			fi, err := f.Info()
			if err == nil && (strings.HasPrefix(f.Name(), partialPrefix) || fi.ModTime().Before(cutoff)) {
				os.Remove(filepath.Join(dir, f.Name()))
				continue
			}
			left++
		}
		if left == 0 {
			os.Remove(dir)
			sv.Logger.Info().Str("session_id", id).Msg("checkpoints expired")
		}
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
	// The record is chimerad's own, but a path leaving the area is never opened.
	if filepath.Dir(cp.Path) != filepath.Join(sv.checkpointsDir(), from.ID) || filepath.Ext(cp.Path) != ".cxs" {
		return fmt.Errorf("%w: session %s: checkpoint outside the checkpoint area", ErrNoCheckpoint, from.ID)
	}
	if fi, err := os.Stat(cp.Path); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: session %s: its checkpoint of %s has expired", ErrNoCheckpoint, from.ID, cp.At.UTC().Format(time.RFC3339))
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
	src, err := os.Open(p.path)
	if err != nil {
		return "", fmt.Errorf("%w: session %s: %v", ErrNoCheckpoint, p.from.ID, err)
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("resume session %s: %w", p.from.ID, err)
	}
	_, err = io.Copy(out, src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("resume session %s: copy checkpoint: %w", p.from.ID, err)
	}
	return dst, nil
}
