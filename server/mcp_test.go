//go:build linux

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/server"
	"github.com/chimerad/chimerad/server/mcp"
)

// mcpTransport sends an MCP client's requests with a bearer token, and
// validates every answer but the endless event stream (GET) against
// openapi.yaml, as apiClient does.
type mcpTransport struct {
	token string
	base  *http.Transport
}

func (t mcpTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	if req.Method == http.MethodGet {
		return t.base.RoundTrip(req)
	}
	return validatingTransport{base: t.base}.RoundTrip(req)
}

// mcpConnect connects the SDK's client to the daemon's /mcp as token's
// user, asking for protocol version ("" for the SDK's choice), and closes
// it at cleanup.
func (d *daemon) mcpConnect(tb testing.TB, token, version string, opts *gomcp.ClientOptions) (*gomcp.ClientSession, error) {
	tb.Helper()
	base := &http.Transport{}
	tb.Cleanup(base.CloseIdleConnections)
	t := &gomcp.StreamableClientTransport{Endpoint: d.URL + "/mcp", HTTPClient: &http.Client{Transport: mcpTransport{token: token, base: base}}}
	client := gomcp.NewClient(&gomcp.Implementation{Name: "chimerad-test", Version: "1"}, opts)
	cs, err := client.Connect(context.Background(), t, &gomcp.ClientSessionOptions{ProtocolVersion: version})
	if err == nil {
		tb.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

func (d *daemon) mustMCP(tb testing.TB, token string) *gomcp.ClientSession {
	tb.Helper()
	cs, err := d.mcpConnect(tb, token, "", nil)
	if err != nil {
		tb.Fatalf("connect to /mcp: %v", err)
	}
	return cs
}

// callTool calls a tool and fails the test on a protocol error: chimerad
// answers mistakes with tool errors.
func callTool(tb testing.TB, cs *gomcp.ClientSession, name string, args map[string]any) *gomcp.CallToolResult {
	tb.Helper()
	res, err := cs.CallTool(context.Background(), &gomcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		tb.Fatalf("%s(%v): %v", name, args, err)
	}
	return res
}

// toolText is the text content of a result.
func toolText(res *gomcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*gomcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// structured decodes a successful result's structured content.
func structured[T any](tb testing.TB, res *gomcp.CallToolResult) T {
	tb.Helper()
	if res.IsError {
		tb.Fatalf("tool error: %s", toolText(res))
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		tb.Fatal(err)
	}
	return decode[T](tb, b)
}

// TestMCPAgent drives a session as an agent would, with the SDK's own
// client over HTTP: tools listed with schemas, a session created from
// structure text, commands run, one refused, a snapshot, the log, a
// checkpoint and the end; another user sees none of it.
func TestMCPAgent(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	bob := d.mustUser(t, "bob", true) // an admin too acts on their own sessions only
	cs := d.mustMCP(t, alice)
	if init := cs.InitializeResult(); init.ServerInfo.Name != "chimerad" || init.ProtocolVersion != "2025-11-25" ||
		init.Capabilities.Tools == nil || init.Capabilities.Resources == nil || !init.Capabilities.Resources.Subscribe {
		t.Errorf("initialize = %+v, want chimerad speaking 2025-11-25 with tools and subscribable resources", init)
	}

	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tools.Tools) != len(mcp.Tools) {
		t.Errorf("tools/list has %d tools, want %d", len(tools.Tools), len(mcp.Tools))
	}
	for _, tool := range tools.Tools {
		if in, _ := tool.InputSchema.(map[string]any); in["type"] != "object" || tool.Description == "" || tool.Annotations == nil {
			t.Errorf("tool %s: input schema %v, description %q, annotations %v", tool.Name, in, tool.Description, tool.Annotations)
		}
	}

	res := callTool(t, cs, mcp.ToolCreateSession, map[string]any{
		"structure": string(mustRead(t, "1hpv.pdb")), "format": "pdb", "name": "protease"})
	s := structured[mcp.Session](t, res)
	if s.ID == "" || s.State != "ready" || s.Name != "protease" || s.Structure.Source != "upload" || s.Structure.Format != "pdb" {
		t.Fatalf("create_session = %+v", s)
	}
	// The REST API sees the same session, the user's.
	resp, body := d.call(t, "GET", "/api/sessions/"+s.ID, alice, nil)
	if v := decode[server.SessionView](t, body); resp.StatusCode != 200 || v.Owner != "alice" || v.Structure.Filename != "structure.pdb" {
		t.Errorf("GET the MCP session = %d %s", resp.StatusCode, body)
	}

	res = callTool(t, cs, mcp.ToolRunCommand, map[string]any{"session_id": s.ID, "command": "color red"})
	if out := structured[mcp.CommandResult](t, res); !out.OK || out.ID != s.ID {
		t.Errorf("run_command color red = %+v", out)
	}
	res = callTool(t, cs, mcp.ToolRunCommand, map[string]any{"session_id": s.ID, "command": "runscript x.py"})
	if text := toolText(res); !res.IsError || !strings.Contains(text, `"runscript x.py": runscript is never allowed`) || !strings.Contains(text, "command_refused") {
		t.Errorf("run_command runscript = error %v, %q; want a tool error naming the rule", res.IsError, text)
	}
	res = callTool(t, cs, mcp.ToolRunCommand, map[string]any{"session_id": s.ID, "command": "open nothere.pdb"})
	if out := structured[mcp.CommandResult](t, &gomcp.CallToolResult{StructuredContent: res.StructuredContent}); !res.IsError || out.OK || out.Error == nil {
		t.Errorf("run_command of a missing file = error %v, %+v; want ChimeraX's error as a tool error", res.IsError, out)
	}

	res = callTool(t, cs, mcp.ToolSnapshot, map[string]any{"session_id": s.ID, "width": 320, "height": 240})
	img, ok := res.Content[0].(*gomcp.ImageContent)
	if res.IsError || !ok || img.MIMEType != "image/png" {
		t.Fatalf("snapshot = %v %+v, want PNG image content", res.IsError, res.Content)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(img.Data)); err != nil || cfg.Width != 320 || cfg.Height != 240 {
		t.Errorf("snapshot PNG = %+v, %v; want 320×240", cfg, err)
	}

	logs := structured[mcp.Logs](t, callTool(t, cs, mcp.ToolSessionLogs, map[string]any{"session_id": s.ID, "lines": 5}))
	if logs.ID != s.ID || logs.State != "ready" || len(logs.Lines) > 5 {
		t.Errorf("session_logs = %+v", logs)
	}
	cp := structured[mcp.Checkpoint](t, callTool(t, cs, mcp.ToolCheckpointSession, map[string]any{"session_id": s.ID}))
	if cp.ID != s.ID || cp.SizeBytes == 0 {
		t.Errorf("checkpoint_session = %+v", cp)
	}
	read, err := cs.ReadResource(context.Background(), &gomcp.ReadResourceParams{URI: mcp.SessionURI(s.ID)})
	if err != nil || len(read.Contents) != 1 || !strings.Contains(read.Contents[0].Text, `"checkpoint_at"`) {
		t.Errorf("read %s = %+v, %v", mcp.SessionURI(s.ID), read, err)
	}

	// Bob sees nothing of alice's: not in his list, not by id.
	bcs := d.mustMCP(t, bob)
	if list := structured[mcp.SessionList](t, callTool(t, bcs, mcp.ToolListSessions, nil)); len(list.Sessions) != 0 {
		t.Errorf("bob's list_sessions = %+v, want none", list)
	}
	for _, tool := range []string{mcp.ToolRunCommand, mcp.ToolSnapshot, mcp.ToolSessionLogs, mcp.ToolCheckpointSession, mcp.ToolEndSession} {
		args := map[string]any{"session_id": s.ID}
		if tool == mcp.ToolRunCommand {
			args["command"] = "color blue"
		}
		res := callTool(t, bcs, tool, args)
		if !res.IsError || !strings.Contains(toolText(res), "session_not_found") {
			t.Errorf("bob's %s on alice's session = %v %q, want session_not_found", tool, res.IsError, toolText(res))
		}
	}
	if _, err := bcs.ReadResource(context.Background(), &gomcp.ReadResourceParams{URI: mcp.LogURI(s.ID)}); err == nil {
		t.Error("bob read alice's session log")
	}
	if list := structured[mcp.SessionList](t, callTool(t, cs, mcp.ToolListSessions, nil)); len(list.Sessions) != 1 || list.Sessions[0].ID != s.ID {
		t.Errorf("alice's list_sessions = %+v", list)
	}

	end := structured[mcp.Session](t, callTool(t, cs, mcp.ToolEndSession, map[string]any{"session_id": s.ID}))
	again := structured[mcp.Session](t, callTool(t, cs, mcp.ToolEndSession, map[string]any{"session_id": s.ID}))
	if end.State != "terminated" || end.TerminationReason != "deleted" || again.State != "terminated" {
		t.Errorf("end_session = %+v, then %+v; want terminated/deleted twice", end, again)
	}
}

// TestMCPAuth: no token or a wrong one is a real 401 at initialize; an
// MCP session belongs to its user.
func TestMCPAuth(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	bob := d.mustUser(t, "bob", false)
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	for _, token := range []string{"", "chx_wrong"} {
		req, _ := http.NewRequest("POST", d.URL+"/mcp", strings.NewReader(initialize))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, body := d.send(t, req, token)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" ||
			resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("initialize with token %q = %d %v %s, want a 401 problem", token, resp.StatusCode, resp.Header, body)
		}
		if _, err := d.mcpConnect(t, token, "", nil); err == nil {
			t.Errorf("the SDK's client connected with token %q", token)
		}
	}

	// Alice's MCP session id with bob's token: refused.
	req, _ := http.NewRequest("POST", d.URL+"/mcp", strings.NewReader(initialize))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, body := d.send(t, req, alice)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize = %d %v %s", resp.StatusCode, resp.Header, body)
	}
	req, _ = http.NewRequest("POST", d.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	if resp, body := d.send(t, req, bob); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob in alice's MCP session = %d %s, want 403", resp.StatusCode, body)
	}
}

