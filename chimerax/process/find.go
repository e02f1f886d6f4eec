package process

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// IsChild reports whether pid is still the child recorded for session id:
// same start time, and the session id in its environment.
func IsChild(pid int, startTicks uint64, id string) bool {
	ticks, err := StartTicks(pid)
	return err == nil && ticks == startTicks && processHasEnv(pid, SessionEnv+"="+id)
}

// FindChildren scans /proc for processes working in a session directory
// under sessionsDir and carrying that session's id, by session id.
func FindChildren(sessionsDir string) map[string][]int {
	out := make(map[string][]int)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err != nil || filepath.Dir(cwd) != sessionsDir {
			continue
		}
		cwd = strings.TrimSuffix(cwd, " (deleted)") // its directory was removed under it
		id := filepath.Base(cwd)
		if processHasEnv(pid, SessionEnv+"="+id) {
			out[id] = append(out[id], pid)
		}
	}
	return out
}

// KillGroup SIGKILLs the process group led by pid and waits, bounded, for
// the leader to be gone. A child of a dead daemon has been re-parented, so
// it is reaped by its new parent, not here.
func KillGroup(pid int) {
	signalGroup(pid, syscall.SIGKILL)
	signalProcess(pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if !exists(pid) {
			return
		}
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && isZombie(st) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isZombie(stat []byte) bool {
	for i := len(stat) - 1; i >= 0; i-- {
		if stat[i] == ')' {
			return i+2 < len(stat) && stat[i+2] == 'Z'
		}
	}
	return false
}
