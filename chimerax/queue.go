package chimerax

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/chimerad/chimerad/store"
)

// The create queue. A create that finds limits.max_sessions reached waits
// in a FIFO queue of at most Config.QueueSize for up to QueueTimeout; a
// place that frees (a session ends, a pool child leaves) goes to the head
// of the queue before the pool may refill. A full queue or a timeout is an
// ErrLimit with an honest RetryAfter: when, by the live sessions' own
// deadlines, a place should free for the caller. The per-user cap never
// queues: only the user can free a place of theirs, so it says no retry
// time. A caller that goes away leaves the queue at once.

// LimitError is ErrLimit, with when to try again.
type LimitError struct {
	// Err says which limit; it wraps ErrLimit.
	Err error
	// RetryAfter is when a place should be free, by the live sessions'
	// idle and lifetime deadlines; 0 when nothing says (the per-user cap,
	// or no live session has a deadline).
	RetryAfter time.Duration
}

func (e *LimitError) Error() string { return e.Err.Error() }
func (e *LimitError) Unwrap() error { return e.Err }

// waiter is a create in the queue.
type waiter struct {
	id, owner string
	idle      time.Duration
	since     time.Time
	got       chan placed // the place, once granted (buffered)
}

// placed is what a waiter is given: a place, or why it has none.
type placed struct {
	c   *child
	err error
}

// Queue outcomes, for Observer.QueueWaited.
const (
	QueueGranted = "granted" // waited, then got a place
	QueueTimeout = "timeout" // waited limits.queue_timeout in vain
	QueueGone    = "gone"    // the caller went away while it waited
	QueueFull    = "full"    // found the queue full: did not wait
)

// reserve takes a place for a new session under the limits, waiting in the
// queue at the global cap (see above) until ctx ends.
func (sv *Supervisor) reserve(ctx context.Context, id, owner string, idle time.Duration) (*child, error) {
	sv.mu.Lock()
	if sv.closing {
		sv.mu.Unlock()
		return nil, ErrShuttingDown
	}
	if err := sv.userLimitLocked(owner); err != nil {
		sv.mu.Unlock()
		return nil, err
	}
	if c := sv.placeLocked(id, owner, idle); c != nil {
		sv.mu.Unlock()
		return c, nil
	}
	if len(sv.queue) >= sv.cfg.QueueSize {
		err := sv.capacityErrorLocked(len(sv.queue), "the queue is full")
		sv.mu.Unlock()
		sv.observer().QueueWaited(QueueFull, 0)
		return nil, err
	}
	w := &waiter{id: id, owner: owner, idle: idle, since: time.Now(), got: make(chan placed, 1)}
	sv.queue = append(sv.queue, w)
	sv.mu.Unlock()

	timer := time.NewTimer(sv.cfg.QueueTimeout)
	defer timer.Stop()
	var outcome string
	select {
	case p := <-w.got:
		sv.observer().QueueWaited(QueueGranted, time.Since(w.since))
		return p.c, p.err
	case <-ctx.Done():
		outcome = QueueGone
	case <-timer.C:
		outcome = QueueTimeout
	}
	sv.mu.Lock()
	queued := slices.Contains(sv.queue, w)
	sv.queue = slices.DeleteFunc(sv.queue, func(x *waiter) bool { return x == w })
	pos := len(sv.queue)
	sv.mu.Unlock()
	if !queued { // granted as it gave up: give the place back
		if p := <-w.got; p.c != nil {
			sv.release(p.c)
		}
	}
	sv.observer().QueueWaited(outcome, time.Since(w.since))
	if outcome == QueueGone {
		return nil, fmt.Errorf("%w: left the queue: %v", ErrLimit, context.Cause(ctx))
	}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return nil, sv.capacityErrorLocked(pos, fmt.Sprintf("no place came free within limits.queue_timeout (%v)", sv.cfg.QueueTimeout))
}

// userLimitLocked is the per-user cap's error for owner, or nil.
func (sv *Supervisor) userLimitLocked(owner string) error {
	if sv.cfg.MaxSessionsPerUser > 0 && sv.perUser[owner] >= sv.cfg.MaxSessionsPerUser {
		return &LimitError{Err: fmt.Errorf("%w: limits.max_sessions_per_user (%d live sessions for %s): end one of them first", ErrLimit, sv.cfg.MaxSessionsPerUser, owner)}
	}
	return nil
}

// capacityErrorLocked is the global cap's error for a caller that would be
// at position pos of the queue.
func (sv *Supervisor) capacityErrorLocked(pos int, why string) error {
	return &LimitError{
		Err:        fmt.Errorf("%w: limits.max_sessions (%d live sessions in all): %s", ErrLimit, sv.cfg.MaxSessions, why),
		RetryAfter: sv.retryAfterLocked(pos),
	}
}

