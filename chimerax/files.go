package chimerax

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/chimerad/chimerad/chimerax/policy"
	"github.com/chimerad/chimerad/store"
)

// Files out. A session's owner may fetch what the session saved (`save`
// writes images, structures and session files into the session directory)
// and its latest checkpoint; never the output log, the sockets, or the
// files chimerad put there itself (the structure it opened, uploads,
// downloaded entries, checkpoint copies, snapshots being written).

// File is a file a session's owner may fetch.
type File struct {
	// Name is the file's name in the session directory.
	Name       string    `json:"name"`
	SizeBytes  int64     `json:"size_bytes"`
	ModifiedAt time.Time `json:"modified_at"`
}

// fileSuffixes are the suffixes `save` writes (the policy's), by the
// content type a download has.
var fileSuffixes = map[string]string{
	".png": "image/png",
	".jpg": "image/jpeg",
	".cxs": "application/octet-stream",
	".pdb": "chemical/x-pdb",
	".cif": "chemical/x-mmcif",
}

// ContentType is the media type of a session file named name.
func ContentType(name string) string {
	return cmp.Or(fileSuffixes[strings.ToLower(filepath.Ext(name))], "application/octet-stream")
}

// ownFile reports whether chimerad put a file of that name into a session
// directory itself.
func ownFile(name string) bool {
	for _, prefix := range []string{"structure.", "upload-", "pdb-", "snapshot-", "restart-", "resume.", "chimerax.log", "shim."} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// fileName checks a file name a client gave: one plain name in the session
// directory, with a suffix `save` writes, not one of chimerad's own.
func fileName(name string) error {
	switch {
	case name == "" || len(name) > 255 || name != filepath.Base(name) || strings.HasPrefix(name, "."),
		strings.ContainsFunc(name, policy.Hidden) || strings.ContainsAny(name, `\/:~$`):
		return fmt.Errorf("%w: file name %q: want a plain name in the session directory", ErrInvalid, truncate(name, 60))
	case fileSuffixes[strings.ToLower(filepath.Ext(name))] == "" || ownFile(name):
		return fmt.Errorf("%w: file %q: only files the session saved (.png, .jpg, .cxs, .pdb, .cif) can be fetched", ErrFileNotFound, truncate(name, 60))
	}
	return nil
}

// Files lists what a live session's directory holds that its owner may
// fetch, by name. An ended session's directory is gone: it lists nothing
// (its checkpoint stays; see OpenCheckpoint).
func (sv *Supervisor) Files(ctx context.Context, id string) ([]File, error) {
	if uuid.Validate(id) != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, truncate(id, 40))
	}
	if _, err := sv.current(ctx, id); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(sv.sessionDir(id))
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("list files of session %s: %w", id, err)
	}
	out := []File{}
	for _, e := range entries {
		if !e.Type().IsRegular() || fileName(e.Name()) != nil {
			continue
		}
		if fi, err := e.Info(); err == nil {
			out = append(out, File{Name: e.Name(), SizeBytes: fi.Size(), ModifiedAt: fi.ModTime().UTC()})
		}
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// OpenFile opens a file of a live session for its owner to fetch: name as
// Files lists it. The caller closes it.
func (sv *Supervisor) OpenFile(ctx context.Context, id, name string) (*os.File, File, error) {
	if err := fileName(name); err != nil {
		return nil, File{}, err
	}
	if _, err := sv.Files(ctx, id); err != nil { // the session exists
		return nil, File{}, err
	}
	f, err := os.Open(filepath.Join(sv.sessionDir(id), name))
	if err != nil {
		return nil, File{}, fmt.Errorf("%w: session %s has no file %q", ErrFileNotFound, id, truncate(name, 60))
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, File{}, fmt.Errorf("%w: session %s has no file %q", ErrFileNotFound, id, truncate(name, 60))
	}
	return f, File{Name: name, SizeBytes: fi.Size(), ModifiedAt: fi.ModTime().UTC()}, nil
}

// OpenCheckpoint opens a session's latest checkpoint (a ChimeraX session
// file) for its owner to fetch, live or ended. The caller closes it.
func (sv *Supervisor) OpenCheckpoint(ctx context.Context, id string) (*os.File, store.Checkpoint, error) {
	if uuid.Validate(id) != nil {
		return nil, store.Checkpoint{}, fmt.Errorf("%w: %s", ErrNotFound, truncate(id, 40))
	}
	rec, err := sv.current(ctx, id)
	if err != nil {
		return nil, store.Checkpoint{}, err
	}
	if err := sv.checkCheckpoint(rec); err != nil {
		return nil, store.Checkpoint{}, err
	}
	f, err := os.Open(rec.Checkpoint.Path)
	if err != nil {
		return nil, store.Checkpoint{}, fmt.Errorf("%w: session %s: its checkpoint is gone", ErrNoCheckpoint, id)
	}
	return f, *rec.Checkpoint, nil
}
