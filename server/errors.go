package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/store"
)

// Errors of the server's own.
var (
	errUnauthorized = errors.New("a valid bearer token is required")
	errForbidden    = errors.New("this needs an admin")
	errNoRoute      = errors.New("no such endpoint")
	errMethod       = errors.New("method not allowed on this endpoint")
	errBadHost      = errors.New("Host header not allowed; see http.allowed_hosts")
	errBadRequest   = errors.New("bad request")
	errMediaType    = errors.New("unsupported content type")
	errTooLarge     = errors.New("request body too large")
	errBodyTimeout  = errors.New("request body too slow")
	errTooManyConns = errors.New("too many connections from this client")
	// errOriginNotAllowed: a browser preflight from an origin CORS does
	// not allow, or any browser request to /mcp from one (mcp.go).
	errOriginNotAllowed = errors.New("origin not allowed")
)

// problemKinds is the one table from errors to HTTP status and machine code.
// The first row whose error matches (errors.Is) wins. Every chimerax
// sentinel a request can meet has a row; chimerax.ErrEngineNotFound,
// ErrSandbox and ErrCgroup have none: they only stop a daemon's start.
var problemKinds = []struct {
	err    error
	status int
	code   string
}{
	{errUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{errForbidden, http.StatusForbidden, "forbidden"},
	{errOriginNotAllowed, http.StatusForbidden, "origin_not_allowed"},
	{errNoRoute, http.StatusNotFound, "no_route"},
	{errMethod, http.StatusMethodNotAllowed, "method_not_allowed"},
	{errBadHost, http.StatusMisdirectedRequest, "host_not_allowed"},
	{errBadRequest, http.StatusBadRequest, "invalid_request"},
	{errMediaType, http.StatusUnsupportedMediaType, "unsupported_media_type"},
	{errTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{errBodyTimeout, http.StatusRequestTimeout, "request_timeout"},
	{errTooManyConns, http.StatusTooManyRequests, "too_many_connections"},
	{chimerax.ErrNotFound, http.StatusNotFound, "session_not_found"},
	{chimerax.ErrInvalid, http.StatusBadRequest, "invalid_request"},
	{chimerax.ErrUnsupportedFormat, http.StatusUnsupportedMediaType, "unsupported_format"},
	{chimerax.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{chimerax.ErrLimit, http.StatusTooManyRequests, "limit_reached"},
	{chimerax.ErrOpenFailed, http.StatusUnprocessableEntity, "open_failed"},
	{chimerax.ErrOutOfMemory, http.StatusUnprocessableEntity, "out_of_memory"},
	{chimerax.ErrNotLive, http.StatusConflict, "session_not_live"},
	{chimerax.ErrStartTimeout, http.StatusGatewayTimeout, "start_timeout"},
	{chimerax.ErrStartFailed, http.StatusBadGateway, "start_failed"},
	{chimerax.ErrCommandTimeout, http.StatusGatewayTimeout, "command_timeout"},
	{chimerax.ErrUnavailable, http.StatusBadGateway, "chimerax_unavailable"},
	{chimerax.ErrProtocol, http.StatusBadGateway, "chimerax_protocol"},
	{chimerax.ErrShuttingDown, http.StatusServiceUnavailable, "shutting_down"},
	{chimerax.ErrPDBNotFound, http.StatusNotFound, "pdb_not_found"},
	{chimerax.ErrPDBUnavailable, http.StatusBadGateway, "pdb_unavailable"},
	{chimerax.ErrRefused, http.StatusForbidden, "command_refused"},
	{chimerax.ErrCommandFailed, http.StatusBadGateway, "command_failed"},
	{chimerax.ErrNoCheckpoint, http.StatusConflict, "no_checkpoint"},
	{chimerax.ErrFileNotFound, http.StatusNotFound, "file_not_found"},
	{chimerax.ErrSessionLive, http.StatusConflict, "session_live"},
	{chimerax.ErrDiskQuota, http.StatusInsufficientStorage, "disk_quota_exceeded"},
	{store.ErrNoSpace, http.StatusInsufficientStorage, "insufficient_storage"},
	{syscall.ENOSPC, http.StatusInsufficientStorage, "insufficient_storage"},
	{store.ErrNotFound, http.StatusNotFound, "not_found"},
	{store.ErrExists, http.StatusConflict, "exists"},
	{store.ErrInvalid, http.StatusBadRequest, "invalid_request"},
}

// noSpaceDetail is a 507's detail, whichever write met the full disk.
const noSpaceDetail = "The disk holding chimerad's data is full, so nothing of this request was saved. Try again once an admin has freed space."

// retryAfter is what a 503 (shutting down) suggests to wait.
const retryAfter = 5 * time.Second

// Problem is an RFC 9457 problem details body, with chimerad's machine code.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// SessionID names the session a failed create left behind (failed).
	SessionID string `json:"session_id,omitempty"`
}

// problemFor maps err to its problem. 4xx details are ours and safe to
// show; a 5xx that is not a ChimeraX start or command failure says only
// "internal error".
func problemFor(err error) Problem {
	p := Problem{Type: "about:blank", Status: http.StatusInternalServerError, Code: "internal", Detail: "internal error"}
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		p.Status, p.Code = http.StatusRequestEntityTooLarge, "too_large"
		p.Detail = "request body over the limit of " + strconv.FormatInt(mbe.Limit, 10) + " bytes"
	} else {
		for _, k := range problemKinds {
			if errors.Is(err, k.err) {
				p.Status, p.Code, p.Detail = k.status, k.code, sentence(err.Error())
				break
			}
		}
	}
	if p.Code == "insufficient_storage" {
		p.Detail = noSpaceDetail
	}
	if se, ok := errors.AsType[*chimerax.StartError](err); ok && p.Code != "insufficient_storage" {
		p.Detail = sentence(se.Err.Error()) // the child's output is for the log and admins
	}
	p.Title = http.StatusText(p.Status)
	return p
}

// sentence makes an error's text a sentence for people: the sentinels'
// Go-style "package: " prefixes go ("chimerax: session not live: session
// … was killed by an admin" reads "Session not live: session … was killed
// by an admin."), the first letter is a capital, and it ends in a period.
func sentence(msg string) string {
	for _, k := range problemKinds {
		text := k.err.Error()
		if pkg, phrase, ok := strings.Cut(text, ": "); ok && !strings.Contains(pkg, " ") {
			msg = strings.ReplaceAll(msg, text, phrase)
		}
	}
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return msg
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "?") && !strings.HasSuffix(msg, "!") {
		msg += "."
	}
	return msg
}