// placeLocked takes a place for a session under limits.max_sessions, or
// returns nil at the cap. A ready pool child is taken whole (its id and
// directory become the session's); a pool child still starting yields its
// place to the session, rather than the cap turning the create away while
// it starts (it is then discarded when it is ready).
func (sv *Supervisor) placeLocked(id, owner string, idle time.Duration) *child {
	warm := sv.takeWarm()
	switch {
	case warm != nil:
		id = warm.id
	case sv.cfg.MaxSessions <= 0 || len(sv.children)+sv.pool.count() < sv.cfg.MaxSessions:
	case sv.pool.starting > sv.pool.yield:
		sv.pool.yield++
	default:
		return nil
	}
	c := sv.newChild(id, owner, idle, sv.now(), sv.now())
	c.warm = warm
	sv.children[c.id] = c
	sv.perUser[owner]++
	return c
}

// grantLocked gives the places free under the cap to the queue's head
// waiters, in order. A waiter whose user has reached their own cap since
// it queued is turned away.
func (sv *Supervisor) grantLocked() {
	for len(sv.queue) > 0 {
		w := sv.queue[0]
		if err := sv.userLimitLocked(w.owner); err != nil {
			sv.queue = sv.queue[1:]
			w.got <- placed{err: err}
			continue
		}
		c := sv.placeLocked(w.id, w.owner, w.idle)
		if c == nil {
			return
		}
		sv.queue = sv.queue[1:]
		w.got <- placed{c: c}
	}
}

// failQueueLocked turns every waiter away with err (the supervisor closes).
func (sv *Supervisor) failQueueLocked(err error) {
	for _, w := range sv.queue {
		w.got <- placed{err: err}
	}
	sv.queue = nil
}

// retryAfterLocked estimates when the place a caller at position pos of
// the queue waits for should come free: the (pos+1)th soonest of the live
// sessions' idle and lifetime deadlines, as if nothing happened first. 0
// when fewer sessions than that have a deadline.
func (sv *Supervisor) retryAfterLocked(pos int) time.Duration {
	now := sv.now()
	var dues []time.Time
	for _, c := range sv.children {
		if c.ending || c.endScheduled || liveProc(c) == nil {
			continue
		}
		var due time.Time
		if sv.cfg.MaxLifetime > 0 {
			due = c.created.Add(sv.cfg.MaxLifetime)
		}
		if t := sv.idleTimeout(c.idleTimeout); t > 0 && c.busy == 0 && !sv.connected(c) {
			if idle := c.lastActivity.Add(t); due.IsZero() || idle.Before(due) {
				due = idle
			}
		}
		if !due.IsZero() {
			dues = append(dues, due)
		}
	}
	if pos >= len(dues) {
		return 0
	}
	slices.SortFunc(dues, func(a, b time.Time) int { return a.Compare(b) })
	// Whole seconds (Retry-After's unit), rounded up, and at least one.
	return max(time.Second, (dues[pos].Sub(now) + time.Second - 1).Truncate(time.Second))
}

// Status is the daemon's capacity in numbers, as one user sees it.
type Status struct {
	// MaxSessions is limits.max_sessions (0: no cap); Live counts the live
	// sessions (Starting of them still starting); Queued the creates
	// waiting for a place.
	MaxSessions int `json:"max_sessions"`
	Live        int `json:"live"`
	Starting    int `json:"starting"`
	Queued      int `json:"queued"`
	// Pool is the warm pool: its configured size and the children ready.
	Pool struct {
		Size  int `json:"size"`
		Ready int `json:"ready"`
	} `json:"pool"`
	// User is the caller's own cap (limits.max_sessions_per_user, 0: none)
	// and live sessions.
	User struct {
		MaxSessions int `json:"max_sessions"`
		Live        int `json:"live"`
	} `json:"user"`
}

// Status returns the capacity as user sees it.
func (sv *Supervisor) Status(user string) Status {
	var st Status
	st.MaxSessions, st.Pool.Size, st.User.MaxSessions = sv.cfg.MaxSessions, sv.cfg.PoolSize, sv.cfg.MaxSessionsPerUser
	sv.mu.Lock()
	defer sv.mu.Unlock()
	st.Live, st.Queued, st.Pool.Ready, st.User.Live = len(sv.children), len(sv.queue), len(sv.pool.ready), sv.perUser[user]
	for _, c := range sv.children {
		if childState(c) == store.StateStarting {
			st.Starting++
		}
	}
	return st
}
