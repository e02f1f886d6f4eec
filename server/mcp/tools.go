package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"
)

// The tools' names.
const (
	ToolListSessions      = "list_sessions"
	ToolCreateSession     = "create_session"
	ToolRunCommand        = "run_command"
	ToolSnapshot          = "snapshot"
	ToolSessionLogs       = "session_logs"
	ToolCheckpointSession = "checkpoint_session"
	ToolEndSession        = "end_session"
)

// Tools are the names of every tool.
var Tools = []string{
	ToolListSessions, ToolCreateSession, ToolRunCommand, ToolSnapshot,
	ToolSessionLogs, ToolCheckpointSession, ToolEndSession,
}

// Bounds of the tools' results.
const (
	// MaxTextBytes bounds the text of a result: a command's log and
	// values, or the lines of session_logs.
	MaxTextBytes = 64 << 10
	// DefaultLogLines and MaxLogLines: session_logs' lines, by default and
	// at most.
	DefaultLogLines = 100
	MaxLogLines     = 500
	// DefaultListLimit and MaxListLimit: list_sessions' sessions.
	DefaultListLimit = 20
	MaxListLimit     = 100
)

// The snapshot size asked for when none is.
const (
	defaultWidth  = 800
	defaultHeight = 600
)

// states are the session states list_sessions filters on; "" is all (as
// for every optional string: agents that fill every field send "").
var states = []any{"", "starting", "ready", "stopping", "terminated", "failed"}

// Inputs of the tools. The jsonschema tags are the arguments' descriptions.
type (
	listInput struct {
		State string `json:"state,omitempty" jsonschema:"only sessions in this state (ready ones take commands); all by default"`
		Limit int    `json:"limit,omitempty" jsonschema:"at most this many sessions, newest first"`
	}
	createInput struct {
		PDBID     string `json:"pdb_id,omitempty" jsonschema:"a PDB entry to open, e.g. 1hpv (or the extended form pdb_00001hpv); chimerad downloads it"`
		Structure string `json:"structure,omitempty" jsonschema:"the full text of a structure file to open instead of a PDB entry; give its format too"`
		Format    string `json:"format,omitempty" jsonschema:"the format of structure"`
		Name      string `json:"name,omitempty" jsonschema:"a label for the session, for you and the user"`
	}
	sessionInput struct {
		SessionID string `json:"session_id" jsonschema:"the session's id, from create_session or list_sessions"`
	}
	commandInput struct {
		SessionID string `json:"session_id" jsonschema:"the session's id, from create_session or list_sessions"`
		Command   string `json:"command" jsonschema:"one ChimeraX command line, e.g. 'color red' or 'cartoon; color bychain'; several commands may be joined with ;"`
	}
	snapshotInput struct {
		SessionID string `json:"session_id" jsonschema:"the session's id, from create_session or list_sessions"`
		Width     int    `json:"width,omitempty" jsonschema:"image width in pixels"`
		Height    int    `json:"height,omitempty" jsonschema:"image height in pixels"`
	}
	logsInput struct {
		SessionID string `json:"session_id" jsonschema:"the session's id, from create_session or list_sessions"`
		Lines     int    `json:"lines,omitempty" jsonschema:"how many of the last lines to return"`
	}
)

// SessionList is list_sessions' result.
type SessionList struct {
	Sessions []Session `json:"sessions" jsonschema:"the sessions, newest first"`
}

