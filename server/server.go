// Package server is chimerad's HTTP face: the Gin routes of the REST API,
// their handlers and middleware (authentication, request ids, access logs,
// host and CORS checks), the one table from errors to HTTP status with
// RFC 9457 problem bodies, and the admin endpoints reached over the Unix
// socket.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rs/zerolog"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/store"
)

// Supervisor is what the server needs of the session supervisor;
// *chimerax.Supervisor provides it.
type Supervisor interface {
	Create(ctx context.Context, req chimerax.CreateRequest) (chimerax.Info, error)
	Stop(ctx context.Context, id string, reason store.Reason) (chimerax.Info, error)
	Restart(ctx context.Context, id string) (chimerax.Info, error)
	Session(ctx context.Context, id string) (chimerax.Info, error)
	Sessions(ctx context.Context, f store.SessionFilter) ([]chimerax.Info, string, error)
	Touch(ctx context.Context, id string) (chimerax.Info, error)
	// TouchRecord is Touch on a session just read, without reading it again.
	TouchRecord(in chimerax.Info) (chimerax.Info, error)
	Engine() chimerax.Engine
	Sandboxed() bool
	Limits() chimerax.Limits
	Status(user string) chimerax.Status
	Capabilities() chimerax.Capabilities
	// Public rewrites a text for a non-admin: no path, port or pid.
	Public(text string) string
	Update(ctx context.Context, id string, u chimerax.SessionUpdate) (chimerax.Info, error)
	Workspace
	Monitor // monitoring.go
}

// Users is what the server needs of the user store; *store.DB provides it.
type Users interface {
	UserByToken(ctx context.Context, token string) (store.User, error)
	User(ctx context.Context, name string) (store.User, error)
	Users(ctx context.Context) ([]store.User, error)
	CreateUser(ctx context.Context, name string, admin bool) (store.User, string, error)
	DeleteUser(ctx context.Context, name string) error
	RotateToken(ctx context.Context, name string) (string, error)
}

// Config holds the server's settings.
type Config struct {
	// Version is chimerad's version, shown by /healthz.
	Version string
	// AllowedHosts are the Host header values (without port) the API
	// answers; "*" allows any. Guards against DNS rebinding.
	AllowedHosts []string
	// AllowedOrigins may call the API from a browser (CORS); none by default.
	AllowedOrigins []string
	// MaxUploadBytes caps a structure upload.
	MaxUploadBytes int64
	// MaxUncompressedBytes caps what a gzip upload inflates to.
	MaxUncompressedBytes int64
	// SpoolDir receives uploads while they are read and checked.
	SpoolDir string
	// EventsHeartbeat is how often an idle event stream gets a comment line.
	EventsHeartbeat time.Duration
	// Metrics, if set, are served on /metrics and count HTTP requests.
	Metrics *Metrics
	// MetricsRequireAuth makes /metrics take an admin token.
	MetricsRequireAuth bool
	// URLKey signs the short-lived URLs a browser uses for snapshots,
	// events and files (browser.go); without one, none are made.
	URLKey []byte
	// SignedURLLifetime is how long a signed URL works.
	SignedURLLifetime time.Duration
	// MCP configures the MCP server at /mcp (mcp.go).
	MCP MCPConfig
	// MaxConnsPerClient caps the connections one client address holds at
	// once on the API listener (LimitListener); 0 means no cap.
	MaxConnsPerClient int
	// MinUploadRate is the slowest an upload may arrive, in bytes per
	// second: a request body of n bytes has BodyTimeout plus n at this
	// rate.
	MinUploadRate int64
	// BodyTimeout is what any request body has to arrive (a minute).
	BodyTimeout time.Duration
}

// DefaultConfig returns the server's defaults.
func DefaultConfig() Config {
	return Config{
		Version:              "dev",
		AllowedHosts:         []string{"localhost", "127.0.0.1", "::1"},
		MaxUploadBytes:       256 << 20,
		MaxUncompressedBytes: chimerax.DefaultConfig("").MaxUncompressedBytes,
		SpoolDir:             os.TempDir(),
		EventsHeartbeat:      15 * time.Second,
		SignedURLLifetime:    10 * time.Minute,
		MCP:                  DefaultMCPConfig(),
		MaxConnsPerClient:    64,
		MinUploadRate:        64 << 10,
		BodyTimeout:          time.Minute,
	}
}

// Server serves the API on TCP listeners and the admin Unix socket.
type Server struct {
	cfg    Config
	sv     Supervisor
	users  Users
	logger zerolog.Logger
	start  time.Time
	engine *gin.Engine
	ids    *requestIDs // middleware.go

	streamsDone chan struct{} // closed when the HTTP servers shut down
	endStreams  sync.Once
}

// New returns a server for sv and users.
func New(cfg Config, sv Supervisor, users Users, logger zerolog.Logger) *Server {
	gin.SetMode(gin.ReleaseMode)
	// The supervisor bounds the uncompressed limit by memory; an upload
	// spooled here meets the same bound.
	if c := sv.Capabilities().MaxUncompressedBytes; c > 0 && c < cfg.MaxUncompressedBytes {
		cfg.MaxUncompressedBytes = c
	}
	s := &Server{cfg: cfg, sv: sv, users: users, logger: logger, start: time.Now(), ids: newRequestIDs()}
	s.streamsDone = make(chan struct{})
	s.engine = s.routes()
	return s
}

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.engine }

// socketKey marks a request that arrived on the admin Unix socket.
type socketKey struct{}

// HTTPServer returns an http.Server for the API with sane timeouts. With
// admin set, every request on it is an admin request: use it only for the
// Unix socket, whose file mode guards it.
func (s *Server) HTTPServer(admin bool) *http.Server {
	srv := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: 10 * time.Second,
		// A body has BodyTimeout, and more by its size at MinUploadRate
		// (bodyDeadline). A create that waits for ChimeraX must fit in
		// WriteTimeout.
		ReadTimeout:    s.cfg.BodyTimeout,
		WriteTimeout:   10 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       nil,
	}
	// Shutdown waits for handlers; event streams would never end on their own.
	srv.RegisterOnShutdown(func() { s.endStreams.Do(func() { close(s.streamsDone) }) })
	if admin {
		srv.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, socketKey{}, true)
		}
	}
	return srv
}

// Serve serves the API on ln until Shutdown; see HTTPServer for admin.
func Serve(srv *http.Server, ln net.Listener) error {
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("server: %w", err)
}
