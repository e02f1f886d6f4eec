//go:build !linux

package chimerax

import (
	"errors"
	"os/exec"
	"syscall"
)

func childProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true}
}

func startCommand(cmd *exec.Cmd) error { return cmd.Start() }

func processStartTicks(pid int) (uint64, error) {
	return 0, errors.New("process start time: not supported on this system")
}

func processHasEnv(pid int, kv string) bool { return false }
