package mcp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
)

// Config holds the MCP server's settings.
type Config struct {
	// Version is chimerad's version, told to clients at initialization.
	Version string
	// MaxStructureBytes caps the structure text create_session takes.
	MaxStructureBytes int64
	// MaxSnapshotSide caps a snapshot's width and height, in pixels.
	MaxSnapshotSide int
	// Allow is the command allow-list, named in run_command's description;
	// nil when it is not known here (stdio: the daemon decides).
	Allow []string
	// SessionTimeout closes an MCP session (not a chimerad session) that
	// has had no request for that long; 0 keeps it until the client ends it.
	SessionTimeout time.Duration
	// Observer, if set, is told of every request and tool call.
	Observer Observer
	// Logger gets one line per tool call, and the SDK's warnings.
	Logger zerolog.Logger
}

// DefaultConfig returns the MCP server's defaults.
func DefaultConfig() Config {
	return Config{
		Version:           "dev",
		MaxStructureBytes: 16 << 20,
		MaxSnapshotSide:   2048,
		SessionTimeout:    time.Hour,
		Logger:            zerolog.Nop(),
	}
}

// RequestLimit is the largest MCP message the server reads for a
// structure-text limit of maxStructure bytes: room for the text twice over
// (JSON escapes it) and the rest of the message, so that text somewhat
// over the limit still reaches create_session and is refused by name.
func RequestLimit(maxStructure int64) int64 { return 2*maxStructure + 1<<20 }

// Server is chimerad's MCP server: its tools and resources over the
// Backends of the users that call it.
type Server struct {
	cfg      Config
	backends func(user string) Backend
	srv      *gomcp.Server
	watches  *watches
}

// New returns an MCP server whose calls go to backends(user), user being
// the name the request's bearer token resolved to (HTTP), or "" when the
// transport is the user's own (stdio, where the Backend carries the token).
func New(cfg Config, backends func(user string) Backend) *Server {
	s := &Server{cfg: cfg, backends: backends}
	s.srv = gomcp.NewServer(&gomcp.Implementation{Name: "chimerad", Title: "chimerad: UCSF ChimeraX sessions", Version: cfg.Version}, &gomcp.ServerOptions{
		Instructions: instructions,
		Logger:       slog.New(sdkLog{log: cfg.Logger}),
		// Tools and resources are fixed; resources can be subscribed to.
		// No logging capability: events are resources (see the package doc).
		Capabilities: &gomcp.ServerCapabilities{
			Tools:     &gomcp.ToolCapabilities{},
			Resources: &gomcp.ResourceCapabilities{Subscribe: true},
		},
		SubscribeHandler:   s.subscribe,
		UnsubscribeHandler: s.unsubscribe,
	})
	s.watches = newWatches(s.srv, cfg.Logger)
	s.addTools()
	s.addResources()
	s.srv.AddReceivingMiddleware(s.observe, s.listResources)
	return s
}

// instructions tell an agent how the tools fit together.
const instructions = `chimerad runs UCSF ChimeraX sessions for you on this machine, as your chimerad user.
Start with create_session (a PDB id such as 1hpv, or the text of a structure file with its format), then work in it with run_command (one ChimeraX command line at a time; commands outside the allow-list are refused and the error names the rule) and look at the result with snapshot.
A session ends after a while without use (its idle_expires_at), so check list_sessions before assuming an old session still exists; checkpoint_session saves its whole state. Call end_session when you are done.
Each session's record and log are also resources (chimerad://sessions/{id} and chimerad://sessions/{id}/log) that you can read or subscribe to.`

// Handler serves MCP's Streamable HTTP transport. The caller authenticates
// each request first; user returns the name it was authenticated as, ""
// refusing it with 401. Each MCP session is tied to its user: a request of
// another user naming it is refused.
func (s *Server) Handler(user func(*http.Request) string) http.Handler {
	h := gomcp.NewStreamableHTTPHandler(func(*http.Request) *gomcp.Server { return s.srv }, &gomcp.StreamableHTTPOptions{
		SessionTimeout: s.cfg.SessionTimeout,
		// The daemon's Host check (http.allowed_hosts) decides, before this
		// handler, so that one rule answers every path.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        RequestLimit(s.cfg.MaxStructureBytes),
		Logger:                     slog.New(sdkLog{log: s.cfg.Logger}),
	})
	verify := func(_ context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		name := user(r)
		if name == "" {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: name}, nil
	}
	// chimerad's tokens do not expire (they are revoked): no Expiration.
	return auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(h)
}

// Serve serves one MCP session of newline-delimited JSON over in and out
// (a stdio client) until in ends or ctx does.
func (s *Server) Serve(ctx context.Context, in io.ReadCloser, out io.WriteCloser) error {
	t := &gomcp.IOTransport{Reader: in, Writer: out, MaxLineLength: int(RequestLimit(s.cfg.MaxStructureBytes))}
	err := s.srv.Run(ctx, t)
	if errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// sdkLog is a slog handler that passes the SDK's warnings and errors to the
// injected zerolog logger.
type sdkLog struct {
	log   zerolog.Logger
	attrs []slog.Attr
}

func (h sdkLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h sdkLog) Handle(_ context.Context, r slog.Record) error {
	ev := h.log.Warn()
	if r.Level >= slog.LevelError {
		ev = h.log.Error()
	}
	for _, a := range h.attrs {
		ev.Str(a.Key, a.Value.String())
	}
	r.Attrs(func(a slog.Attr) bool {
		ev.Str(a.Key, a.Value.String())
		return true
	})
	ev.Str("component", "mcp").Msg(r.Message)
	return nil
}

func (h sdkLog) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return h
}

func (h sdkLog) WithGroup(string) slog.Handler { return h }
