package process

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// childProcAttr puts a child (ChimeraX, or a shim) in its own process
// group, so it and all it starts can be signalled at once, and has the
// kernel SIGKILL it when the daemon's spawning thread dies; a detached shim
// gets its own session instead and outlives the daemon.
func childProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// The parent-death signal fires when the *thread* that forked the child
// exits, not the process. Go may end idle threads, so every child is
// started from one goroutine locked to its thread for the daemon's life.
var (
	spawnOnce sync.Once
	spawnCh   chan func()
)

func startCommand(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan func())
		go spawner(spawnCh)
	})
	errc := make(chan error, 1)
	spawnCh <- func() { errc <- cmd.Start() }
	return <-errc
}

func spawner(work <-chan func()) {
	runtime.LockOSThread() // never unlocked: the thread must outlive every child
	for f := range work {
		f()
	}
}

// StartTicks returns the start time of process pid in clock ticks
// since boot (field 22 of /proc/<pid>/stat). With the pid it names a process
// safely: a reused pid has a different start time.
func StartTicks(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after it start past the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// processHasEnv reports whether process pid's initial environment holds
// the exact entry kv ("NAME=value").
func processHasEnv(pid int, kv string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for _, e := range bytes.Split(b, []byte{0}) {
		if string(e) == kv {
			return true
		}
	}
	return false
}
