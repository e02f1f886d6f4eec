package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"
)

// fakeBackend is a Backend whose calls are its function fields; a nil
// field answers not found. The daemon's and the REST Backends are tested
// against a real daemon in package server and cmd.
type fakeBackend struct {
	command func(id, line string) (CommandResult, error)
	create  func(req CreateRequest) (Session, error)
	logs    func(id string, n int) (Logs, error)
	events  func(ctx context.Context, id string) (<-chan Event, error)
}

func notFound(id string) error {
	return &Error{Status: http.StatusNotFound, Code: "session_not_found", Detail: "chimerax: session not found: " + id}
}

func (f *fakeBackend) Sessions(context.Context, string, int) ([]Session, error) {
	return []Session{{ID: "s1", State: "ready"}, {ID: "s0", State: "terminated"}}, nil
}

func (f *fakeBackend) Session(_ context.Context, id string) (Session, error) {
	if id != "s1" {
		return Session{}, notFound(id)
	}
	return Session{ID: "s1", State: "ready"}, nil
}

func (f *fakeBackend) Create(_ context.Context, req CreateRequest) (Session, error) {
	if f.create == nil {
		return Session{}, errors.New("no create")
	}
	return f.create(req)
}

func (f *fakeBackend) Command(_ context.Context, id, line string) (CommandResult, error) {
	if f.command == nil {
		return CommandResult{}, notFound(id)
	}
	return f.command(id, line)
}

func (f *fakeBackend) Snapshot(_ context.Context, id string, w, h int) ([]byte, error) {
	return nil, notFound(id)
}

func (f *fakeBackend) Logs(_ context.Context, id string, n int) (Logs, error) {
	if f.logs == nil {
		return Logs{}, notFound(id)
	}
	return f.logs(id, n)
}

func (f *fakeBackend) Checkpoint(_ context.Context, id string) (Checkpoint, error) {
	return Checkpoint{}, notFound(id)
}

func (f *fakeBackend) End(_ context.Context, id string) (Session, error) {
	return Session{}, notFound(id)
}

func (f *fakeBackend) Events(ctx context.Context, id string) (<-chan Event, error) {
	if f.events == nil {
		return nil, notFound(id)
	}
	return f.events(ctx, id)
}

// connect serves b over an in-memory connection and returns a client of it.
func connect(t *testing.T, cfg Config, b Backend, opts *gomcp.ClientOptions) *gomcp.ClientSession {
	t.Helper()
	return connectVersion(t, cfg, b, opts, "")
}

// connectVersion is connect asking for a protocol version ("" for the
// SDK's latest).
func connectVersion(t *testing.T, cfg Config, b Backend, opts *gomcp.ClientOptions, version string) *gomcp.ClientSession {
	t.Helper()
	s := New(cfg, func(string) Backend { return b })
	ct, st := gomcp.NewInMemoryTransports()
	ctx := t.Context()
	ss, err := s.srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := gomcp.NewClient(&gomcp.Implementation{Name: "test", Version: "1"}, opts).Connect(ctx, ct, &gomcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Wait() })
	return cs
}

func call(t *testing.T, cs *gomcp.ClientSession, tool string, args any) *gomcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &gomcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s(%v): protocol error %v, want a result", tool, args, err)
	}
	return res
}

func text(res *gomcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*gomcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func TestToolsListed(t *testing.T) {
	cs := connect(t, DefaultConfig(), &fakeBackend{}, nil)
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		in, _ := tool.InputSchema.(map[string]any)
		if in["type"] != "object" {
			t.Errorf("%s: input schema type %v, want object", tool.Name, in["type"])
		}
		if len(tool.Description) < 80 || tool.Annotations == nil || tool.Annotations.Title == "" && tool.Title == "" {
			t.Errorf("%s: description %q, annotations %+v: want a description an agent can act on, a title and annotations", tool.Name, tool.Description, tool.Annotations)
		}
		out, _ := tool.OutputSchema.(map[string]any)
		switch {
		case tool.Name == ToolSnapshot:
			if out != nil {
				t.Errorf("snapshot has an output schema %v; its result is an image", out)
			}
		case out["type"] != "object":
			t.Errorf("%s: output schema %v, want an object", tool.Name, out)
		case tool.Name != ToolListSessions:
			props, _ := out["properties"].(map[string]any)
			if _, ok := props["id"]; !ok {
				t.Errorf("%s: output schema without id: %v", tool.Name, out)
			}
		}
	}
	slices.Sort(names)
	want := slices.Sorted(slices.Values(Tools))
	if !slices.Equal(names, want) {
		t.Errorf("tools = %v, want %v", names, want)
	}
	for name, wantRO := range map[string]bool{ToolListSessions: true, ToolSnapshot: true, ToolSessionLogs: true, ToolRunCommand: false, ToolEndSession: false} {
		i := slices.IndexFunc(res.Tools, func(t *gomcp.Tool) bool { return t.Name == name })
		if a := res.Tools[i].Annotations; a.ReadOnlyHint != wantRO {
			t.Errorf("%s: readOnlyHint %v, want %v", name, a.ReadOnlyHint, wantRO)
		}
	}
	end := res.Tools[slices.IndexFunc(res.Tools, func(t *gomcp.Tool) bool { return t.Name == ToolEndSession })]
	if a := end.Annotations; !a.IdempotentHint || a.DestructiveHint == nil || !*a.DestructiveHint {
		t.Errorf("end_session annotations %+v, want destructive and idempotent", a)
	}
}

