//go:build unix

package process

import (
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
