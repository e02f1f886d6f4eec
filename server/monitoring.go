package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/store"
)

// Monitor is what the monitoring endpoints need of the supervisor;
// *chimerax.Supervisor provides it.
type Monitor interface {
	Ready(ctx context.Context) []chimerax.Check
	Usage(ctx context.Context, since time.Time) (store.Usage, error)
	Logs(ctx context.Context, id string, q chimerax.LogQuery) (chimerax.Logs, error)
}

// readyTimeout bounds the readiness checks, the store's write above all.
const readyTimeout = 5 * time.Second

// readiness is the body of /readyz.
type readiness struct {
	// Status is "ready" or "not_ready".
	Status string `json:"status"`
	// Failing names the failing checks; empty when ready.
	Failing []string         `json:"failing"`
	Checks  []chimerax.Check `json:"checks"`
}

// readyz says whether the daemon can take sessions: 200, or 503 naming the
// failing checks. Unlike /healthz (alive), a daemon at capacity or with a
// stalled sweeper is not ready. A failed check's cause is logged, never
// shown.
func (s *Server) readyz(c *gin.Context) error {
	ctx, cancel := context.WithTimeout(c, readyTimeout)
	defer cancel()
	r := readiness{Status: "ready", Failing: []string{}, Checks: s.sv.Ready(ctx)}
	for _, ch := range r.Checks {
		if ch.OK {
			continue
		}
		r.Failing = append(r.Failing, ch.Name)
		if cause := errors.Unwrap(ch.Err); cause != nil {
			s.logger.Error().Err(cause).Str("check", ch.Name).Msg("readiness check failed")
		}
	}
	status := http.StatusOK
	if len(r.Failing) > 0 {
		r.Status, status = "not_ready", http.StatusServiceUnavailable
	}
	c.JSON(status, r)
	return nil
}

// stats answers GET /api/stats (admins): usage from the store, per user
// and in all, over the sessions created since ?since= (RFC 3339; all by
// default).
func (s *Server) stats(c *gin.Context) error {
	var since time.Time
	if v := c.Query("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fmt.Errorf("%w: since=%q: want an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", errBadRequest, truncate(v, 40))
		}
		since = t.UTC()
	}
	u, err := s.sv.Usage(c, since)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, u)
	return nil
}

// sessionLogs answers GET /api/sessions/{id}/logs (its owner or an admin):
// the last ?lines= lines of the child's output (200 by default, at most
// 5000), or with ?cursor= what came after an earlier answer's next_cursor.
// Owners see the output redacted (no REST port, no paths), as they never
// see the process details. Reading logs is not activity: following a
// session's log does not keep it alive.
func (s *Server) sessionLogs(c *gin.Context) error {
	id, who := c.Param("id"), caller(c)
	q := chimerax.LogQuery{After: c.Query("cursor"), Redact: !who.Admin}
	if v := c.Query("lines"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%w: lines=%q: want a positive number (at most %d are sent)", errBadRequest, truncate(v, 20), chimerax.MaxLogLines)
		}
		q.Lines = n
	}
	rec, err := s.sv.Session(c, id)
	if err != nil {
		return err
	}
	if rec.Owner != who.Name && !who.Admin {
		return fmt.Errorf("%w: %s", chimerax.ErrNotFound, id)
	}
	logs, err := s.sv.Logs(c, id, q)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, logs)
	return nil
}