// TestMCPProtocolVersions: every version the SDK speaks negotiates as
// asked, the 2026-07-28 one (stateless HTTP only) falling back to
// 2025-11-25 as the spec says.
func TestMCPProtocolVersions(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	for _, v := range []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", ""} {
		cs, err := d.mcpConnect(t, alice, v, nil)
		if err != nil {
			t.Errorf("connect asking for %q: %v", v, err)
			continue
		}
		want := v
		if v == "" {
			want = "2025-11-25"
		}
		if got := cs.InitializeResult().ProtocolVersion; got != want {
			t.Errorf("asking for %q negotiated %q, want %q", v, got, want)
		}
		if _, err := cs.ListTools(context.Background(), nil); err != nil {
			t.Errorf("tools/list under %q: %v", v, err)
		}
	}
}

// TestMCPHostAndOrigin: the REST API's Host check, and an Origin check,
// guard /mcp against DNS rebinding; one rule (http.allowed_hosts) decides.
func TestMCPHostAndOrigin(t *testing.T) {
	d := MustServe(t, options{server: func(c *server.Config) {
		c.AllowedOrigins = []string{"http://localhost:3000"}
		c.AllowedHosts = append(c.AllowedHosts, "chimerad.lab")
	}})
	alice := d.mustUser(t, "alice", false)
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	// With http.allowed_hosts "*", any Host passes, and no origin is the
	// daemon's own: only cors.allowed_origins.
	anyHost := MustServe(t, options{server: func(c *server.Config) { c.AllowedHosts = []string{"*"} }})
	carol := anyHost.mustUser(t, "carol", false)
	for origin, want := range map[string]int{"": 200, "http://evil.example": http.StatusForbidden} {
		req, _ := http.NewRequest("POST", anyHost.URL+"/mcp", strings.NewReader(initialize))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Host = "evil.example"
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if resp, body := anyHost.send(t, req, carol); resp.StatusCode != want {
			t.Errorf("allowed_hosts *: Host evil.example, Origin %q = %d %s, want %d", origin, resp.StatusCode, body, want)
		}
	}

	for _, c := range []struct {
		host, origin string
		status       int
	}{
		{"", "", 200},
		{"evil.example", "", http.StatusMisdirectedRequest},
		{"", "http://evil.example", http.StatusForbidden},
		{"", "null", http.StatusForbidden},
		{"", "http://localhost:3000", 200},
		{"", "http://" + strings.TrimPrefix(d.URL, "http://"), 200}, // the daemon's own
		{"chimerad.lab:8471", "", 200},                              // allowed, on a loopback connection
		{"chimerad.lab:8471", "http://chimerad.lab:8471", 200},      // and its own origin
		{"chimerad.lab:8471", "http://evil.example:8471", http.StatusForbidden},
	} {
		req, _ := http.NewRequest("POST", d.URL+"/mcp", strings.NewReader(initialize))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if c.host != "" {
			req.Host = c.host
		}
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		resp, body := d.send(t, req, alice)
		if resp.StatusCode != c.status {
			t.Errorf("Host %q Origin %q = %d %s, want %d", c.host, c.origin, resp.StatusCode, body, c.status)
		}
	}
	// A browser at an allowed origin may send MCP's headers and read the session id.
	req, _ := http.NewRequest("OPTIONS", d.URL+"/mcp", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, mcp-session-id, mcp-protocol-version")
	resp, _ := d.send(t, req, "")
	if h := resp.Header; resp.StatusCode != 204 || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Mcp-Session-Id") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Mcp-Protocol-Version") {
		t.Errorf("preflight = %d %v", resp.StatusCode, resp.Header)
	}
}

