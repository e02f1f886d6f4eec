package process

import (
	"os"

	"golang.org/x/sys/unix"
)

// awaitExit returns once process pid, our child not yet waited for, has
// exited, without holding an OS thread meanwhile: it waits on a pidfd in
// the runtime's poller, where exec.Cmd.Wait would block a thread in
// waitid for the child's whole life (a thread per live session). A Wait
// after it returns at once. Without pidfds (Linux before 5.10) it returns
// at once, and the Wait blocks as it always did.
func awaitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// A pidfd polls readable once its process has exited: the first call
	// asks to wait for that, the second ends the wait. A pidfd the poller
	// does not take makes Read fail at once.
	waited := false
	rc.Read(func(uintptr) bool {
		done := waited
		waited = true
		return done
	})
}