// fail writes err as a problem answer and logs 5xx answers with the whole
// error chain, once.
func (s *Server) fail(c *gin.Context, err error) {
	p := problemFor(err)
	if !caller(c).Admin {
		p.Detail = s.public(p.Detail)
	}
	p.Instance = c.Request.URL.Path
	p.RequestID = c.GetString(requestIDKey)
	var fe *failedSession
	if errors.As(err, &fe) {
		p.SessionID = fe.id
	}
	switch p.Status {
	case http.StatusUnauthorized:
		c.Header("WWW-Authenticate", `Bearer realm="chimerad"`)
	case http.StatusTooManyRequests:
		// An honest estimate, or none: only the user can free a place
		// under their own cap.
		if le, ok := errors.AsType[*chimerax.LimitError](err); ok && le.RetryAfter > 0 {
			c.Header("Retry-After", strconv.Itoa(int(le.RetryAfter/time.Second)))
		}
	case http.StatusServiceUnavailable:
		c.Header("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
	}
	if p.Status >= 500 && p.Code != "disk_quota_exceeded" { // the supervisor logs a user's quota
		s.logger.Error().Err(err).Str("request_id", p.RequestID).Int("status", p.Status).Msg("request failed")
	}
	c.Error(err)
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(p.Status, p)
}

// public rewrites a detail for someone who is not an admin: the
// supervisor's step (no data-dir path, port or pid), and the spool
// directory, which is the server's.
func (s *Server) public(text string) string {
	text = s.sv.Public(text)
	if dir := s.cfg.SpoolDir; dir != "" {
		text = strings.ReplaceAll(text, dir, "<spool>")
	}
	return text
}

// failedSession carries the id of a session whose create failed after its
// record was made.
type failedSession struct {
	id  string
	err error
}

func (e *failedSession) Error() string { return e.err.Error() }
func (e *failedSession) Unwrap() error { return e.err }
