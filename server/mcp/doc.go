// Package mcp is chimerad's Model Context Protocol face: the tools and
// resources through which an AI agent (any MCP client) drives ChimeraX
// sessions as one chimerad user, under that user's command policy, limits
// and idle ends.
//
// The tools, each with an input schema, a description an agent can act on
// and annotations (read-only, destructive, idempotent):
//
//	list_sessions       the user's sessions, newest first
//	create_session      a session from a PDB id, or structure text and its format
//	run_command         one ChimeraX command line, checked by the command policy
//	snapshot            a PNG of the session's view, as image content
//	session_logs        the tail of the session's ChimeraX output
//	checkpoint_session  save the whole ChimeraX state
//	end_session         end the session
//
// Every result is bounded in size. A call chimerad refuses (a refused
// command, a session that is not the user's, text over a limit) is a tool
// error whose text is the REST API's problem sentence and code, so that the
// agent can correct itself; protocol errors are kept for protocol mistakes.
//
// Each session's record and its log are resources,
// chimerad://sessions/{id} and chimerad://sessions/{id}/log, and a client
// that subscribes to them is sent notifications/resources/updated whenever
// the session's events say they changed (a command ran, its state changed, a
// checkpoint was saved, an idle warning). Events are resources rather than
// progress or log notifications during commands because ChimeraX answers a
// command only once it has run: there is nothing to stream while it runs, and
// the command's log comes back in run_command's result. Resources are
// read when the agent wants them, the same over stdio and HTTP, bounded, and
// reading them is not activity, exactly as reading the REST API is not.
// (MCP's logging notifications are also deprecated from protocol 2026-07-28.)
//
// The package knows nothing of the supervisor: it calls a Backend acting for
// the request's user. The daemon serves it at /mcp over Streamable HTTP with
// a Backend over its supervisor (package server); `chimerad mcp` serves it
// over stdio with a Backend over the daemon's REST API (package cmd).
package mcp
