package process

import (
	"io/fs"
	"os"
	"syscall"
)

// Windows has neither process groups nor signals: chimerad builds there,
// and a child is ended by terminating it (its own children are not
// reached). Sessions are tested on Linux only; see the README.

// inode is 0: cursors into a rotated log fall back to its start.
func inode(fi fs.FileInfo) uint64 { return 0 }

// signalGroup terminates process pid; sig does not matter.
func signalGroup(pid int, sig syscall.Signal) { signalProcess(pid, sig) }

// signalProcess terminates process pid; sig does not matter.
func signalProcess(pid int, sig syscall.Signal) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}

// exists reports whether process pid exists.
func exists(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}

// childProcAttr gives a child a process group of its own on Windows'
// terms; a detached one outlives the daemon anyway.
func childProcAttr(detach bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// sandboxProcAttr: Windows has no namespaces (ProbeSandbox says so).
func sandboxProcAttr() *syscall.SysProcAttr { return childProcAttr(false) }
