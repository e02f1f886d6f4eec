package chimerax

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/chimerad/chimerad/chimerax/policy"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/store"
	"github.com/google/uuid"
)

// CreateRequest describes a new session.
type CreateRequest struct {
	Owner string
	Name  string
	// PDBID, if set, is an entry ChimeraX fetches and opens.
	PDBID string
	// Upload, if set, is a checked structure file (see structure.SaveUpload) that
	// Create moves into the session directory and opens.
	Upload *structure.Upload
	// IdleTimeout asks for this session's own idle timeout; 0 takes the
	// default. It may not exceed Config.MaxIdleTimeout.
	IdleTimeout time.Duration
	// Wait makes Create return only once the session is ready or failed
	// (or ctx ends); otherwise it returns as soon as the child is starting.
	Wait bool
	// ResumeFrom, if set, is an ended session of Owner whose latest
	// checkpoint the new session opens (see Checkpoint).
	ResumeFrom string
}

const maxNameBytes = 200

// Create starts a new session for req.Owner. A request refused for its
// input or a limit leaves no record, no file and no process. Once the
// record exists, a failed start ends it `failed` with the reason, and Create
// (with Wait) returns that record together with ErrStartFailed,
// ErrStartTimeout, ErrOpenFailed or ErrOutOfMemory. With Wait, a ctx that
// ends before the session is ready (the client went away) ends the session
// (reason client_gone): nobody would learn of it, yet it would hold a place.
func (sv *Supervisor) Create(ctx context.Context, req CreateRequest) (Info, error) {
	rec, err := sv.create(ctx, req)
	return sv.info(rec), err
}

// create is Create, returning the record.
func (sv *Supervisor) create(ctx context.Context, req CreateRequest) (store.Session, error) {
	rec := store.Session{
		ID:        uuid.NewString(),
		Owner:     req.Owner,
		Name:      req.Name,
		State:     store.StateStarting,
		Engine:    sv.engine.Name,
		Structure: store.Structure{Source: store.SourceNone},
	}
	if err := checkName(req.Name); err != nil {
		return store.Session{}, err
	}
	if err := sv.checkIdleTimeout(req.IdleTimeout); err != nil {
		return store.Session{}, err
	}
	rec.IdleTimeout = req.IdleTimeout
	if req.PDBID != "" && req.Upload != nil {
		return store.Session{}, fmt.Errorf("%w: give a pdb_id or a file, not both", ErrInvalid)
	}
	if req.PDBID != "" {
		id, err := structure.NormalizePDBID(req.PDBID)
		if err != nil {
			return store.Session{}, err
		}
		rec.Structure = store.Structure{Source: store.SourcePDB, PDBID: id}
	}

	if req.ResumeFrom != "" && (req.PDBID != "" || req.Upload != nil) {
		return store.Session{}, fmt.Errorf("%w: give resume_from alone, without a pdb_id or a file", ErrInvalid)
	}
	resume, err := sv.resumeSource(ctx, req.Owner, req.ResumeFrom, &rec)
	if err != nil {
		return store.Session{}, err
	}

	c, err := sv.reserve(ctx, rec.ID, req.Owner, rec.IdleTimeout)
	if err != nil {
		return store.Session{}, err
	}
	if c.warm != nil { // the record takes the pool child's id and directory
		rec.ID, rec.FromPool = c.warm.id, true
	}
	created := false
	dir := sv.sessionDir(rec.ID)
	defer func() {
		if !created {
			if c.warm != nil {
				c.warm.proc.Kill()
			}
			os.RemoveAll(dir)
			sv.release(c)
		}
	}()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return store.Session{}, fmt.Errorf("create session dir: %w", err)
	}
	var openPath string
	if rec.Structure.Source == store.SourcePDB && sv.cfg.PDB != nil {
		openPath = filepath.Join(dir, "structure.cif.gz")
		if err := sv.cfg.PDB.FetchTo(ctx, rec.Structure.PDBID, openPath); err != nil {
			return store.Session{}, err
		}
		rec.Structure.Format = string(structure.FormatMMCIF)
	}
	if u := req.Upload; u != nil {
		openPath = filepath.Join(dir, "structure"+filepath.Ext(strings.TrimSuffix(u.Path, ".gz")))
		if u.Gzip {
			openPath += ".gz"
		}
		if err := moveFile(u.Path, openPath); err != nil {
			return store.Session{}, fmt.Errorf("create session: move upload: %w", err)
		}
		rec.Structure = store.Structure{
			Source:    store.SourceUpload,
			Filename:  u.Filename,
			Format:    string(u.Format),
			SizeBytes: u.Size,
		}
	}
	if resume != nil {
		if openPath, err = resume.copyInto(dir); err != nil {
			return store.Session{}, err
		}
	}

	now := sv.now()
	rec.CreatedAt, rec.LastActivityAt = now, now
	rec.Process = &store.Process{Dir: dir}
	// A pool child is ready already: a create that waits writes its record
	// once, when the structure is open (start), saving a write and its
	// fsync. If the daemon dies in between, Reconcile kills the unrecorded
	// child by its session id, and the client never got an answer.
	unrecorded := c.warm != nil && req.Wait
	if !unrecorded {
		if err := sv.db.CreateSession(ctx, &rec); err != nil {
			return store.Session{}, fmt.Errorf("create session: %w", err)
		}
	}
	created = true
	sv.Logger.Info().Str("session_id", rec.ID).Str("user", rec.Owner).Str("state", string(rec.State)).Msg("session created")
	sv.observer().SessionCreated()

	sv.wg.Add(1)
	go func() {
		defer sv.wg.Done()
		sv.start(c, rec, openPath, unrecorded)
	}()
	if !req.Wait {
		return rec, nil
	}
	select {
	case <-c.started:
	case <-ctx.Done():
		// The caller has gone before it could learn of the session: end
		// it rather than leave it holding a place nobody knows about.
		rec, err := sv.stop(context.WithoutCancel(ctx), rec.ID, store.ReasonClientGone)
		if err == nil {
			err = fmt.Errorf("%w: the client went away while the session started", ErrNotLive)
		}
		return rec, err
	}
	got, err := sv.current(context.WithoutCancel(ctx), rec.ID)
	if err != nil {
		return got, err
	}
	return got, c.startErr
}

// checkName checks a session's name.
func checkName(name string) error {
	if len(name) > maxNameBytes {
		return fmt.Errorf("%w: a name is at most %d bytes", ErrInvalid, maxNameBytes)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: a name must be valid UTF-8", ErrInvalid)
	}
	if i := strings.IndexFunc(name, policy.Hidden); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return fmt.Errorf("%w: a name may not hold control, bidi or other invisible characters (it has %U)", ErrInvalid, r)
	}
	return nil
}

// checkIdleTimeout checks a session's own idle timeout (0: the default).
func (sv *Supervisor) checkIdleTimeout(d time.Duration) error {
	if d < 0 || (sv.cfg.MaxIdleTimeout > 0 && d > sv.cfg.MaxIdleTimeout) {
		return fmt.Errorf("%w: idle timeout %v: want between 0 and %v", ErrInvalid, d, sv.cfg.MaxIdleTimeout)
	}
	return nil
}

// moveFile renames from to to, or copies it where they are on different
// file systems (a Slurm session root is shared, the upload area local).
func moveFile(from, to string) error {
	err := os.Rename(from, to)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(to)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(to)
		return err
	}
	return os.Remove(from)
}
