//go:build unix && !linux

package process

import "syscall"

// childProcAttr puts a child in its own process group, so that it and all
// it starts can be signalled at once; a detached shim gets its own session
// and outlives the daemon. (Only Linux kills a child with its parent.)
func childProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true}
}

// sandboxProcAttr: this system has no namespaces (ProbeSandbox says so).
func sandboxProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
