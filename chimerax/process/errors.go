package process

import "errors"

// Errors of a child's start. The chimerax package re-exports both.
var (
	// ErrStartFailed: the child exited or could not be run before it was ready.
	ErrStartFailed = errors.New("chimerax: start failed")
	// ErrStartTimeout: the child did not announce its REST port in time.
	ErrStartTimeout = errors.New("chimerax: start timed out")
)