// TestMCPLimits: structure text goes through an upload's checks and the
// configured limit, snapshots through theirs, all as tool errors naming
// them; a body far over the limit is a 413.
func TestMCPLimits(t *testing.T) {
	d := MustServe(t, options{server: func(c *server.Config) {
		c.MCP.MaxStructureBytes = 100 << 10
		c.MCP.MaxSnapshotSide = 500
	}})
	alice := d.mustUser(t, "alice", false)
	cs := d.mustMCP(t, alice)
	pdb := string(mustRead(t, "1hpv.pdb"))
	for _, c := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"structure": pdb, "format": "pdb"}, "over the limit of 102400 bytes (mcp.max_structure_bytes)"},
		{map[string]any{"structure": "hello, world\n", "format": "pdb"}, "unsupported_format"},
		{map[string]any{"structure": pdb[:50000], "format": "sdf"}, "unsupported_format"},
		{map[string]any{"pdb_id": "not an id"}, "invalid_request"},
	} {
		res := callTool(t, cs, mcp.ToolCreateSession, c.args)
		if !res.IsError || !strings.Contains(toolText(res), c.want) {
			t.Errorf("create_session %.60v = %v %q, want a tool error with %q", c.args, res.IsError, toolText(res), c.want)
		}
	}
	if left := chimeraxtest.Children(d.Dir); len(left) > 0 {
		t.Errorf("refused creates left children %v", left)
	}
	s := structured[mcp.Session](t, callTool(t, cs, mcp.ToolCreateSession, map[string]any{"pdb_id": "1hpv"}))
	res := callTool(t, cs, mcp.ToolSnapshot, map[string]any{"session_id": s.ID, "width": 501})
	if !res.IsError || !strings.Contains(toolText(res), "500") {
		t.Errorf("snapshot 501 wide = %v %q, want a tool error naming 500", res.IsError, toolText(res))
	}
	res = callTool(t, cs, mcp.ToolSnapshot, map[string]any{"session_id": s.ID})
	img, _ := res.Content[0].(*gomcp.ImageContent)
	if cfg, err := png.DecodeConfig(bytes.NewReader(img.Data)); err != nil || cfg.Width != 500 || cfg.Height != 500 {
		t.Errorf("default snapshot under a 500 px limit = %+v, %v; want 500×500", cfg, err)
	}

	// Text past the request limit itself never reaches the tool: the
	// transport answers 413, which ends the SDK client's session.
	huge := strings.Repeat("ATOM  ", int(mcp.RequestLimit(100<<10)/6)+1)
	other := d.mustMCP(t, alice)
	if _, err := other.CallTool(context.Background(), &gomcp.CallToolParams{Name: mcp.ToolCreateSession, Arguments: map[string]any{"structure": huge, "format": "pdb"}}); err == nil || !strings.Contains(err.Error(), "Too Large") {
		t.Errorf("a message over the request limit = %v, want 413", err)
	}
}