// schemaFor infers T's JSON schema, then lets tune set what inference
// cannot (bounds, enums, defaults).
func schemaFor[T any](tune func(props map[string]*jsonschema.Schema)) *jsonschema.Schema {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		panic(err) // the types above are fixed: a test would fail first
	}
	if tune != nil {
		tune(s.Properties)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// bounds sets an integer argument's range, 0 standing for its default,
// which its description says. (Not as the schema's default: go-sdk v1.8.0
// panics applying defaults to "arguments": null.)
func bounds(s *jsonschema.Schema, hi, def int) {
	s.Minimum, s.Maximum = ptr(0.0), ptr(float64(hi))
	s.Description += fmt.Sprintf(" (1 to %d; 0 or absent: %d)", hi, def)
}

// addTool registers a tool and its handler (see handle), with its title
// also where clients of protocols before 2025-06-18 look for it.
func addTool[In, Out any](s *Server, t *gomcp.Tool, h gomcp.ToolHandlerFor[In, Out]) {
	t.Annotations.Title = t.Title
	gomcp.AddTool(s.srv, t, handle(s, h))
}

// addTools registers the tools.
func (s *Server) addTools() {
	closed := ptr(false)
	maxSide := s.cfg.MaxSnapshotSide
	defW, defH := min(defaultWidth, maxSide), min(defaultHeight, maxSide)

	addTool(s, &gomcp.Tool{
		Name:  ToolListSessions,
		Title: "List ChimeraX sessions",
		Description: "List your chimerad sessions, newest first, with their state, what they opened, " +
			"and when an idle one will end (idle_expires_at). Ended sessions (terminated, failed) stay listed " +
			"for a while with termination_reason. Reading the list does not keep sessions alive.",
		Annotations: &gomcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: closed},
		InputSchema: schemaFor[listInput](func(p map[string]*jsonschema.Schema) {
			p["state"].Enum = states
			bounds(p["limit"], MaxListLimit, DefaultListLimit)
		}),
	}, s.listSessions)

	var formats []any
	for _, f := range []string{"", "pdb", "mmcif", "sdf", "mol2"} {
		formats = append(formats, f)
	}
	addTool(s, &gomcp.Tool{
		Name:  ToolCreateSession,
		Title: "Start a ChimeraX session",
		Description: "Start a new headless UCSF ChimeraX session and open a structure in it: either a PDB entry " +
			"(pdb_id, downloaded by chimerad) or the text of a structure file (structure, with its format: " +
			fmt.Sprintf("pdb, mmcif, sdf or mol2; at most %d bytes), checked like an upload. ", s.cfg.MaxStructureBytes) +
			"With neither, the session starts empty. Returns once ChimeraX is ready; the result's id is what " +
			"the other tools take as session_id. You have a limited number of live sessions: end the ones you no " +
			"longer need.",
		Annotations: &gomcp.ToolAnnotations{DestructiveHint: ptr(false), OpenWorldHint: ptr(true)},
		InputSchema: schemaFor[createInput](func(p map[string]*jsonschema.Schema) {
			p["format"].Enum = formats
			p["name"].MaxLength = ptr(200)
		}),
	}, s.createSession)

	allow := "Only the commands the administrator allows may start a command"
	if len(s.cfg.Allow) > 0 {
		allow += " (" + strings.Join(s.cfg.Allow, ", ") + ")"
	}
	addTool(s, &gomcp.Tool{
		Name:  ToolRunCommand,
		Title: "Run a ChimeraX command",
		Description: "Run one ChimeraX command line in a ready session, e.g. 'color red', 'cartoon', " +
			"'show :ASP ligand', 'view'. " + allow + ", in full (no abbreviations); open and save work only on " +
			"PDB ids and files in the session; commands that run code (runscript, python, pip, shell...) are always " +
			"refused. A refused line runs nothing and its error names the refused command and the rule, so that you " +
			"can correct it. The result has what ChimeraX logged; ok is false (and the result an error) when ChimeraX " +
			"reported an error. Commands keep the session alive.",
		Annotations: &gomcp.ToolAnnotations{DestructiveHint: ptr(true), OpenWorldHint: closed},
		InputSchema: schemaFor[commandInput](func(p map[string]*jsonschema.Schema) {
			p["command"].MinLength = ptr(1)
		}),
	}, s.runCommand)

	addTool(s, &gomcp.Tool{
		Name:  ToolSnapshot,
		Title: "Snapshot a ChimeraX session",
		Description: "Render what a ready session shows and return it as a PNG image, " +
			fmt.Sprintf("at most %d pixels a side. Use it to check the effect of your commands. ", maxSide) +
			"A snapshot keeps the session alive.",
		Annotations: &gomcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: closed},
		InputSchema: schemaFor[snapshotInput](func(p map[string]*jsonschema.Schema) {
			bounds(p["width"], maxSide, defW)
			bounds(p["height"], maxSide, defH)
		}),
	}, s.snapshot)

	addTool(s, &gomcp.Tool{
		Name:  ToolSessionLogs,
		Title: "Read a ChimeraX session's output",
		Description: "Return the last lines of what a session's ChimeraX printed (its output log), oldest first, " +
			fmt.Sprintf("at most %d bytes. Also for an ended session, whose record keeps its last lines. ", MaxTextBytes) +
			"Reading the log does not keep the session alive.",
		Annotations: &gomcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: closed},
		InputSchema: schemaFor[logsInput](func(p map[string]*jsonschema.Schema) {
			bounds(p["lines"], MaxLogLines, DefaultLogLines)
		}),
	}, s.sessionLogs)

	addTool(s, &gomcp.Tool{
		Name:  ToolCheckpointSession,
		Title: "Checkpoint a ChimeraX session",
		Description: "Save a ready session's whole ChimeraX state as a checkpoint that outlives the session: " +
			"the user can start a new session from it later (the REST API's resume_from). chimerad keeps a " +
			"session's three newest checkpoints. A checkpoint keeps the session alive.",
		Annotations: &gomcp.ToolAnnotations{DestructiveHint: ptr(false), OpenWorldHint: closed},
		InputSchema: schemaFor[sessionInput](nil),
	}, s.checkpointSession)

	addTool(s, &gomcp.Tool{
		Name:  ToolEndSession,
		Title: "End a ChimeraX session",
		Description: "End a session: its ChimeraX stops and its files go (checkpoints stay). Ending an ended " +
			"session just returns its final record.",
		Annotations: &gomcp.ToolAnnotations{DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: closed},
		InputSchema: schemaFor[sessionInput](nil),
	}, s.endSession)
}

