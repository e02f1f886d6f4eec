package chimerax

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chimerad/chimerad/chimerax/policy"
)

// The disk quota of a session (Config.DiskMax, session.disk_max): the
// commands that write into the session directory (policy.Writes: save, and
// opens from a database, which download into it) are checked before and
// after they run. Before: a session whose directory already uses DiskMax
// or more is refused. After: if the command took it over DiskMax, the
// files that command wrote (save's file if new or changed, the downloads
// it made) are removed and the command answers ErrDiskQuota, so a session
// is never over its quota by more than one command's output, and then only
// while that command runs. The usage is measured by walking the directory,
// at those commands only; SessionStats shows the last measure.

// diskUsage returns the bytes of the regular files under dir, and each
// file's size and modification time by path.
func diskUsage(dir string) (int64, map[string]fileStamp) {
	var total int64
	files := make(map[string]fileStamp)
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil // a file removed while we walk, a socket
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		total += fi.Size()
		files[path] = fileStamp{fi.Size(), fi.ModTime()}
		return nil
	})
	return total, files
}

// fileStamp is what tells whether a command wrote a file.
type fileStamp struct {
	size int64
	mod  time.Time
}

// writesOf returns whether any of cmds (as the policy returns them) writes
// into the session directory, and the files save names.
func writesOf(cmds []string) (writes bool, files []string) {
	for _, c := range cmds {
		if file, ok := policy.Writes(c); ok {
			writes = true
			if file != "" {
				files = append(files, file)
			}
		}
	}
	return writes, files
}

// measureDisk walks a session's directory, keeps the total on its child
// for SessionStats, and returns it with the files found.
func (sv *Supervisor) measureDisk(c *child, dir string) (int64, map[string]fileStamp) {
	used, files := diskUsage(dir)
	sv.mu.Lock()
	c.diskBytes, c.diskMeasured = used, true
	sv.mu.Unlock()
	return used, files
}

// diskBytes returns a child's last measured disk usage, measuring it
// first if it never was.
func (sv *Supervisor) diskBytes(c *child) int64 {
	sv.mu.Lock()
	used, ok := c.diskBytes, c.diskMeasured
	sv.mu.Unlock()
	if !ok {
		used, _ = sv.measureDisk(c, sv.sessionDir(c.id))
	}
	return used
}

// diskQuotaError is ErrDiskQuota for a session using used bytes: before a
// command, or after one that took it over (removed: its files are gone).
func (sv *Supervisor) diskQuotaError(used int64, removed bool) error {
	if removed {
		return fmt.Errorf("%w: this command took the session's files to %s, over session.disk_max of %s, so the files it wrote were removed",
			ErrDiskQuota, humanBytes(used), humanBytes(sv.cfg.DiskMax))
	}
	return fmt.Errorf("%w: the session's files use %s, and session.disk_max is %s: commands that write files (save, open from a database) are refused",
		ErrDiskQuota, humanBytes(used), humanBytes(sv.cfg.DiskMax))
}

// overQuota removes what a command wrote into dir once its usage went
// over DiskMax: the files it saved (targets) that are new or changed since
// before, and new files in its HOME (ChimeraX's downloads) and new
// downloads of chimerad's (pdb-*). It returns the usage left.
func (sv *Supervisor) overQuota(c *child, dir string, targets []string, before, after map[string]fileStamp) int64 {
	home := filepath.Join(dir, "home") + string(filepath.Separator)
	for path, now := range after {
		old, existed := before[path]
		changed := !existed || old != now
		switch {
		case !changed:
			continue
		case containsPath(targets, path),
			!existed && strings.HasPrefix(path, home),
			!existed && filepath.Dir(path) == dir && strings.HasPrefix(filepath.Base(path), "pdb-"):
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				sv.Logger.Warn().Str("session_id", c.id).Err(err).Msg("disk quota: remove a command's file")
			}
		}
	}
	used, _ := sv.measureDisk(c, dir)
	return used
}

func containsPath(paths []string, p string) bool {
	for _, q := range paths {
		if filepath.Clean(q) == p {
			return true
		}
	}
	return false
}

// humanBytes writes n bytes for people: 512 B, 200 KiB, 1.5 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), -1
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	s := fmt.Sprintf("%.1f", f)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + []string{"KiB", "MiB", "GiB", "TiB", "PiB"}[i]
}
