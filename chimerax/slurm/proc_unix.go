//go:build unix

package slurm

import (
	"os/exec"
	"syscall"
)

// ownGroup makes cmd lead a process group of its own, so that a signal
// reaches whatever ChimeraX started too.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// signalGroup sends sig ("TERM" or "KILL") to the group pid leads.
func signalGroup(pid int, sig string) {
	s := syscall.SIGTERM
	if sig == "KILL" {
		s = syscall.SIGKILL
	}
	syscall.Kill(-pid, s)
}