// TestMCPActivity: MCP use counts as activity exactly as REST use does,
// and an idle MCP-created session is ended by the sweeper like any other.
func TestMCPActivity(t *testing.T) {
	d := MustServe(t, options{sv: func(c *chimerax.Config) {
		c.IdleTimeout = 3 * time.Second
		c.IdleWarning = 0
	}})
	alice := d.mustUser(t, "alice", false)
	cs := d.mustMCP(t, alice)
	s := structured[mcp.Session](t, callTool(t, cs, mcp.ToolCreateSession, map[string]any{"pdb_id": "1hpv"}))
	last := func() time.Time {
		_, body := d.call(t, "GET", "/api/sessions/"+s.ID, alice, nil)
		v := decode[server.SessionView](t, body)
		if v.LastActivityAt == nil {
			return time.Time{}
		}
		return *v.LastActivityAt
	}
	start := last()
	// Reads are not activity.
	callTool(t, cs, mcp.ToolListSessions, nil)
	callTool(t, cs, mcp.ToolSessionLogs, map[string]any{"session_id": s.ID})
	cs.ReadResource(context.Background(), &gomcp.ReadResourceParams{URI: mcp.SessionURI(s.ID)})
	if got := last(); !got.Equal(start) {
		t.Errorf("last activity after reads = %v, want %v", got, start)
	}
	// A command is.
	chimeraxtest.WaitFor(t, time.Second, "a later millisecond", func() bool {
		return time.Now().UTC().Truncate(time.Millisecond).After(start)
	})
	callTool(t, cs, mcp.ToolRunCommand, map[string]any{"session_id": s.ID, "command": "view"})
	if got := last(); !got.After(start) {
		t.Errorf("last activity after a command = %v, want after %v", got, start)
	}
	// Then nothing: the sweeper ends it.
	chimeraxtest.WaitFor(t, 15*time.Second, "ended idle", func() bool {
		_, body := d.call(t, "GET", "/api/sessions/"+s.ID, alice, nil)
		v := decode[server.SessionView](t, body)
		return v.State == "terminated" && v.TerminationReason == "idle_timeout"
	})
}

