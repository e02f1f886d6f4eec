package chimerax

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/chimerad/chimerad/chimerax/engine"
	"github.com/chimerad/chimerad/chimerax/policy"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/chimerax/rest"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/store"
)

// Errors returned by the supervisor. Callers match them with errors.Is; the
// wrapped text says which session and why. Every error the supervisor
// returns for a caller to map (server/errors.go) is here, those that its
// sub-packages own re-exported below, as os.ErrNotExist is fs.ErrNotExist.
var (
	// ErrNotFound: no such session, or not one the caller may see.
	ErrNotFound = errors.New("chimerax: session not found")
	// ErrLimit: a session limit (total or per user) is reached.
	ErrLimit = errors.New("chimerax: session limit reached")
	// ErrOpenFailed: ChimeraX refused to open the session's structure.
	ErrOpenFailed = errors.New("chimerax: open failed")
	// ErrOutOfMemory: the child went over chimerax.memory_max opening the
	// session's structure.
	ErrOutOfMemory = errors.New("chimerax: ChimeraX ran out of memory")
	// ErrNotLive: the session has ended or is not ready for the operation.
	ErrNotLive = errors.New("chimerax: session not live")
	// ErrShuttingDown: the supervisor is closing and starts nothing new.
	ErrShuttingDown = errors.New("chimerax: shutting down")
	// ErrCommandFailed: ChimeraX refused a command chimerad built itself
	// (a snapshot, a checkpoint); the wrapped text is ChimeraX's.
	ErrCommandFailed = errors.New("chimerax: command failed")
	// ErrNoCheckpoint: a resume named a session without a usable checkpoint.
	ErrNoCheckpoint = errors.New("chimerax: no checkpoint")
	// ErrFileNotFound: a session has no file of that name its owner may fetch.
	ErrFileNotFound = errors.New("chimerax: file not found")
	// ErrSessionLive: the operation needs an ended session, and it is live.
	ErrSessionLive = errors.New("chimerax: session still live")
	// ErrDiskQuota: a command that writes files found the session's
	// directory at session.disk_max, or took it over (disk.go).
	ErrDiskQuota = errors.New("chimerax: session disk quota reached")
)

// Errors that the supervisor's sub-packages own, re-exported so that
// callers match every error the supervisor returns as chimerax.Err*.
var (
	// ErrRefused: the command policy refused a command line.
	ErrRefused = policy.ErrRefused
	// ErrEngineNotFound: the configured ChimeraX is missing or not executable.
	ErrEngineNotFound = engine.ErrNotFound
	// ErrCommandTimeout: a command did not finish within its timeout.
	ErrCommandTimeout = rest.ErrCommandTimeout
	// ErrUnavailable: the child is not running or does not answer.
	ErrUnavailable = rest.ErrUnavailable
	// ErrProtocol: the child answered, but not as ChimeraX's REST server does.
	ErrProtocol = rest.ErrProtocol
	// ErrStartFailed: the child exited or could not be run before it was ready.
	ErrStartFailed = process.ErrStartFailed
	// ErrStartTimeout: the child did not announce its REST port in time.
	ErrStartTimeout = process.ErrStartTimeout
	// ErrInvalid: the request is malformed (a bad PDB id, a bad name, a bad
	// log cursor). One sentinel for the supervisor and structure, which
	// owns it as the lower package.
	ErrInvalid = structure.ErrInvalid
	// ErrUnsupportedFormat: an upload is not a structure format ChimeraX opens here.
	ErrUnsupportedFormat = structure.ErrUnsupportedFormat
	// ErrTooLarge: an upload, or what it decompresses to, is over its limit.
	ErrTooLarge = structure.ErrTooLarge
	// ErrPDBNotFound: the mirrors say the PDB entry does not exist.
	ErrPDBNotFound = structure.ErrPDBNotFound
	// ErrPDBUnavailable: no PDB mirror gave a usable answer.
	ErrPDBUnavailable = structure.ErrPDBUnavailable
)

// StartError is a failed start of a child that did run: the reason, and
// the last lines the child printed.
type StartError = process.StartError

// Errors of Open only, which stop a daemon's start (no HTTP status maps them).
var (
	// ErrSandbox: sandbox required, but this system cannot create it.
	ErrSandbox = errors.New("chimerax: sandbox unavailable")
	// ErrCgroup: chimerax.cgroup names a directory chimerad cannot use.
	ErrCgroup = errors.New("chimerax: cgroup unavailable")
)

// errAlreadyEnded: a record update found the session ended already (a
// reason is recorded once, never overwritten).
var errAlreadyEnded = errors.New("chimerax: session already ended")

// truncate shortens s to about n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// notLive is ErrNotLive for session rec, saying where it really is: still
// starting, ending, restarting, or how it ended.
func notLive(rec store.Session, restarting bool) error {
	return fmt.Errorf("%w: session %s %s", ErrNotLive, rec.ID, whereIs(rec, restarting))
}

// whereIs says, for people, where a session that is not ready is.
func whereIs(rec store.Session, restarting bool) string {
	switch {
	case restarting:
		return "is restarting"
	case rec.State == store.StateStarting:
		return "is still starting"
	case rec.State == store.StateStopping:
		return "is ending"
	case rec.State == store.StateReady:
		return "is ready"
	}
	if why, ok := endedBecause[rec.TerminationReason]; ok {
		return why
	}
	return "has ended (" + string(rec.TerminationReason) + ")"
}

// endedBecause says how a session ended, by its reason.
var endedBecause = map[store.Reason]string{
	store.ReasonDeleted:            "was ended by its owner",
	store.ReasonAdminKill:          "was killed by an admin",
	store.ReasonIdleTimeout:        "ended after its idle timeout",
	store.ReasonMaxLifetime:        "ended at its maximum lifetime",
	store.ReasonCrashed:            "ended: its ChimeraX crashed",
	store.ReasonUnresponsive:       "ended: its ChimeraX stopped answering",
	store.ReasonStartFailed:        "failed to start",
	store.ReasonOpenFailed:         "ended: ChimeraX could not open its structure",
	store.ReasonShutdown:           "ended when chimerad shut down",
	store.ReasonDaemonRestart:      "ended when chimerad restarted",
	store.ReasonUserRemoved:        "ended when its user was removed",
	store.ReasonOutOfMemory:        "ended: its ChimeraX ran out of memory",
	store.ReasonClientGone:         "ended: the client that created it went away before it was ready",
	store.ReasonSchedulerCancelled: "ended: its Slurm job was cancelled",
	store.ReasonSchedulerFailed:    "ended: its Slurm job failed",
	store.ReasonSchedulerTimeLimit: "ended: its Slurm job reached its time limit",
}