func TestToolErrors(t *testing.T) {
	b := &fakeBackend{
		command: func(id, line string) (CommandResult, error) {
			switch line {
			case "runscript x.py":
				return CommandResult{}, &Error{Status: 403, Code: "command_refused", Detail: `chimerax: command refused: "runscript x.py": runscript is never allowed`}
			case "crash":
				return CommandResult{}, errors.New("bolt: secret path /var/lib/x")
			case "bad":
				return CommandResult{Log: CommandLog{Error: []string{"Unknown command: bad"}}}, nil
			}
			return CommandResult{OK: true, Log: CommandLog{Note: []string{"fine"}}}, nil
		},
	}
	cs := connect(t, DefaultConfig(), b, nil)
	for _, c := range []struct {
		line, want string
		isErr      bool
	}{
		{"color red", `"ok":true`, false},
		{"runscript x.py", "runscript is never allowed (command_refused)", true},
		{"crash", "internal error (internal)", true},
		{"bad", "ChimeraX reported an error: Unknown command: bad", true},
	} {
		res := call(t, cs, ToolRunCommand, map[string]any{"session_id": "s1", "command": c.line})
		if got := text(res); res.IsError != c.isErr || !strings.Contains(got, c.want) || strings.Contains(got, "secret") {
			t.Errorf("run_command %q = error %v %q, want error %v with %q", c.line, res.IsError, got, c.isErr, c.want)
		}
	}
	res := call(t, cs, ToolRunCommand, map[string]any{"session_id": "s1", "command": "color red"})
	var out CommandResult
	b2, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b2, &out); err != nil || out.ID != "s1" || !out.OK {
		t.Errorf("structuredContent = %s, want the result with id s1", b2)
	}
	// A mistake in the arguments is a tool error too, never a protocol error.
	res = call(t, cs, ToolRunCommand, map[string]any{"session_id": "s1"})
	if !res.IsError || !strings.Contains(text(res), "command") {
		t.Errorf("run_command without command = %v %q, want a tool error naming it", res.IsError, text(res))
	}
	res = call(t, cs, ToolSnapshot, map[string]any{"session_id": "s1", "width": 100000})
	if !res.IsError || !strings.Contains(text(res), "maximum") {
		t.Errorf("snapshot too wide = %v %q, want a tool error naming the maximum", res.IsError, text(res))
	}
	// "arguments": null is no arguments (go-sdk v1.8.0 panics on it with
	// schema defaults, which the tools therefore do not declare).
	if res := call(t, cs, ToolListSessions, nil); res.IsError {
		t.Errorf("list_sessions with null arguments = %q", text(res))
	}
	if res := call(t, cs, ToolSessionLogs, nil); !res.IsError || !strings.Contains(text(res), "session_id") {
		t.Errorf("session_logs with null arguments = %v %q, want a tool error naming session_id", res.IsError, text(res))
	}
	res = call(t, cs, ToolEndSession, map[string]any{"session_id": "nope"})
	if !res.IsError || !strings.Contains(text(res), "session_not_found") {
		t.Errorf("end_session nope = %v %q, want session_not_found", res.IsError, text(res))
	}
}

