// Package checkpoints keeps the area on disk where sessions' checkpoints
// (ChimeraX session files) live, outside the session directories, which
// go with their sessions:
//
//	<dir>/                                      0700
//	    <session id>/                           0700
//	        20260102T150405.123456789Z.cxs      a ChimeraX session file
//	        .partial-<stamp>.cxs                being written
//
// A session keeps its Keep newest checkpoints; Purge removes those of
// ended sessions once they have expired. It imports nothing of this module.
package checkpoints

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	// Keep is how many checkpoints a session keeps.
	Keep = 3
	// stamp names checkpoint files; it sorts by time.
	stamp         = "20060102T150405.000000000Z"
	partialPrefix = ".partial-"
)

// Area is the checkpoint area in directory Dir.
type Area struct{ Dir string }

// Begin prepares a checkpoint of session id taken at at: partial is where
// ChimeraX writes it, final where Finish puts it.
func (a Area) Begin(id string, at time.Time) (partial, final string, err error) {
	dir := filepath.Join(a.Dir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	os.Chmod(a.Dir, 0o700) // MkdirAll leaves an existing parent alone
	name := at.UTC().Format(stamp) + ".cxs"
	return filepath.Join(dir, partialPrefix+name), filepath.Join(dir, name), nil
}

// Finish makes a written partial checkpoint the final one, 0600, keeps the
// session's Keep newest, and returns its size.
func (a Area) Finish(partial, final string) (int64, error) {
	fi, err := os.Stat(partial)
	if err != nil {
		return 0, err
	}
	os.Chmod(partial, 0o600)
	if err := os.Rename(partial, final); err != nil {
		return 0, err
	}
	dir := filepath.Dir(final)
	names := finished(dir)
	for _, n := range names[:max(0, len(names)-Keep)] {
		os.Remove(filepath.Join(dir, n))
	}
	return fi.Size(), nil
}

// finished lists a directory's finished checkpoints, oldest first.
func finished(dir string) []string {
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

// Purge removes the checkpoints last written before cutoff, and partial
// files, of every session for which keep is false (an ended one), and
// returns the sessions left with none. Directories not named by a session
// id (valid reports which are) are left alone.
func (a Area) Purge(cutoff time.Time, valid, keep func(id string) bool) (emptied []string, err error) {
	entries, err := os.ReadDir(a.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || !valid(id) || keep(id) {
			continue
		}
		dir := filepath.Join(a.Dir, id)
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
			emptied = append(emptied, id)
		}
	}
	return emptied, nil
}

// Check reports why path cannot be session id's checkpoint: outside the
// area or not a session file (a record is chimerad's own, but a path
// leaving the area is never opened), or gone (expired).
func (a Area) Check(id, path string) error {
	if filepath.Dir(path) != filepath.Join(a.Dir, id) || filepath.Ext(path) != ".cxs" {
		return errors.New("checkpoint outside the checkpoint area")
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return errors.New("expired")
	}
	return nil
}

// Copy copies checkpoint src to dst, a new file (0600).
func Copy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy checkpoint: %w", err)
	}
	return nil
}
