package chimerax

import (
	"bytes"
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

	"github.com/chimerad/chimerad/chimerax/policy"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/store"
)

// Command runs a client's command line in a ready session. The line is
// checked by the command policy (Config.Allow, with the session's
// directory, see Policy) and only the commands Check returns are sent,
// joined with " ; " in one request: ChimeraX runs them in order and stops
// at the first that fails. A refused line gives an error wrapping
// ErrRefused that names the refused command; nothing is sent. A line
// holding no command (empty, or a comment) is ErrInvalid.
//
// A line that writes files (save, open from a database: policy.Writes)
// is checked against the session's disk quota, Config.DiskMax, before and
// after it runs (disk.go); either check gives an error wrapping
// ErrDiskQuota, the second after removing the files the line wrote.
//
// Commands to one session run one at a time, each bounded by
// Config.CommandTimeout, and a running command marks the session busy. A
// command that times out gives ErrCommandTimeout, saying whether ChimeraX
// still answers. A command ChimeraX ran but that failed is no error here:
// see Result.Error.
//
// ChimeraX's answer refers to files in the session directory by their
// path; Command makes those paths relative to the directory, so that the
// client never sees where chimerad keeps its files. Subscribers to the
// session's events get the outcome as an EventCommand.
func (sv *Supervisor) Command(ctx context.Context, id, line string) (*Result, error) {
	if uuid.Validate(id) != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, truncate(id, 40))
	}
	dir := sv.sessionDir(id)
	cmds, err := policy.Policy{Allow: sv.cfg.Allow}.Check(line, dir)
	if errors.Is(err, ErrRefused) {
		sv.Logger.Warn().Str("session_id", id).Str("user", sv.owner(id)).Err(err).Msg("command refused")
	}
	if err != nil {
		return nil, err
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("%w: the line holds no command", ErrInvalid)
	}
	// A line that writes files runs between two checks of the session's
	// disk quota (disk.go), one such line at a time.
	var before map[string]fileStamp
	writes, targets := writesOf(cmds)
	quota := writes && sv.cfg.DiskMax > 0
	if quota {
		c, err := sv.readyChild(ctx, id)
		if err != nil {
			return nil, err
		}
		c.diskMu.Lock()
		defer c.diskMu.Unlock()
		var used int64
		if used, before = sv.measureDisk(c, dir); used >= sv.cfg.DiskMax {
			err := sv.diskQuotaError(used, false)
			sv.Logger.Warn().Str("session_id", id).Str("user", c.owner).Int64("disk_bytes", used).Msg("command refused: disk quota")
			sv.publishCommand(c, relativize(strings.Join(cmds, " ; "), dir), nil, err)
			return nil, err
		}
	}
	if cmds, err = sv.localizePDB(ctx, dir, cmds); err != nil {
		return nil, err
	}
	text := strings.Join(cmds, " ; ")
	res, err := sv.run(ctx, id, text, true)
	c := sv.liveChild(id)
	shown := relativize(text, dir)
	if quota && c != nil {
		if used, after := sv.measureDisk(c, dir); used > sv.cfg.DiskMax {
			left := sv.overQuota(c, dir, targets, before, after)
			sv.Logger.Warn().Str("session_id", id).Str("user", c.owner).Int64("disk_bytes", used).Int64("disk_bytes_left", left).Msg("command over the disk quota: its files removed")
			if err == nil {
				err = sv.diskQuotaError(used, true)
				sv.publishCommand(c, shown, nil, err)
				return nil, err
			}
		}
	}
	switch {
	case errors.Is(err, ErrCommandTimeout):
		err = sv.commandTimedOut(c, id)
		if c != nil {
			sv.publishCommand(c, shown, nil, err)
		}
		return nil, err
	case err != nil:
		return nil, err
	}
	res = relativizeResult(res, dir)
	if c != nil {
		sv.publishCommand(c, shown, res, nil)
	}
	sv.Logger.Debug().Str("session_id", id).Str("command", shown).Bool("ok", res.OK()).Msg("command")
	return res, nil
}

// probeTimeout bounds the check of a child after a command timed out.
const probeTimeout = 2 * time.Second

// commandTimedOut checks a child whose command timed out, logs what it
// found and returns the error for the caller. A child that has exited is
// left to its watcher, which records the crash.
func (sv *Supervisor) commandTimedOut(c *child, id string) error {
	var state string
	var p runner
	var client *Client
	if c != nil {
		p, client = sv.handle(c)
	}
	switch {
	case c == nil:
		state = "the session has ended"
	case exited(p):
		state = "ChimeraX has exited"
	default:
		ctx, cancel := context.WithTimeout(sv.ctx, probeTimeout)
		err := client.Ping(ctx)
		cancel()
		if err == nil {
			state = "ChimeraX answers again"
		} else {
			state = "ChimeraX is still busy with it; later commands wait behind it"
		}
	}
	sv.Logger.Warn().Str("session_id", id).Dur("timeout", sv.cfg.CommandTimeout).Str("state", state).Msg("command timed out")
	return fmt.Errorf("%w: session %s: no answer within %v; %s", ErrCommandTimeout, id, sv.cfg.CommandTimeout, state)
}

