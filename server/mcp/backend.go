package mcp

import (
	"context"
	"fmt"
	"time"
)

// Backend is what the tools need of chimerad, acting for one user: every
// method sees and touches only that user's sessions, and another user's
// session is not found, exactly like a missing one. Using a session
// (commands, snapshots, checkpoints) is activity exactly as through the REST
// API; reading (sessions, logs, events) is not.
//
// A call that chimerad refuses or cannot do returns an *Error; any other
// error is internal, and the agent is told only that.
type Backend interface {
	// Sessions lists the user's sessions, newest first: those in state, or
	// all if state is "", at most limit.
	Sessions(ctx context.Context, state string, limit int) ([]Session, error)
	// Session returns one of the user's sessions.
	Session(ctx context.Context, id string) (Session, error)
	// Create starts a session and returns it once ready.
	Create(ctx context.Context, req CreateRequest) (Session, error)
	// Command runs a command line under the command policy.
	Command(ctx context.Context, id, line string) (CommandResult, error)
	// Snapshot renders the session's view as a PNG.
	Snapshot(ctx context.Context, id string, width, height int) ([]byte, error)
	// Logs returns the last lines of the session's ChimeraX output.
	Logs(ctx context.Context, id string, lines int) (Logs, error)
	// Checkpoint saves the session's whole ChimeraX state.
	Checkpoint(ctx context.Context, id string) (Checkpoint, error)
	// End ends the session; ending an ended session returns its record.
	End(ctx context.Context, id string) (Session, error)
	// Events subscribes to a live session's events until ctx ends. The
	// channel is closed after the session's end, or when the subscriber
	// fell behind. An ended session is an *Error.
	Events(ctx context.Context, id string) (<-chan Event, error)
}

// Error is a call chimerad refused or could not do, as the agent is told
// it: the REST API's problem for it.
type Error struct {
	// Status is the HTTP status the REST API answers.
	Status int
	// Code is the problem's stable code, e.g. command_refused.
	Code string
	// Detail is the problem's sentence, safe to show.
	Detail string
	// SessionID names the session a failed create or restart left behind.
	SessionID string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s (%s)", e.Detail, e.Code)
	if e.SessionID != "" {
		s += "; the failed session is " + e.SessionID
	}
	return s
}

// Session is a chimerad session as the tools show it: the REST API's
// session without what the agent does not need, under the same names.
type Session struct {
	ID             string     `json:"id" jsonschema:"the session's id: pass it as session_id to the other tools"`
	Name           string     `json:"name"`
	State          string     `json:"state" jsonschema:"starting, ready, stopping, terminated or failed; only a ready session takes commands"`
	Structure      Structure  `json:"structure"`
	CreatedAt      time.Time  `json:"created_at"`
	ReadyAt        *time.Time `json:"ready_at,omitempty"`
	LastActivityAt *time.Time `json:"last_activity_at,omitempty"`
	IdleExpiresAt  *time.Time `json:"idle_expires_at,omitempty" jsonschema:"when the session ends for idleness unless it is used first (a command, a snapshot or a checkpoint)"`
	// MaxLifetimeExpiresAt is when the session ends whatever its use.
	MaxLifetimeExpiresAt *time.Time `json:"max_lifetime_expires_at,omitempty"`
	TerminatedAt         *time.Time `json:"terminated_at,omitempty"`
	TerminationReason    string     `json:"termination_reason,omitempty" jsonschema:"why an ended session ended, e.g. deleted or idle_timeout"`
	Error                string     `json:"error,omitempty"`
	ExecutionState       string     `json:"execution_state,omitempty" jsonschema:"idle or busy (a command is running) while the session is ready"`
	CheckpointAt         *time.Time `json:"checkpoint_at,omitempty"`
}

// Structure is what a session opened at its start.
type Structure struct {
	Source    string `json:"source" jsonschema:"upload, pdb, checkpoint or none"`
	PDBID     string `json:"pdb_id,omitempty"`
	Filename  string `json:"filename,omitempty"`
	Format    string `json:"format,omitempty"`
	SizeBytes int64  `json:"size_bytes,omitempty"`
}

// Live reports whether a session in state is live (not ended).
func Live(state string) bool {
	return state == "starting" || state == "ready" || state == "stopping"
}

// Formats are the structure formats create_session takes as text, with the
// file name suffix each is given.
var Formats = map[string]string{"pdb": ".pdb", "mmcif": ".cif", "sdf": ".sdf", "mol2": ".mol2"}

// CreateRequest describes a new session: a PDB entry, structure text of a
// format, or neither (an empty session).
type CreateRequest struct {
	Name  string
	PDBID string
	// Structure is the text of a structure file; Format is its format, one
	// of Formats, and Filename the name it is checked and shown under.
	Structure string
	Format    string
	Filename  string
}

// CommandResult is ChimeraX's answer to a command line.
type CommandResult struct {
	ID string `json:"id" jsonschema:"the session's id"`
	// OK is false when ChimeraX reported an error.
	OK  bool       `json:"ok" jsonschema:"false when ChimeraX reported an error (see error and log.error)"`
	Log CommandLog `json:"log" jsonschema:"what ChimeraX logged while the commands ran, by level"`
	// Error is the exception the command raised, if any.
	Error *CommandError `json:"error,omitempty"`
	// JSONValues holds one value per command run, for commands that return one.
	JSONValues []any `json:"json_values,omitempty" jsonschema:"one value per command run, for commands that return JSON (null for those that do not)"`
	Truncated  bool  `json:"truncated,omitempty" jsonschema:"the log or values were cut to bound the result; session_logs has the output"`
}

// CommandLog holds the messages logged while a command ran, by level.
type CommandLog struct {
	Note    []string `json:"note,omitempty"`
	Warning []string `json:"warning,omitempty"`
	Error   []string `json:"error,omitempty"`
	Bug     []string `json:"bug,omitempty"`
}

// CommandError is the exception a command raised, by Python class name.
type CommandError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// Logs is the tail of a session's ChimeraX output.
type Logs struct {
	ID        string   `json:"id" jsonschema:"the session's id"`
	State     string   `json:"state"`
	Lines     []string `json:"lines" jsonschema:"the last lines of ChimeraX's output, oldest first"`
	Truncated bool     `json:"truncated,omitempty" jsonschema:"older lines were left out to bound the result"`
}

// Checkpoint is a saved checkpoint of a session.
type Checkpoint struct {
	ID        string    `json:"id" jsonschema:"the session's id"`
	At        time.Time `json:"at"`
	SizeBytes int64     `json:"size_bytes"`
}

// Event is something that happened to a live session: what the resources'
// subscribers are told of.
type Event struct {
	// Type is the REST API's event type: state, command, checkpoint,
	// idle_warning or execution_state.
	Type string
	// Ended is set on the state event that ends the session.
	Ended bool
}
