package chimerax

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chimerad/chimerad/store"
)

// Session returns a session's record.
func (sv *Supervisor) Session(ctx context.Context, id string) (store.Session, error) {
	rec, err := sv.db.Session(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return rec, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	sv.overlay(&rec)
	return rec, err
}

// Sessions lists session records, newest first, and the next page's cursor.
func (sv *Supervisor) Sessions(ctx context.Context, f store.SessionFilter) ([]store.Session, string, error) {
	out, next, err := sv.db.Sessions(ctx, f)
	if errors.Is(err, store.ErrInvalid) {
		return nil, "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	for i := range out {
		sv.overlay(&out[i])
	}
	return out, next, err
}

// Touch records activity on a live session and returns its record. The
// activity is kept in memory and written with the next flush (activity.go).
func (sv *Supervisor) Touch(ctx context.Context, id string) (store.Session, error) {
	rec, err := sv.Session(ctx, id)
	if err != nil {
		return rec, err
	}
	return sv.TouchRecord(rec)
}

// TouchRecord is Touch on a record just read: it saves reading it again.
func (sv *Supervisor) TouchRecord(rec store.Session) (store.Session, error) {
	now := sv.now()
	sv.mu.Lock()
	c := sv.children[rec.ID]
	if c != nil && !c.ending {
		sv.markActive(c, now)
	}
	sv.mu.Unlock()
	if c == nil {
		return rec, fmt.Errorf("%w: session %s is %s", ErrNotLive, rec.ID, rec.State)
	}
	if rec.State.Live() && now.After(rec.LastActivityAt) {
		rec.LastActivityAt = now
	}
	return rec, nil
}

// IdleExpiresAt returns when a live session will end for idleness, or the
// zero time if it never will.
func (sv *Supervisor) IdleExpiresAt(s store.Session) time.Time {
	timeout := sv.idleTimeout(s.IdleTimeout)
	if !s.State.Live() || timeout <= 0 {
		return time.Time{}
	}
	return s.LastActivityAt.Add(timeout)
}

// Busy reports whether a session has a command in flight.
func (sv *Supervisor) Busy(id string) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	c := sv.children[id]
	return c != nil && c.busy > 0
}

// MaxLifetimeExpiresAt returns when a live session will end for its age,
// or the zero time if it never will.
func (sv *Supervisor) MaxLifetimeExpiresAt(s store.Session) time.Time {
	if !s.State.Live() || sv.cfg.MaxLifetime <= 0 {
		return time.Time{}
	}
	return s.CreatedAt.Add(sv.cfg.MaxLifetime)
}

// overlay brings a record's activity up to date from memory: commands
// and probes mark activity without writing the store.
func (sv *Supervisor) overlay(recs ...*store.Session) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	for _, r := range recs {
		if c := sv.children[r.ID]; c != nil && r.State.Live() && c.lastActivity.After(r.LastActivityAt) {
			r.LastActivityAt = c.lastActivity
		}
	}
}

func (sv *Supervisor) idleTimeout(own time.Duration) time.Duration {
	if own > 0 {
		return own
	}
	return sv.cfg.IdleTimeout
}
