package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Observer is told of every MCP request and tool call; chimerad's metrics
// provide it.
type Observer interface {
	// MCPRequest counts one request or notification by its method (one of
	// Methods) and whether it succeeded (a tool error is a success here).
	MCPRequest(method string, ok bool)
	// MCPToolCall counts one tool call by tool (one of Tools, or
	// "unknown") and outcome, with its duration.
	MCPToolCall(tool string, outcome Outcome, d time.Duration)
}

// Outcome is how a tool call ended.
type Outcome string

// The outcomes of a tool call.
const (
	// OutcomeOK: the tool did what it was asked.
	OutcomeOK Outcome = "ok"
	// OutcomeRefused: the command policy refused the command line.
	OutcomeRefused Outcome = "refused"
	// OutcomeError: a mistake the agent can correct (bad arguments, a
	// session not found or not live, a limit, an error ChimeraX reported).
	OutcomeError Outcome = "error"
	// OutcomeFailed: chimerad or ChimeraX failed (a 5xx of the REST API).
	OutcomeFailed Outcome = "failed"
)

// Outcomes are every Outcome.
var Outcomes = []Outcome{OutcomeOK, OutcomeRefused, OutcomeError, OutcomeFailed}

// Methods are the MCP methods counted by name; any other counts as
// "other", so that clients cannot make new metric series.
var Methods = []string{
	"initialize", "ping", "server/discover", "tools/list", "tools/call",
	"resources/list", "resources/templates/list", "resources/read",
	"resources/subscribe", "resources/unsubscribe", "logging/setLevel",
	"notifications/initialized", "notifications/cancelled", "other",
}

// MethodLabel is method as Observer is told it.
func MethodLabel(method string) string {
	if slices.Contains(Methods, method) {
		return method
	}
	return "other"
}

// observe counts every request, and counts and logs every tool call. A
// panic in a handler (ours or the SDK's) becomes an internal error of that
// request, never the end of the daemon.
func (s *Server) observe(next gomcp.MethodHandler) gomcp.MethodHandler {
	return func(ctx context.Context, method string, req gomcp.Request) (res gomcp.Result, err error) {
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				s.cfg.Logger.Error().Str("method", method).Str("user", userOf(req.GetExtra())).
					Str("panic", fmt.Sprint(v)).Bytes("stack", debug.Stack()).Msg("mcp request panicked")
				res, err = nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "internal error"}
			}
			s.observed(method, req, res, err, start)
		}()
		return next(ctx, method, req)
	}
}

// observed counts a request, and a tool call.
func (s *Server) observed(method string, req gomcp.Request, res gomcp.Result, err error, start time.Time) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.MCPRequest(MethodLabel(method), err == nil)
	}
	if call, ok := req.(*gomcp.CallToolRequest); ok && method == "tools/call" {
		s.toolCalled(call, res, err, time.Since(start))
	}
}

// toolCalled counts a tool call and writes its log line: who, which tool,
// on which session, how it ended.
func (s *Server) toolCalled(req *gomcp.CallToolRequest, res gomcp.Result, err error, d time.Duration) {
	tool := req.Params.Name
	if !slices.Contains(Tools, tool) {
		tool = "unknown"
	}
	outcome, code := outcomeOf(res, err)
	if s.cfg.Observer != nil {
		s.cfg.Observer.MCPToolCall(tool, outcome, d)
	}
	var args struct {
		SessionID string `json:"session_id"`
	}
	json.Unmarshal(req.Params.Arguments, &args)
	if r, ok := res.(*gomcp.CallToolResult); ok && args.SessionID == "" && r.StructuredContent != nil {
		b, _ := json.Marshal(r.StructuredContent)
		json.Unmarshal(b, &struct {
			ID *string `json:"id"`
		}{&args.SessionID})
	}
	ev := s.cfg.Logger.Info()
	if outcome == OutcomeFailed {
		ev = s.cfg.Logger.Warn()
	}
	ev.Str("user", userOf(req.Extra)).Str("tool", tool).Str("session_id", args.SessionID).
		Str("outcome", string(outcome)).Str("code", code).Dur("duration_ms", d).Msg("mcp tool call")
}

// outcomeOf classifies a tool call's result, with the problem code of an
// error.
func outcomeOf(res gomcp.Result, err error) (Outcome, string) {
	if err != nil {
		var je *jsonrpc.Error
		if errors.As(err, &je) && je.Code == jsonrpc.CodeInvalidParams {
			return OutcomeError, "invalid_params" // e.g. an unknown tool
		}
		return OutcomeFailed, "protocol_error"
	}
	r, ok := res.(*gomcp.CallToolResult)
	if !ok || !r.IsError {
		return OutcomeOK, ""
	}
	var e *Error
	switch terr := r.GetError(); {
	case terr == nil:
		return OutcomeError, "chimerax_error" // ChimeraX reported an error
	case !errors.As(terr, &e):
		return OutcomeError, "invalid_arguments" // the SDK's schema check
	case e.Code == "command_refused":
		return OutcomeRefused, e.Code
	case e.Status >= http.StatusInternalServerError:
		return OutcomeFailed, e.Code
	default:
		return OutcomeError, e.Code
	}
}
