//go:build unix

package process

import (
	"errors"
	"io/fs"
	"syscall"
)

// inode is a file's inode number, which names it across renames.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// signalGroup sends sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) { syscall.Kill(-pid, sig) }

// signalProcess sends sig to process pid alone.
func signalProcess(pid int, sig syscall.Signal) { syscall.Kill(pid, sig) }

// exists reports whether process pid exists (a zombie does).
func exists(pid int) bool { return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }
