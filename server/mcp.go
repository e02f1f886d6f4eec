package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/server/mcp"
	"github.com/chimerad/chimerad/store"
)

// MCPConfig configures the MCP server at /mcp (package server/mcp).
type MCPConfig struct {
	// Enabled serves MCP at /mcp.
	Enabled bool
	// MaxStructureBytes caps the structure text create_session takes; it
	// must not exceed Config.MaxUploadBytes.
	MaxStructureBytes int64
	// MaxSnapshotSide caps a snapshot's width and height, in pixels (at
	// most chimerax.MaxSnapshotSide).
	MaxSnapshotSide int
	// SessionTimeout closes an MCP session (the protocol's, not a
	// chimerad session) without a request for that long; 0 never.
	SessionTimeout time.Duration
	// Allow is the command allow-list, for run_command's description.
	Allow []string
}

// DefaultMCPConfig returns MCP's defaults: on, with the supervisor's
// default allow-list.
func DefaultMCPConfig() MCPConfig {
	d := mcp.DefaultConfig()
	return MCPConfig{
		Enabled:           true,
		MaxStructureBytes: d.MaxStructureBytes,
		MaxSnapshotSide:   d.MaxSnapshotSide,
		SessionTimeout:    d.SessionTimeout,
		Allow:             chimerax.DefaultConfig("").Allow,
	}
}

// Keys of what /mcp tells the access log.
const (
	mcpMethodKey = "mcp_method"
	mcpToolKey   = "mcp_tool"
)

// mcpUserKey carries the authenticated user from Gin to the MCP handler.
type mcpUserKey struct{}

// serveMCP returns the handler of /mcp: MCP's Streamable HTTP transport
// (POST, GET for the server's event stream, DELETE to end an MCP
// session), behind authenticate and the Host check like every API path,
// and an Origin check the MCP spec asks for. Tool calls act as the token's
// user, on that user's sessions only (admins included).
func (s *Server) serveMCP() gin.HandlerFunc {
	cfg := mcp.DefaultConfig()
	cfg.Version = s.cfg.Version
	cfg.MaxStructureBytes = s.cfg.MCP.MaxStructureBytes
	cfg.MaxSnapshotSide = s.cfg.MCP.MaxSnapshotSide
	cfg.SessionTimeout = s.cfg.MCP.SessionTimeout
	cfg.Allow = s.cfg.MCP.Allow
	cfg.Logger = s.logger
	if s.cfg.Metrics != nil {
		cfg.Observer = s.cfg.Metrics
	}
	srv := mcp.New(cfg, func(user string) mcp.Backend { return mcpBackend{s: s, user: user} })
	h := srv.Handler(func(r *http.Request) string {
		name, _ := r.Context().Value(mcpUserKey{}).(string)
		return name
	})
	return func(c *gin.Context) {
		if err := s.checkOrigin(c); err != nil {
			s.fail(c, err)
			return
		}
		ctx := context.WithValue(c.Request.Context(), mcpUserKey{}, caller(c).Name)
		if c.Request.Method == http.MethodGet {
			// The server's event stream lasts as long as the MCP session:
			// Shutdown ends it, as it ends the REST event streams.
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			go func() {
				select {
				case <-s.streamsDone:
					cancel()
				case <-ctx.Done():
				}
			}()
		}
		var head *headReader
		if c.Request.Body != nil {
			head = &headReader{ReadCloser: c.Request.Body, max: 64 << 10}
			c.Request.Body = head
		}
		w := &streamWriter{ResponseWriter: c.Writer, rc: http.NewResponseController(c.Writer)}
		h.ServeHTTP(w, c.Request.WithContext(ctx))
		if head != nil {
			if method, tool := rpcMethod(head.head); method != "" {
				c.Set(mcpMethodKey, method)
				c.Set(mcpToolKey, tool)
			}
		}
	}
}

// checkOrigin refuses a browser's request to /mcp from an origin that is
// neither in cors.allowed_origins nor the daemon's own, with 403 as the
// MCP spec asks (against DNS rebinding, with the Host check). The daemon's
// own is the request's Host, when http.allowed_hosts names it (not "*").
func (s *Server) checkOrigin(c *gin.Context) error {
	origin := c.GetHeader("Origin")
	if origin == "" || slices.Contains(s.cfg.AllowedOrigins, origin) {
		return nil
	}
	u, err := url.Parse(origin)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, c.Request.Host) &&
		slices.ContainsFunc(s.cfg.AllowedHosts, func(h string) bool { return strings.EqualFold(strings.Trim(h, "[]"), u.Hostname()) }) {
		return nil
	}
	return fmt.Errorf("%w: origin %q is neither in cors.allowed_origins nor this daemon's own", errOriginNotAllowed, truncate(origin, 100))
}

// streamWriter gives each write to an MCP response its own deadline, so
// that the server's event stream and long tool calls outlive the server's
// WriteTimeout while a client that stops reading is still cut off.
type streamWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
	return w.ResponseWriter.Write(p)
}

func (w *streamWriter) Flush() {
	w.rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
	w.rc.Flush()
}

func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headReader keeps the first max bytes read of a request body.
type headReader struct {
	io.ReadCloser
	head []byte
	max  int
}

func (h *headReader) Read(p []byte) (int, error) {
	n, err := h.ReadCloser.Read(p)
	if room := h.max - len(h.head); room > 0 {
		h.head = append(h.head, p[:min(n, room)]...)
	}
	return n, err
}

// rpcMethod reads the JSON-RPC method of an MCP message from its first
// bytes, and for tools/call the tool, for the access log: "batch" for a
// batch, "" when the head does not say.
func rpcMethod(head []byte) (method, tool string) {
	dec := json.NewDecoder(bytes.NewReader(head))
	if t, err := dec.Token(); err != nil {
		return "", ""
	} else if t == json.Delim('[') {
		return "batch", ""
	} else if t != json.Delim('{') {
		return "", ""
	}
	var name string
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			break
		}
		if key == "method" {
			if dec.Decode(&method) != nil {
				return "", ""
			}
		} else if key == "params" {
			name = paramsName(dec)
		} else if dec.Decode(new(json.RawMessage)) != nil {
			break // the head ends in this value
		}
	}
	if method != "tools/call" {
		return mcp.MethodLabel(method), ""
	}
	if !slices.Contains(mcp.Tools, name) {
		name = "unknown"
	}
	return method, name
}

// paramsName reads a params object and returns its "name", if it comes
// before what the head cut off.
func paramsName(dec *json.Decoder) (name string) {
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return name
		}
		if key == "name" {
			if dec.Decode(&name) != nil {
				return ""
			}
			continue
		}
		if dec.Decode(new(json.RawMessage)) != nil {
			return name
		}
	}
	dec.Token() // the closing brace
	return name
}

// mcpBackend is the MCP tools' Backend in the daemon: the supervisor, for
// one user, with the REST API's ownership rule, activity and errors.
type mcpBackend struct {
	s    *Server
	user string
}

// problem turns an error into the *mcp.Error the agent is told: the REST
// API's problem for it (server/errors.go), with 5xx logged once here. A
// canceled call stays itself.
func (b mcpBackend) problem(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	p := problemFor(err)
	if p.Status >= http.StatusInternalServerError {
		b.s.logger.Error().Err(err).Str("user", b.user).Int("status", p.Status).Msg("mcp call failed")
	}
	e := &mcp.Error{Status: p.Status, Code: p.Code, Detail: b.s.public(p.Detail)} // an agent is told what a user is
	if fe, ok := errors.AsType[*failedSession](err); ok {
		e.SessionID = fe.id
	}
	return e
}

// own loads one of the user's sessions: another user's is not found,
// exactly as a missing one. Reading is not activity.
func (b mcpBackend) own(ctx context.Context, id string) (chimerax.Info, error) {
	if b.user == "" {
		return chimerax.Info{}, errUnauthorized
	}
	rec, err := b.s.sv.Session(ctx, id)
	if err == nil && rec.Owner != b.user {
		return chimerax.Info{}, fmt.Errorf("%w: %s", chimerax.ErrNotFound, id)
	}
	return rec, err
}

// session is a session as the tools show it: the REST API's view, the
// same names and values.
func (b mcpBackend) session(rec chimerax.Info) (mcp.Session, error) {
	var out mcp.Session
	data, err := json.Marshal(b.s.view(rec, false))
	if err == nil {
		err = json.Unmarshal(data, &out)
	}
	return out, err
}

func (b mcpBackend) Sessions(ctx context.Context, state string, limit int) ([]mcp.Session, error) {
	if b.user == "" {
		return nil, b.problem(errUnauthorized)
	}
	f := store.SessionFilter{Owner: b.user, State: store.State(state), Limit: limit}
	if state != "" && !f.State.Valid() {
		return nil, b.problem(fmt.Errorf("%w: state %q: want starting, ready, stopping, terminated or failed", errBadRequest, truncate(state, 20)))
	}
	recs, _, err := b.s.sv.Sessions(ctx, f)
	if err != nil {
		return nil, b.problem(err)
	}
	out := make([]mcp.Session, 0, len(recs))
	for _, rec := range recs {
		v, err := b.session(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (b mcpBackend) Session(ctx context.Context, id string) (mcp.Session, error) {
	rec, err := b.own(ctx, id)
	if err != nil {
		return mcp.Session{}, b.problem(err)
	}
	return b.session(rec)
}

// Create starts a session as POST /api/sessions does, structure text going
// through the spool and the checks of an upload.
func (b mcpBackend) Create(ctx context.Context, r mcp.CreateRequest) (mcp.Session, error) {
	if b.user == "" {
		return mcp.Session{}, b.problem(errUnauthorized)
	}
	req := chimerax.CreateRequest{Owner: b.user, Name: r.Name, PDBID: r.PDBID, Wait: true}
	if r.Structure != "" {
		body := &limitedReader{r: strings.NewReader(r.Structure), n: b.s.cfg.MaxUploadBytes}
		u, err := structure.SaveUpload(b.s.cfg.SpoolDir, r.Filename, body, b.s.cfg.MaxUncompressedBytes)
		if err != nil {
			return mcp.Session{}, b.problem(err)
		}
		defer os.Remove(u.Path) // gone already once Create moved it
		req.Upload = u
	}
	rec, err := b.s.sv.Create(ctx, req)
	if err != nil {
		if rec.ID != "" {
			err = &failedSession{id: rec.ID, err: err}
		}
		return mcp.Session{}, b.problem(err)
	}
	if ctx.Err() != nil {
		// Ready, but the agent went away before it could be told.
		b.s.sv.Stop(context.WithoutCancel(ctx), rec.ID, store.ReasonClientGone)
		return mcp.Session{}, ctx.Err()
	}
	return b.session(rec)
}

func (b mcpBackend) Command(ctx context.Context, id, line string) (mcp.CommandResult, error) {
	if _, err := b.own(ctx, id); err != nil {
		return mcp.CommandResult{}, b.problem(err)
	}
	res, err := b.s.sv.Command(ctx, id, line)
	if err != nil {
		return mcp.CommandResult{}, b.problem(err)
	}
	out := mcp.CommandResult{ID: id, OK: res.OK(), Log: mcp.CommandLog(res.Log)}
	if res.Error != nil {
		out.Error = &mcp.CommandError{Type: res.Error.Type, Message: res.Error.Message}
	}
	for _, raw := range res.JSONValues {
		var v any
		if len(raw) > 0 {
			json.Unmarshal(raw, &v)
		}
		out.JSONValues = append(out.JSONValues, v)
	}
	return out, nil
}

// maxSnapshotBytes bounds the PNG read back: far above what MaxSnapshotSide
// pixels compress to.
const maxSnapshotBytes = 64 << 20

func (b mcpBackend) Snapshot(ctx context.Context, id string, width, height int) ([]byte, error) {
	if _, err := b.own(ctx, id); err != nil {
		return nil, b.problem(err)
	}
	f, err := b.s.sv.Snapshot(ctx, id, width, height)
	if err != nil {
		return nil, b.problem(err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxSnapshotBytes))
}

func (b mcpBackend) Logs(ctx context.Context, id string, lines int) (mcp.Logs, error) {
	if _, err := b.own(ctx, id); err != nil {
		return mcp.Logs{}, b.problem(err)
	}
	logs, err := b.s.sv.Logs(ctx, id, chimerax.LogQuery{Lines: lines, Redact: true})
	if err != nil {
		return mcp.Logs{}, b.problem(err)
	}
	return mcp.Logs{ID: id, State: string(logs.State), Lines: logs.Lines}, nil
}

func (b mcpBackend) Checkpoint(ctx context.Context, id string) (mcp.Checkpoint, error) {
	if _, err := b.own(ctx, id); err != nil {
		return mcp.Checkpoint{}, b.problem(err)
	}
	cp, err := b.s.sv.Checkpoint(ctx, id)
	if err != nil {
		return mcp.Checkpoint{}, b.problem(err)
	}
	return mcp.Checkpoint{ID: id, At: cp.At.UTC().Truncate(time.Millisecond), SizeBytes: cp.SizeBytes}, nil
}

func (b mcpBackend) End(ctx context.Context, id string) (mcp.Session, error) {
	if _, err := b.own(ctx, id); err != nil {
		return mcp.Session{}, b.problem(err)
	}
	rec, err := b.s.sv.Stop(ctx, id, store.ReasonDeleted)
	if err != nil {
		return mcp.Session{}, b.problem(err)
	}
	return b.session(rec)
}

// Events follows a session's events as GET .../events does: an open
// subscription is activity only with session.keep_connected.
func (b mcpBackend) Events(ctx context.Context, id string) (<-chan mcp.Event, error) {
	if _, err := b.own(ctx, id); err != nil {
		return nil, b.problem(err)
	}
	sub, err := b.s.sv.EventsAfter(ctx, id, 0)
	if err != nil {
		return nil, b.problem(err)
	}
	out := make(chan mcp.Event, 16)
	go func() {
		defer close(out)
		defer sub.Cancel()
		for {
			select {
			case ev, ok := <-sub.C:
				if !ok {
					return
				}
				e := mcp.Event{Type: ev.Type, Ended: ev.Type == chimerax.EventState && !ev.State.Live()}
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
