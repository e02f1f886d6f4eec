package server

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// LimitListener caps the connections one client address holds on ln at
// once (Config.MaxConnsPerClient; 0: no cap). A connection over the cap is
// answered 429 with a problem body and Retry-After, then closed, before
// any request is read: one local client cannot hold hundreds of slow
// uploads open for everyone else.
func (s *Server) LimitListener(ln net.Listener) net.Listener {
	if s.cfg.MaxConnsPerClient <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, max: s.cfg.MaxConnsPerClient, open: map[string]int{}}
}

type limitListener struct {
	net.Listener
	max  int
	mu   sync.Mutex
	open map[string]int // client IP → connections open
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.mu.Lock()
		over := l.open[host] >= l.max
		if !over {
			l.open[host]++
		}
		l.mu.Unlock()
		if over {
			go refuseConn(c, l.max)
			continue
		}
		return &limitedConn{Conn: c, release: sync.OnceFunc(func() {
			l.mu.Lock()
			if l.open[host]--; l.open[host] <= 0 {
				delete(l.open, host)
			}
			l.mu.Unlock()
		})}, nil
	}
}

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// refuseConn answers a connection over the per-client cap and closes it.
func refuseConn(c net.Conn, max int) {
	defer c.Close()
	p := problemFor(fmt.Errorf("%w: it already holds %d (http.max_conns_per_client); close some and try again", errTooManyConns, max))
	body, _ := json.Marshal(p)
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\nRetry-After: 1\r\n"+
		"Connection: close\r\nContent-Length: %d\r\n\r\n%s", p.Status, p.Title, len(body), body)
}

// uploadDeadline is how long a request body of n bytes may take to
// arrive: Config.BodyTimeout, plus n at Config.MinUploadRate.
func (s *Server) uploadDeadline(n int64) time.Duration {
	d := s.cfg.BodyTimeout
	if s.cfg.MinUploadRate > 0 && n > 0 {
		d += time.Duration(float64(n) / float64(s.cfg.MinUploadRate) * float64(time.Second))
	}
	return d
}

// bodyDeadline gives a request's body its time to arrive, by its size
// (Content-Length, or the upload limit when it is not known):
// BodyTimeout, plus the size at MinUploadRate. A body slower than that fails its read.
func (s *Server) bodyDeadline(c *gin.Context) {
	if n := c.Request.ContentLength; n != 0 && c.Request.Body != nil && c.Request.Body != http.NoBody {
		if limit := s.cfg.MaxUploadBytes + maxJSONBody; n < 0 || n > limit {
			n = limit
		}
		http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(s.uploadDeadline(n)))
	}
	c.Next()
}