func exited(p runner) bool { return p == nil || p.Exited() }

// liveChild returns the child of a session that has not ended, or nil.
func (sv *Supervisor) liveChild(id string) *child {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.children[id]
}

// owner returns the owner of a live session, for logs.
func (sv *Supervisor) owner(id string) string {
	if c := sv.liveChild(id); c != nil {
		return c.owner
	}
	return ""
}

// readyChild returns a ready session's child, or the error Run would give.
func (sv *Supervisor) readyChild(ctx context.Context, id string) (*child, error) {
	sv.mu.Lock()
	c := sv.children[id]
	ready, restarting := false, false
	if c != nil {
		select {
		case <-c.started:
			ready = c.proc != nil && !c.ending && !c.restarting
		default:
		}
		restarting = c.restarting
	}
	sv.mu.Unlock()
	if !ready {
		rec, err := sv.current(ctx, id)
		if err != nil {
			return nil, err
		}
		return nil, notLive(rec, restarting)
	}
	return c, nil
}

// relativize makes paths in the session directory relative to it.
func relativize(s, dir string) string {
	s = strings.ReplaceAll(s, dir+string(filepath.Separator), "")
	return strings.ReplaceAll(s, dir, ".")
}

// relativizeResult returns res with session paths made relative in its
// messages and values. A session directory holds no character JSON
// escapes (see policy.DirReason), so it appears in JSON text as it is.
func relativizeResult(res *Result, dir string) *Result {
	return res.Map(func(s string) string { return relativize(s, dir) })
}

// MaxSnapshotSide caps a snapshot's width and height, in pixels.
const MaxSnapshotSide = policy.MaxImageSide