// handle adapts a tool's handler: an error it returns that is not an
// *Error is internal, logged here and told to the agent only as that.
func handle[In, Out any](s *Server, h gomcp.ToolHandlerFor[In, Out]) gomcp.ToolHandlerFor[In, Out] {
	return func(ctx context.Context, req *gomcp.CallToolRequest, in In) (*gomcp.CallToolResult, Out, error) {
		res, out, err := h(ctx, req, in)
		var e *Error
		switch {
		case err == nil || errors.As(err, &e):
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			err = &Error{Status: 499, Code: "canceled", Detail: "the call was canceled"}
		default:
			s.cfg.Logger.Error().Err(err).Str("tool", req.Params.Name).Str("user", userOf(req.Extra)).Msg("mcp tool failed")
			err = &Error{Status: http.StatusInternalServerError, Code: "internal", Detail: "internal error"}
		}
		return res, out, err
	}
}

// backend returns the Backend for the user a request came from.
func (s *Server) backend(extra *gomcp.RequestExtra) Backend {
	return s.backends(userOf(extra))
}

// userOf is the name a request's bearer token resolved to; "" over stdio.
func userOf(extra *gomcp.RequestExtra) string {
	if extra != nil && extra.TokenInfo != nil {
		return extra.TokenInfo.UserID
	}
	return ""
}

// invalid is a request the agent must change.
func invalid(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Detail: fmt.Sprintf(format, args...)}
}

func (s *Server) listSessions(ctx context.Context, req *gomcp.CallToolRequest, in listInput) (*gomcp.CallToolResult, SessionList, error) {
	limit := in.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	list, err := s.backend(req.Extra).Sessions(ctx, in.State, limit)
	if err != nil {
		return nil, SessionList{}, err
	}
	if list == nil {
		list = []Session{}
	}
	return nil, SessionList{Sessions: list}, nil
}

func (s *Server) createSession(ctx context.Context, req *gomcp.CallToolRequest, in createInput) (*gomcp.CallToolResult, Session, error) {
	r := CreateRequest{Name: in.Name, PDBID: strings.TrimSpace(in.PDBID)}
	switch {
	case in.Structure != "" && r.PDBID != "":
		return nil, Session{}, invalid("give pdb_id or structure, not both")
	case in.Structure != "":
		ext, ok := Formats[in.Format]
		if !ok {
			return nil, Session{}, invalid("structure needs its format: pdb, mmcif, sdf or mol2")
		}
		if n := int64(len(in.Structure)); n > s.cfg.MaxStructureBytes {
			return nil, Session{}, &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
				Detail: fmt.Sprintf("structure is %d bytes, over the limit of %d bytes (mcp.max_structure_bytes); "+
					"open a PDB entry with pdb_id instead, or ask the user to upload the file through the REST API", n, s.cfg.MaxStructureBytes)}
		}
		r.Structure, r.Format, r.Filename = in.Structure, in.Format, "structure"+ext
	case in.Format != "":
		return nil, Session{}, invalid("format goes with structure, which is empty")
	}
	sess, err := s.backend(req.Extra).Create(ctx, r)
	return nil, sess, err
}

