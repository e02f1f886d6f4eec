//go:build linux

package cmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chimerad/chimerad/server/mcp"
)

// mcpStdio starts `chimerad mcp` with args and env as a desktop client
// would, and connects the SDK's client to it over its stdin and stdout,
// asking for protocol version ("" for the SDK's latest). Closing the client
// ends the process.
func mcpStdio(t *testing.T, version string, args []string, env []string, opts *gomcp.ClientOptions) (*gomcp.ClientSession, *lockedBuffer, error) {
	t.Helper()
	c := exec.Command(binary, append([]string{"mcp"}, args...)...)
	c.Env = append(testEnv(t), env...)
	stderr := &lockedBuffer{} // monitoring_e2e_test.go
	c.Stderr = stderr
	c.WaitDelay = 5 * time.Second
	t.Cleanup(func() {
		if c.Process != nil {
			c.Process.Kill() // a no-op once the client has ended it
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := gomcp.NewClient(&gomcp.Implementation{Name: "chimerad-test", Version: "1"}, opts)
	cs, err := client.Connect(ctx, &gomcp.CommandTransport{Command: c}, &gomcp.ClientSessionOptions{ProtocolVersion: version})
	if err == nil {
		t.Cleanup(func() {
			if err := cs.Close(); err != nil {
				t.Errorf("close chimerad mcp: %v (%s)", err, stderr)
			}
		})
	}
	return cs, stderr, err
}

func addUser(t *testing.T, dir, name string) string {
	t.Helper()
	token, stderr, err := chimerad(t, dir, "users", "add", name)
	if err != nil {
		t.Fatalf("users add %s: %v (%s)", name, err, stderr)
	}
	return strings.TrimSpace(token)
}

func stdioCall(t *testing.T, cs *gomcp.ClientSession, name string, args map[string]any) *gomcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &gomcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func resultText(res *gomcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*gomcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func structuredAs[T any](t *testing.T, res *gomcp.CallToolResult) T {
	t.Helper()
	var v T
	if res.IsError {
		t.Fatalf("tool error: %s", resultText(res))
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// TestMCPStdio: `chimerad mcp`, started as a desktop client starts an MCP
// server, drives the real daemon's sessions as the token's user, through
// the REST API: the same tools, policy and isolation as /mcp.
func TestMCPStdio(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	alice := addUser(t, dir, "alice")
	bob := addUser(t, dir, "bob")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(alice+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// 2025-11-25, as desktop clients speak it: resources/subscribe answers
	// once the subscription holds. (Under 2026-07-28 go-sdk's Subscribe
	// returns before the server has it.)
	updated := make(chan string, 16)
	cs, stderr, err := mcpStdio(t, "2025-11-25", []string{"--url", d.url, "--token-file", tokenFile}, nil, &gomcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *gomcp.ResourceUpdatedNotificationRequest) {
			updated <- req.Params.URI
		},
	})
	if err != nil {
		t.Fatalf("connect to chimerad mcp: %v\n%s", err, stderr)
	}
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil || len(tools.Tools) != len(mcp.Tools) {
		t.Fatalf("tools/list = %v, %v", tools, err)
	}
	for _, tool := range tools.Tools {
		if in, _ := tool.InputSchema.(map[string]any); in["type"] != "object" {
			t.Errorf("%s: input schema %v", tool.Name, in)
		}
	}

	pdb, err := os.ReadFile("../testdata/1hpv.pdb")
	if err != nil {
		t.Fatal(err)
	}
	s := structuredAs[mcp.Session](t, stdioCall(t, cs, mcp.ToolCreateSession, map[string]any{
		"structure": string(pdb), "format": "pdb", "name": "stdio"}))
	if s.State != "ready" || s.Name != "stdio" || s.Structure.Source != "upload" || s.Structure.Filename != "structure.pdb" {
		t.Fatalf("create_session = %+v", s)
	}
	code, body := d.get(t, "/api/sessions/"+s.ID, alice)
	if code != 200 || !strings.Contains(string(body), `"owner":"alice"`) {
		t.Errorf("the session by REST = %d %s", code, body)
	}

	if err := cs.Subscribe(context.Background(), &gomcp.SubscribeParams{URI: mcp.LogURI(s.ID)}); err != nil {
		t.Fatal(err)
	}
	if out := structuredAs[mcp.CommandResult](t, stdioCall(t, cs, mcp.ToolRunCommand, map[string]any{"session_id": s.ID, "command": "color red"})); !out.OK || out.ID != s.ID {
		t.Errorf("color red = %+v", out)
	}
	select {
	case uri := <-updated:
		if uri != mcp.LogURI(s.ID) {
			t.Errorf("updated %s", uri)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("no resource update after a command; chimerad mcp said:\n%s", stderr)
	}
	res := stdioCall(t, cs, mcp.ToolRunCommand, map[string]any{"session_id": s.ID, "command": "runscript x.py"})
	if text := resultText(res); !res.IsError || !strings.Contains(text, "runscript is never allowed") || !strings.Contains(text, "command_refused") {
		t.Errorf("runscript = %v %q, want a tool error naming the rule", res.IsError, text)
	}
	res = stdioCall(t, cs, mcp.ToolSnapshot, map[string]any{"session_id": s.ID, "width": 200, "height": 100})
	img, ok := res.Content[0].(*gomcp.ImageContent)
	if !ok || img.MIMEType != "image/png" {
		t.Fatalf("snapshot = %+v", res.Content)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(img.Data)); err != nil || cfg.Width != 200 || cfg.Height != 100 {
		t.Errorf("snapshot PNG = %+v, %v", cfg, err)
	}
	if logs := structuredAs[mcp.Logs](t, stdioCall(t, cs, mcp.ToolSessionLogs, map[string]any{"session_id": s.ID})); logs.ID != s.ID || logs.State != "ready" {
		t.Errorf("session_logs = %+v", logs)
	}
	if cp := structuredAs[mcp.Checkpoint](t, stdioCall(t, cs, mcp.ToolCheckpointSession, map[string]any{"session_id": s.ID})); cp.SizeBytes == 0 || cp.ID != s.ID {
		t.Errorf("checkpoint_session = %+v", cp)
	}
	res = stdioCall(t, cs, mcp.ToolCreateSession, map[string]any{"structure": "not a structure\n", "format": "mol2"})
	if !res.IsError || !strings.Contains(resultText(res), "unsupported_format") {
		t.Errorf("create from junk = %v %q, want unsupported_format", res.IsError, resultText(res))
	}

	// Bob, by $CHIMERAD_TOKEN and the configured http.listen, sees none of it.
	listen := strings.TrimPrefix(d.url, "http://")
	bcs, stderr, err := mcpStdio(t, "", nil, []string{"CHIMERAD_TOKEN=" + bob, "CHIMERAD_HTTP_LISTEN=" + listen}, nil)
	if err != nil {
		t.Fatalf("connect as bob: %v\n%s", err, stderr)
	}
	if list := structuredAs[mcp.SessionList](t, stdioCall(t, bcs, mcp.ToolListSessions, nil)); len(list.Sessions) != 0 {
		t.Errorf("bob's list = %+v", list)
	}
	res = stdioCall(t, bcs, mcp.ToolEndSession, map[string]any{"session_id": s.ID})
	if !res.IsError || !strings.Contains(resultText(res), "session_not_found") {
		t.Errorf("bob ending alice's session = %v %q", res.IsError, resultText(res))
	}

	end := structuredAs[mcp.Session](t, stdioCall(t, cs, mcp.ToolEndSession, map[string]any{"session_id": s.ID}))
	if end.State != "terminated" || end.TerminationReason != "deleted" {
		t.Errorf("end_session = %+v", end)
	}
}

// TestMCPStdioToken: a wrong token stops `chimerad mcp` at once, saying
// so; no token at all says where to put one.
func TestMCPStdioToken(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	if _, stderr, err := mcpStdio(t, "", []string{"--url", d.url}, []string{"CHIMERAD_TOKEN=chx_wrong"}, nil); err == nil ||
		!strings.Contains(stderr.String(), "refuses the token") {
		t.Errorf("wrong token: connect %v, stderr %q; want a failure naming the token", err, stderr)
	}
	if _, stderr, err := mcpStdio(t, "", []string{"--url", d.url}, nil, nil); err == nil || !strings.Contains(stderr.String(), "--token-file") {
		t.Errorf("no token: connect %v, stderr %q; want a failure naming --token-file", err, stderr)
	}
	if _, stderr, err := mcpStdio(t, "", []string{"--url", "http://127.0.0.1:1"}, []string{"CHIMERAD_TOKEN=chx_x"}, nil); err == nil ||
		!strings.Contains(stderr.String(), "does not answer at http://127.0.0.1:1") {
		t.Errorf("no daemon: connect %v, stderr %q", err, stderr)
	}
}
