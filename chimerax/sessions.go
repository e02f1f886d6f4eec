package chimerax

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chimerad/chimerad/store"
)

// Info is a session as the supervisor shows it: its record, with its
// activity brought up to date from memory, and what the supervisor derives
// for it, so that a caller renders it without asking again.
type Info struct {
	store.Session
	// IdleExpiresAt is when a live session will end for idleness if
	// nothing happens first; zero if it never will, while a command is in
	// flight (or, with KeepConnected, an event stream is open), and once
	// it has ended.
	IdleExpiresAt time.Time
	// MaxLifetimeExpiresAt is when a live session will end for its age;
	// zero if it never will or it has ended.
	MaxLifetimeExpiresAt time.Time
	// ExecutionState is ExecutionIdle or ExecutionBusy for a ready
	// session, empty otherwise; BusySince is when the command in flight
	// (the first of several queued) started.
	ExecutionState string
	BusySince      time.Time
	// Stats are what a live session's child has done and uses now, or for
	// an ended session what its record kept (nil if nothing).
	Stats *store.SessionStats
	// QueuePosition is a starting session's place among its Slurm
	// partition's pending jobs (1: next), while its job waits; 0 otherwise.
	QueuePosition int
}

// Execution states (Info.ExecutionState).
const (
	// ExecutionIdle: no command in flight.
	ExecutionIdle = "idle"
	// ExecutionBusy: a command is in flight; the session is not idle.
	ExecutionBusy = "busy"
)

// info derives a session's Info from its record, overlaid already.
func (sv *Supervisor) info(rec store.Session) Info {
	in := Info{Session: rec, Stats: rec.Stats}
	if !rec.State.Live() {
		return in
	}
	if sv.cfg.MaxLifetime > 0 {
		in.MaxLifetimeExpiresAt = rec.CreatedAt.Add(sv.cfg.MaxLifetime)
	}
	timeout := sv.idleTimeout(rec.IdleTimeout)
	sv.mu.Lock()
	c := sv.children[rec.ID]
	idle := true
	var stats store.SessionStats
	var p runner
	if c != nil {
		stats.Commands = c.commands
		p = liveProc(c)
		if p == nil {
			in.QueuePosition = c.queuePos
		}
		if p != nil && !c.ending {
			in.ExecutionState = ExecutionIdle
			if c.busy > 0 {
				in.ExecutionState, in.BusySince = ExecutionBusy, c.busySince
			}
		}
		idle = c.busy == 0 && !sv.connected(c)
	}
	sv.mu.Unlock()
	if timeout > 0 && idle {
		in.IdleExpiresAt = rec.LastActivityAt.Add(timeout)
	}
	if c != nil {
		sv.fillStats(&stats, p)
		stats.DiskBytes = sv.diskBytes(c)
		in.Stats = &stats
	}
	return in
}

// Session returns a session as the supervisor shows it.
func (sv *Supervisor) Session(ctx context.Context, id string) (Info, error) {
	rec, err := sv.current(ctx, id)
	if err != nil {
		return Info{Session: rec}, err
	}
	return sv.info(rec), nil
}

// current returns a session's record, its activity brought up to date.
func (sv *Supervisor) current(ctx context.Context, id string) (store.Session, error) {
	rec, err := sv.db.Session(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return rec, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	sv.overlay(&rec)
	return rec, err
}

// Sessions lists sessions, newest first, and the next page's cursor.
func (sv *Supervisor) Sessions(ctx context.Context, f store.SessionFilter) ([]Info, string, error) {
	recs, next, err := sv.db.Sessions(ctx, f)
	if errors.Is(err, store.ErrInvalid) {
		return nil, "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err != nil {
		return nil, "", err
	}
	out := make([]Info, len(recs))
	for i := range recs {
		sv.overlay(&recs[i])
		out[i] = sv.info(recs[i])
	}
	return out, next, nil
}

// Touch records activity on a live session (a heartbeat) and returns it.
// The activity is kept in memory and written with the next flush.
func (sv *Supervisor) Touch(ctx context.Context, id string) (Info, error) {
	rec, err := sv.Session(ctx, id)
	if err != nil {
		return rec, err
	}
	return sv.TouchRecord(rec)
}

// TouchRecord is Touch on a session just read: it saves reading it again.
func (sv *Supervisor) TouchRecord(in Info) (Info, error) {
	now := sv.now()
	sv.mu.Lock()
	c := sv.children[in.ID]
	var idleFrom time.Time
	if c != nil && !c.ending {
		sv.markActive(c, now)
		idleFrom = sv.idleDeadlineLocked(c)
	}
	sv.mu.Unlock()
	if c == nil {
		return in, notLive(in.Session, false)
	}
	sv.wakeSweeperFor(idleFrom) // the next deadline may have moved
	if in.State.Live() && now.After(in.LastActivityAt) {
		// What activity changes of what info just derived: the idle end,
		// if it has one (no command in flight, no stream keeping it).
		in.LastActivityAt = now
		if !in.IdleExpiresAt.IsZero() {
			in.IdleExpiresAt = now.Add(sv.idleTimeout(in.IdleTimeout))
		}
	}
	return in, nil
}

// Busy reports whether a session has a command in flight.
func (sv *Supervisor) Busy(id string) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	c := sv.children[id]
	return c != nil && c.busy > 0
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

// SessionUpdate changes a live session's settings; nil fields stay.
type SessionUpdate struct {
	Name *string
	// IdleTimeout is the session's own idle timeout; 0 takes the default.
	IdleTimeout *time.Duration
}

// Update changes a live session's name or idle timeout (within
// Config.MaxIdleTimeout) and returns it. It is not activity.
func (sv *Supervisor) Update(ctx context.Context, id string, u SessionUpdate) (Info, error) {
	if u.Name != nil {
		if err := checkName(*u.Name); err != nil {
			return Info{}, err
		}
	}
	if u.IdleTimeout != nil {
		if err := sv.checkIdleTimeout(*u.IdleTimeout); err != nil {
			return Info{}, err
		}
	}
	rec, err := sv.db.UpdateSession(ctx, id, func(s *store.Session) error {
		if !s.State.Live() {
			return notLive(*s, false)
		}
		if u.Name != nil {
			s.Name = *u.Name
		}
		if u.IdleTimeout != nil {
			s.IdleTimeout = *u.IdleTimeout
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	case err != nil:
		return sv.info(rec), err
	}
	if u.IdleTimeout != nil {
		sv.mu.Lock()
		if c := sv.children[id]; c != nil {
			c.idleTimeout = *u.IdleTimeout
		}
		sv.mu.Unlock()
		sv.wakeSweeper() // the idle deadline moved
	}
	sv.overlay(&rec)
	return sv.info(rec), nil
}