func (s *Server) runCommand(ctx context.Context, req *gomcp.CallToolRequest, in commandInput) (*gomcp.CallToolResult, CommandResult, error) {
	res, err := s.backend(req.Extra).Command(ctx, in.SessionID, in.Command)
	if err != nil {
		return nil, CommandResult{}, err
	}
	res.ID = in.SessionID
	boundCommand(&res, MaxTextBytes)
	out := &gomcp.CallToolResult{}
	if !res.OK {
		// ChimeraX ran the line and reported an error: the agent should
		// see it as one, with the whole answer.
		msg := "ChimeraX reported an error"
		if res.Error != nil {
			msg += ": " + res.Error.Type + ": " + res.Error.Message
		} else if len(res.Log.Error) > 0 {
			msg += ": " + res.Log.Error[0]
		}
		text, _ := json.Marshal(res)
		out.IsError = true
		out.Content = []gomcp.Content{&gomcp.TextContent{Text: msg}, &gomcp.TextContent{Text: string(text)}}
	}
	return out, res, nil
}

func (s *Server) snapshot(ctx context.Context, req *gomcp.CallToolRequest, in snapshotInput) (*gomcp.CallToolResult, any, error) {
	w, h := in.Width, in.Height
	if w == 0 {
		w = min(defaultWidth, s.cfg.MaxSnapshotSide)
	}
	if h == 0 {
		h = min(defaultHeight, s.cfg.MaxSnapshotSide)
	}
	if w > s.cfg.MaxSnapshotSide || h > s.cfg.MaxSnapshotSide || w < 1 || h < 1 {
		return nil, nil, invalid("a snapshot is 1 to %d pixels a side (mcp.max_snapshot_side), not %d×%d", s.cfg.MaxSnapshotSide, w, h)
	}
	png, err := s.backend(req.Extra).Snapshot(ctx, in.SessionID, w, h)
	if err != nil {
		return nil, nil, err
	}
	return &gomcp.CallToolResult{Content: []gomcp.Content{
		&gomcp.ImageContent{Data: png, MIMEType: "image/png"},
		&gomcp.TextContent{Text: fmt.Sprintf("Snapshot of session %s: %d×%d pixels, PNG, %d bytes.", in.SessionID, w, h, len(png))},
	}}, nil, nil
}

func (s *Server) sessionLogs(ctx context.Context, req *gomcp.CallToolRequest, in logsInput) (*gomcp.CallToolResult, Logs, error) {
	n := in.Lines
	if n == 0 {
		n = DefaultLogLines
	}
	logs, err := s.backend(req.Extra).Logs(ctx, in.SessionID, min(n, MaxLogLines))
	if err != nil {
		return nil, Logs{}, err
	}
	logs.ID = in.SessionID
	boundLogs(&logs, MaxTextBytes)
	return nil, logs, nil
}

func (s *Server) checkpointSession(ctx context.Context, req *gomcp.CallToolRequest, in sessionInput) (*gomcp.CallToolResult, Checkpoint, error) {
	cp, err := s.backend(req.Extra).Checkpoint(ctx, in.SessionID)
	cp.ID = in.SessionID
	return nil, cp, err
}

func (s *Server) endSession(ctx context.Context, req *gomcp.CallToolRequest, in sessionInput) (*gomcp.CallToolResult, Session, error) {
	sess, err := s.backend(req.Extra).End(ctx, in.SessionID)
	return nil, sess, err
}

// boundCommand cuts a command's log and values to about max bytes: error
// and bug lines first, then warnings, then notes, each list from its start;
// values that do not fit are dropped.
func boundCommand(res *CommandResult, max int) {
	budget := max
	for _, lines := range []*[]string{&res.Log.Error, &res.Log.Bug, &res.Log.Warning, &res.Log.Note} {
		kept := (*lines)[:0:0]
		for _, l := range *lines {
			if len(l) > budget {
				res.Truncated = true
				break
			}
			budget -= len(l)
			kept = append(kept, l)
		}
		*lines = kept
	}
	if len(res.JSONValues) > 0 {
		if b, err := json.Marshal(res.JSONValues); err != nil || len(b) > budget {
			res.JSONValues, res.Truncated = nil, true
		}
	}
}

// boundLogs keeps the last lines that fit in max bytes.
func boundLogs(logs *Logs, max int) {
	budget, first := max, len(logs.Lines)
	for first > 0 && len(logs.Lines[first-1]) < budget {
		first--
		budget -= len(logs.Lines[first]) + 1
	}
	if first > 0 {
		logs.Lines, logs.Truncated = logs.Lines[first:], true
	}
	if logs.Lines == nil {
		logs.Lines = []string{}
	}
}