// Snapshot has ChimeraX render the session's scene as a PNG image of
// width × height pixels (each 1 to MaxSnapshotSide) and returns it as an
// open file positioned at its start, already removed from the session
// directory: the caller reads it and closes it. The command is chimerad's
// own, never client text. A render ChimeraX refuses gives ErrCommandFailed
// with ChimeraX's message.
func (sv *Supervisor) Snapshot(ctx context.Context, id string, width, height int) (*os.File, error) {
	if width < 1 || width > MaxSnapshotSide || height < 1 || height > MaxSnapshotSide {
		return nil, fmt.Errorf("%w: snapshot size %d x %d: want 1 to %d pixels each way", ErrInvalid, width, height, MaxSnapshotSide)
	}
	if uuid.Validate(id) != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, truncate(id, 40))
	}
	if _, err := sv.readyChild(ctx, id); err != nil {
		return nil, err
	}
	dir := sv.sessionDir(id)
	path := filepath.Join(dir, "snapshot-"+uuid.NewString()+".png")
	defer os.Remove(path) // the open file, if any, outlives its name
	res, err := sv.run(ctx, id, fmt.Sprintf("save %s width %d height %d supersample 3", quote(path), width, height), true)
	if err != nil {
		return nil, err
	}
	if !res.OK() {
		return nil, fmt.Errorf("%w: snapshot: %s", ErrCommandFailed, relativize(res.Message(), dir))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot: ChimeraX wrote no image: %v", ErrProtocol, err)
	}
	head := make([]byte, 8)
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, []byte("\x89PNG\r\n\x1a\n")) {
		f.Close()
		return nil, fmt.Errorf("%w: snapshot: ChimeraX wrote no PNG image", ErrProtocol)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// AddFile moves a checked upload (see structure.SaveUpload) into a ready session's
// directory, under a name chimerad chooses, and opens it there. It returns
// the file's description and ChimeraX's result. A file that would take the
// session directory over Config.DiskMax is refused with ErrDiskQuota. If
// ChimeraX cannot open it, the file is removed and the error wraps
// ErrOpenFailed with ChimeraX's message. The upload's spooled file is gone either way, except when an
// error comes before the move (then the caller removes it).
func (sv *Supervisor) AddFile(ctx context.Context, id string, u *structure.Upload) (store.Structure, *Result, error) {
	if uuid.Validate(id) != nil {
		return store.Structure{}, nil, fmt.Errorf("%w: %s", ErrNotFound, truncate(id, 40))
	}
	c, err := sv.readyChild(ctx, id)
	if err != nil {
		return store.Structure{}, nil, err
	}
	dir := sv.sessionDir(id)
	if sv.cfg.DiskMax > 0 { // an upload counts against the disk quota too (disk.go)
		c.diskMu.Lock()
		defer c.diskMu.Unlock()
		if used, _ := sv.measureDisk(c, dir); used+u.Size > sv.cfg.DiskMax {
			return store.Structure{}, nil, fmt.Errorf("%w: the session's files use %s, and this file of %s would take them over session.disk_max, %s",
				ErrDiskQuota, humanBytes(used), humanBytes(u.Size), humanBytes(sv.cfg.DiskMax))
		}
		defer sv.measureDisk(c, dir)
	}
	ext := u.Format.Ext()
	if u.Gzip {
		ext += ".gz"
	}
	path := filepath.Join(dir, "upload-"+uuid.NewString()[:8]+ext)
	if err := os.Rename(u.Path, path); err != nil {
		return store.Structure{}, nil, fmt.Errorf("add file to session %s: %w", id, err)
	}
	st := store.Structure{Source: store.SourceUpload, Filename: u.Filename, Format: string(u.Format), SizeBytes: u.Size}
	res, err := sv.run(ctx, id, sv.openNamed(id, path, u.Filename), true)
	if err != nil {
		os.Remove(path)
		return st, nil, err
	}
	res = relativizeResult(res, dir)
	if c := sv.liveChild(id); c != nil {
		sv.publishCommand(c, "open "+quote(u.Filename), res, nil)
	}
	if !res.OK() {
		os.Remove(path)
		msg := strings.ReplaceAll(res.Message(), filepath.Base(path), u.Filename)
		return st, res, fmt.Errorf("%w: %s", ErrOpenFailed, msg)
	}
	return st, res, nil
}

// localizePDB rewrites the checked commands that open a PDB entry
// ("open ID from pdb", as the policy normalizes them) to open a copy that
// chimerad downloaded itself: a sandboxed ChimeraX has no network. With
// no Fetcher, or with a format asked for, ChimeraX fetches as it would.
func (sv *Supervisor) localizePDB(ctx context.Context, dir string, cmds []string) ([]string, error) {
	if sv.cfg.PDB == nil {
		return cmds, nil
	}
	out := slices.Clone(cmds)
	for i, c := range cmds {
		f := strings.Fields(c)
		if len(f) < 4 || f[0] != "open" || f[2] != "from" || f[3] != "pdb" || slices.Contains(f[4:], "format") {
			continue
		}
		id := f[1]
		if len(id) == 8 {
			id = "pdb_" + id // the policy's 8-character form
		}
		id, err := structure.NormalizePDBID(id)
		if err != nil {
			return nil, err
		}
		local := filepath.Join(dir, "pdb-"+structure.ArchiveID(id)+".cif.gz")
		if err := sv.cfg.PDB.FetchTo(ctx, id, local); err != nil {
			return nil, err
		}
		out[i] = strings.Join(append([]string{"open", quote(local)}, f[4:]...), " ")
	}
	return out, nil
}

// run sends one command line, unchecked, to a ready session's child and
// returns ChimeraX's result. Only chimerad's own commands and lines the
// policy has passed may come here: it is unexported so that no caller can
// go around the policy. While it runs the session is busy; with activity,
// it restarts the idle clock when it starts and when it completes (see
// activity.go).
func (sv *Supervisor) run(ctx context.Context, id, command string, activity bool) (*Result, error) {
	now := sv.now()
	sv.mu.Lock()
	c := sv.children[id]
	var ready, restarting bool
	if c != nil {
		select {
		case <-c.started:
			ready = c.proc != nil && !c.ending && !c.restarting
		default:
		}
		restarting = c.restarting
	}
	var client *Client
	wentBusy := false
	if ready {
		if activity {
			sv.markActive(c, now)
		}
		if c.busy++; c.busy == 1 {
			c.busySince, wentBusy = now, true
		}
		c.commands++
		client = c.client // a restart may replace it
	}
	sv.mu.Unlock()
	if !ready {
		rec, err := sv.current(ctx, id)
		if err != nil {
			return nil, err
		}
		return nil, notLive(rec, restarting)
	}
	if wentBusy {
		sv.publishExecution(c, now)
	}
	ctx, cancel := context.WithTimeout(ctx, sv.cfg.CommandTimeout)
	defer cancel()
	begin := time.Now()
	res, err := client.Run(ctx, command)
	sv.mu.Lock()
	if activity { // the idle clock restarts when the command completes
		sv.markActive(c, sv.now())
	}
	c.busy--
	wentIdle := c.busy == 0 && !c.ending
	if err == nil {
		c.lastHealthy = sv.now()
	}
	idleFrom := sv.idleDeadlineLocked(c)
	sv.mu.Unlock()
	if wentIdle {
		sv.publishExecution(c, time.Time{})
		sv.wakeSweeperFor(idleFrom) // the idle deadline starts now
	}
	sv.observeCommand(time.Since(begin), res, err)
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", id, err)
	}
	return res, nil
}
