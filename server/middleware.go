package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/chimerad/chimerad/store"
)

const (
	requestIDKey = "request_id"
	principalKey = "principal"
)

// timeSince is time.Since; a variable so that nothing else reads the clock.
var timeSince = time.Since

// principal is who is making a request.
type principal struct {
	Name  string
	Admin bool
	// Socket is true for requests on the admin Unix socket.
	Socket bool
	// Signed is true for requests by a signed URL (browser.go).
	Signed bool
}

// socketAdmin is the principal of requests on the admin socket.
const socketAdmin = "admin"

func caller(c *gin.Context) principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(principal)
	return pr
}

// recover turns a panic into a logged 500 problem, never a dropped connection.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.fail(c, fmt.Errorf("panic: %v", v))
		}
	}()
	c.Next()
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestIDs makes the ids of requests that bring none: a random prefix
// drawn once per process, then a count. Unique within this daemon's life
// and, by the prefix, across its restarts; cheaper than a UUID a request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	return &requestIDs{prefix: strings.ReplaceAll(uuid.NewString(), "-", "")[:16] + "-"}
}

func (r *requestIDs) next() string {
	var b [48]byte
	return string(strconv.AppendUint(append(b[:0], r.prefix...), r.n.Add(1), 10))
}

// requestID gives every request an id, the client's if it sent a sane one,
// and returns it in X-Request-ID.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if id == "" || !requestIDRE.MatchString(id) {
		id = s.ids.next()
	}
	c.Set(requestIDKey, id)
	c.Header("X-Request-ID", id)
	c.Next()
}

// accessLog writes one line per request.
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	ev := s.logger.Info()
	if c.Writer.Status() >= 500 {
		ev = s.logger.Warn()
	}
	ev.Str("request_id", c.GetString(requestIDKey)).
		Str("method", c.Request.Method).
		Str("route", route).
		Str("path", c.Request.URL.Path).
		Int("status", c.Writer.Status()).
		Int("bytes", c.Writer.Size()).
		Dur("duration_ms", time.Since(start)).
		Str("user", caller(c).Name)
	if m := c.GetString(mcpMethodKey); m != "" { // /mcp: what the message asked
		ev.Str(mcpMethodKey, m)
		if tool := c.GetString(mcpToolKey); tool != "" {
			ev.Str(mcpToolKey, tool)
		}
	}
	ev.Msg("request")
}

// checkHost refuses Host headers outside http.allowed_hosts, so that a web
// page that rebinds its DNS name to 127.0.0.1 cannot drive the API.
func (s *Server) checkHost(c *gin.Context) {
	if fromSocket(c) || slices.Contains(s.cfg.AllowedHosts, "*") {
		c.Next()
		return
	}
	host := c.Request.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(strings.ToLower(host), "[]")
	for _, allowed := range s.cfg.AllowedHosts {
		if strings.EqualFold(strings.Trim(allowed, "[]"), host) {
			c.Next()
			return
		}
	}
	s.fail(c, fmt.Errorf("%w: %q", errBadHost, truncate(c.Request.Host, 100)))
}

// cors answers browsers from cors.allowed_origins, and only those. A
// preflight from any other origin answers 403 origin_not_allowed, naming
// the setting, rather than the 405 that the route table would give.
func (s *Server) cors(c *gin.Context) {
	origin := c.GetHeader("Origin")
	preflight := c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != ""
	if origin == "" || !slices.Contains(s.cfg.AllowedOrigins, origin) {
		if preflight && origin != "" {
			s.fail(c, fmt.Errorf("%w: origin %q is not in cors.allowed_origins (CHIMERAD_CORS_ALLOWED_ORIGINS, comma-separated; none by default)", errOriginNotAllowed, truncate(origin, 100)))
			return
		}
		c.Next()
		return
	}
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Location, X-Request-ID, Retry-After, Content-Disposition, Mcp-Session-Id")
	if preflight {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID, Last-Event-ID, Accept, Mcp-Session-Id, Mcp-Protocol-Version")
		h.Set("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}

func fromSocket(c *gin.Context) bool {
	v, _ := c.Request.Context().Value(socketKey{}).(bool)
	return v
}

// authenticate resolves the bearer token to a user; a request on the admin
// socket is the socket's admin.
func (s *Server) authenticate(c *gin.Context) {
	if fromSocket(c) {
		c.Set(principalKey, principal{Name: socketAdmin, Admin: true, Socket: true})
		c.Next()
		return
	}
	var q url.Values // most requests have no query: parse none
	if c.Request.URL.RawQuery != "" {
		q = c.Request.URL.Query()
	}
	if q.Has("access_token") || q.Has("token") {
		s.fail(c, errTokenInURL)
		return
	}
	auth := c.GetHeader("Authorization")
	if auth == "" && q.Has("sig") {
		p, err := s.verifySigned(c)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.Set(principalKey, p)
		c.Next()
		return
	}
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		s.fail(c, errUnauthorized)
		return
	}
	u, err := s.users.UserByToken(c, strings.TrimSpace(token))
	if errors.Is(err, store.ErrNotFound) {
		s.fail(c, errUnauthorized)
		return
	} else if err != nil {
		s.fail(c, err)
		return
	}
	c.Set(principalKey, principal{Name: u.Name, Admin: u.Admin})
	c.Next()
}

// requireAdmin lets only admins through.
func (s *Server) requireAdmin(c *gin.Context) {
	if !caller(c).Admin {
		s.fail(c, errForbidden)
		return
	}
	c.Next()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
