package chimerax

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/store"
)

// Limits of Logs.
const (
	// DefaultLogLines is how many lines Logs returns when not told.
	DefaultLogLines = 200
	// MaxLogLines caps the lines of one Logs call.
	MaxLogLines = 5000
)

// Log sources.
const (
	// LogSourceFile: the lines come from the child's output log files.
	LogSourceFile = "log"
	// LogSourceRecord: the session has ended and its files are gone; the
	// lines are the last ones its record kept.
	LogSourceRecord = "record"
)

// LogQuery asks for part of a session's output.
type LogQuery struct {
	// Lines is how many lines to return: the last Lines, or with After
	// the first Lines written after it. 0 means DefaultLogLines; more than
	// MaxLogLines means MaxLogLines.
	Lines int
	// After is a Cursor from an earlier Logs: return what was written since.
	After string
	// Redact hides what only admins may see: the child's REST port, which
	// would let anyone on the machine drive it, and the data directory's
	// paths.
	Redact bool
}

// Logs is part of a session's output: what ChimeraX printed on its stdout
// and stderr, without the "cmd> " prompts.
type Logs struct {
	ID    string      `json:"id"`
	State store.State `json:"state"`
	// Source is LogSourceFile or LogSourceRecord.
	Source string   `json:"source"`
	Lines  []string `json:"lines"`
	// Cursor marks the end of the last complete line read from the files:
	// pass it as LogQuery.After to follow the log. Empty with LogSourceRecord.
	Cursor string `json:"next_cursor,omitempty"`
	// Skipped says that output between After and the first line returned
	// is lost (the log was rotated past it), or that After was not a cursor
	// of this log.
	Skipped bool `json:"skipped,omitempty"`
}

// Logs returns the tail of a session's output, or with q.After the output
// written since an earlier call. A live session's lines come from its log
// files (at most 2×chimerax.log_max_bytes are kept); an ended session's
// from the last lines its record kept.
func (sv *Supervisor) Logs(ctx context.Context, id string, q LogQuery) (Logs, error) {
	rec, err := sv.current(ctx, id)
	if err != nil {
		return Logs{}, err
	}
	switch {
	case q.Lines < 0:
		return Logs{}, fmt.Errorf("%w: lines %d: want a positive number", ErrInvalid, q.Lines)
	case q.Lines == 0:
		q.Lines = DefaultLogLines
	case q.Lines > MaxLogLines:
		q.Lines = MaxLogLines
	}
	out := Logs{ID: rec.ID, State: rec.State, Source: LogSourceFile}
	if q.Redact {
		defer func() { sv.redact(rec, out.Lines) }()
	}
	lines, cursor, skipped, err := process.ReadLog(filepath.Join(sv.sessionDir(id), process.LogFile), q.Lines, q.After)
	if err == nil {
		out.Lines, out.Cursor, out.Skipped = lines, cursor, skipped
		return out, nil
	}
	if errors.Is(err, process.ErrBadCursor) {
		return Logs{}, fmt.Errorf("%w: log cursor %q", ErrInvalid, truncate(q.After, 40))
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Logs{}, fmt.Errorf("session %s: read log: %w", id, err)
	}
	// The files are gone: the session has ended (perhaps just now).
	if rec.State.Live() {
		if rec, err = sv.current(ctx, id); err != nil {
			return Logs{}, err
		}
	}
	out.State, out.Source, out.Lines = rec.State, LogSourceRecord, []string{}
	if rec.Process != nil {
		out.Lines = lastN(rec.Process.LastOutput, q.Lines)
	}
	return out, nil
}

// redact rewrites lines of session rec's output for its owner
// (process.Redact): no port, no path of the data directory.
func (sv *Supervisor) redact(rec store.Session, lines []string) {
	port := 0
	if rec.Process != nil {
		port = rec.Process.Port
	}
	paths := map[string]string{sv.sessionDir(rec.ID): "<session>", sv.cfg.DataDir: "<data_dir>"}
	if root := sharedRoot(sv.cfg); root != sv.cfg.DataDir {
		paths[root] = "<session_root>"
	}
	process.Redact(lines, port, paths)
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return append([]string{}, lines...)
}
