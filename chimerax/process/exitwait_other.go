//go:build !linux

package process

// awaitExit returns at once: the Wait after it blocks until the exit.
func awaitExit(pid int) {}