// syncBuffer is a log sink the daemon and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestMCPMetricsAndLog: MCP requests and tool calls are in /metrics, by
// tool and outcome, and in the log: the access line says which message,
// and each tool call has its own line.
func TestMCPMetricsAndLog(t *testing.T) {
	var logs syncBuffer
	logger := zerolog.New(&logs).Level(zerolog.InfoLevel)
	d := MustServe(t, options{logger: &logger})
	alice := d.mustUser(t, "alice", false)
	cs := d.mustMCP(t, alice)
	s := structured[mcp.Session](t, callTool(t, cs, mcp.ToolCreateSession, map[string]any{"pdb_id": "1hpv"}))
	callTool(t, cs, mcp.ToolRunCommand, map[string]any{"session_id": s.ID, "command": "runscript x.py"})
	callTool(t, cs, mcp.ToolRunCommand, map[string]any{"session_id": s.ID, "command": "color red"})
	callTool(t, cs, mcp.ToolRunCommand, map[string]any{"session_id": "nope", "command": "color red"})

	_, body := d.call(t, "GET", "/metrics", "", nil)
	for _, want := range []string{
		`chimerad_mcp_tool_calls_total{outcome="refused",tool="run_command"} 1`,
		`chimerad_mcp_tool_calls_total{outcome="ok",tool="run_command"} 1`,
		`chimerad_mcp_tool_calls_total{outcome="error",tool="run_command"} 1`,
		`chimerad_mcp_tool_calls_total{outcome="ok",tool="create_session"} 1`,
		`chimerad_mcp_tool_calls_total{outcome="failed",tool="snapshot"} 0`,
		`chimerad_mcp_requests_total{method="tools/call",outcome="ok"} 4`,
		`chimerad_mcp_requests_total{method="initialize",outcome="ok"} 1`,
		`chimerad_mcp_tool_call_duration_seconds_count{tool="run_command"} 3`,
		`chimerad_http_requests_total{code="200",method="POST",route="/mcp"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	log := logs.String()
	for _, re := range []string{
		`"route":"/mcp".*"user":"alice","mcp_method":"tools/call","mcp_tool":"run_command"`,
		`"route":"/mcp".*"mcp_method":"initialize"`,
		`"user":"alice","tool":"run_command","session_id":"` + s.ID + `","outcome":"refused","code":"command_refused".*"mcp tool call"`,
		`"tool":"create_session","session_id":"` + s.ID + `","outcome":"ok"`,
	} {
		if !regexp.MustCompile(re).MatchString(log) {
			t.Errorf("log lacks a line matching %s", re)
		}
	}
}

// TestMCPResourceUpdates: a subscriber to a session's resources is told of
// its events on the MCP event stream (GET /mcp), which outlives the
// server's write timeout and ends at Shutdown.
func TestMCPResourceUpdates(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	s := d.mustSession(t, alice, "1hpv.pdb")

	srv := d.Server.HTTPServer(false)
	srv.ReadTimeout, srv.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(srv, ln)
	short := &daemon{URL: "http://" + ln.Addr().String()}

	updated := make(chan string, 16)
	cs, err := short.mcpConnect(t, alice, "", &gomcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *gomcp.ResourceUpdatedNotificationRequest) {
			updated <- req.Params.URI
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.Subscribe(context.Background(), &gomcp.SubscribeParams{URI: mcp.LogURI(s.ID)}); err != nil {
		t.Fatal(err)
	}
	if err := cs.Subscribe(context.Background(), &gomcp.SubscribeParams{URI: mcp.SessionURI(s.ID)}); err != nil {
		t.Fatal(err)
	}
	next := func(what string) map[string]bool {
		t.Helper()
		got := map[string]bool{}
		deadline := time.After(10 * time.Second)
		for len(got) < 2 {
			select {
			case uri := <-updated:
				got[uri] = true
			case <-deadline:
				t.Fatalf("%s: updates %v, want both resources", what, got)
			}
		}
		return got
	}
	d.command(t, alice, s.ID, "color red") // by REST: the agent hears of it
	next("after a command")

	// Past the server's write timeout, the stream still carries updates.
	opened := time.Now()
	chimeraxtest.WaitFor(t, 5*time.Second, "past the write timeout", func() bool {
		return time.Since(opened) > 3*srv.WriteTimeout
	})
	d.command(t, alice, s.ID, "view")
	next("after the write timeout")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with an open MCP event stream = %v", err)
	}
}
