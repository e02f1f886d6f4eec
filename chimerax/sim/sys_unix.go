//go:build unix

package sim

import "syscall"

// detached starts a process in a session of its own: it leaves its
// parent's process group (CHIMERAX_SIM_ESCAPE's helper).
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