func TestCreateChecks(t *testing.T) {
	var got CreateRequest
	b := &fakeBackend{create: func(req CreateRequest) (Session, error) {
		got = req
		return Session{ID: "s2", State: "ready"}, nil
	}}
	cfg := DefaultConfig()
	cfg.MaxStructureBytes = 100
	cs := connect(t, cfg, b, nil)
	for _, c := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"pdb_id": "1hpv", "structure": "ATOM", "format": "pdb"}, "not both"},
		{map[string]any{"structure": "ATOM"}, "needs its format"},
		{map[string]any{"format": "pdb"}, "format goes with structure"},
		{map[string]any{"structure": strings.Repeat("A", 101), "format": "pdb"}, "over the limit of 100 bytes (mcp.max_structure_bytes)"},
		{map[string]any{"structure": "ATOM", "format": "xyz"}, "format"},
	} {
		res := call(t, cs, ToolCreateSession, c.args)
		if !res.IsError || !strings.Contains(text(res), c.want) {
			t.Errorf("create_session %v = %v %q, want a tool error with %q", c.args, res.IsError, text(res), c.want)
		}
	}
	res := call(t, cs, ToolCreateSession, map[string]any{"structure": strings.Repeat("A", 100), "format": "mmcif", "name": "n"})
	if res.IsError || got.Filename != "structure.cif" || got.Format != "mmcif" || got.Name != "n" || len(got.Structure) != 100 {
		t.Errorf("create_session = %v %q, backend got %+v", res.IsError, text(res), got)
	}
}

func TestBounds(t *testing.T) {
	res := CommandResult{Log: CommandLog{
		Note:  []string{strings.Repeat("n", 60), strings.Repeat("n", 60)},
		Error: []string{strings.Repeat("e", 50)},
	}, JSONValues: []any{strings.Repeat("v", 10)}}
	boundCommand(&res, 120)
	if len(res.Log.Error) != 1 || len(res.Log.Note) != 1 || res.JSONValues != nil || !res.Truncated {
		t.Errorf("boundCommand(120) = %+v, want the error, one note, no values, truncated", res)
	}
	logs := Logs{Lines: []string{"one", "two", "three"}}
	boundLogs(&logs, 11)
	if !slices.Equal(logs.Lines, []string{"two", "three"}) || !logs.Truncated {
		t.Errorf("boundLogs(11) = %+v, want the last two lines, truncated", logs)
	}
}

// TestSubscriptions: a subscriber to a session's resources is told of its
// events; the event subscription ends when the last subscriber leaves. Under
// the legacy protocols (resources/subscribe) and under 2026-07-28
// (subscriptions/listen), which the SDK speaks over stdio.
func TestSubscriptions(t *testing.T) {
	for _, v := range []string{"2025-11-25", "2024-11-05", ""} {
		t.Run("version="+v, func(t *testing.T) { testSubscriptions(t, v) })
	}
}

func testSubscriptions(t *testing.T, version string) {
	feed := make(chan Event)
	stopped := make(chan struct{})
	b := &fakeBackend{events: func(ctx context.Context, id string) (<-chan Event, error) {
		out := make(chan Event)
		go func() {
			defer close(out)
			defer close(stopped)
			for {
				select {
				case ev := <-feed:
					out <- ev
				case <-ctx.Done():
					return
				}
			}
		}()
		return out, nil
	}}
	updated := make(chan string, 10)
	cs := connectVersion(t, DefaultConfig(), b, &gomcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *gomcp.ResourceUpdatedNotificationRequest) {
			updated <- req.Params.URI
		},
	}, version)
	ctx := t.Context()
	// (Under 2026-07-28 a refused subscription ends its listen stream,
	// which Subscribe does not wait for.)
	if err := cs.Subscribe(ctx, &gomcp.SubscribeParams{URI: "chimerad://sessions/other"}); err == nil && version != "" {
		t.Error("subscribed to a session not found")
	}
	if err := cs.Subscribe(ctx, &gomcp.SubscribeParams{URI: LogURI("s1")}); err != nil {
		t.Fatal(err)
	}
	feed <- Event{Type: "command"}
	select {
	case uri := <-updated:
		if uri != LogURI("s1") {
			t.Errorf("updated %s, want the log", uri)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no update after a command")
	}
	list, err := cs.ListResources(ctx, nil)
	if err != nil || len(list.Resources) != 2 || list.Resources[0].URI != SessionURI("s1") {
		t.Errorf("resources/list = %+v, %v; want the live session's two resources", list, err)
	}
	if err := cs.Unsubscribe(ctx, &gomcp.UnsubscribeParams{URI: LogURI("s1")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the event subscription outlived the last subscriber")
	}
}
