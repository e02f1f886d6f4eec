package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// State is where a session is in its life. The string values are what the
// API and the database show.
type State string

// The states of a session. Starting, Ready and Stopping are live; the others
// are ended and never change again.
const (
	StateStarting   State = "starting"
	StateReady      State = "ready"
	StateStopping   State = "stopping"
	StateTerminated State = "terminated"
	StateFailed     State = "failed"
)

// Live reports whether a session in state s still has (or is getting) a
// ChimeraX child.
func (s State) Live() bool {
	return s == StateStarting || s == StateReady || s == StateStopping
}

// Valid reports whether s is one of the states above.
func (s State) Valid() bool {
	switch s {
	case StateStarting, StateReady, StateStopping, StateTerminated, StateFailed:
		return true
	}
	return false
}

// Reason says why a session ended. It is recorded once and never overwritten.
type Reason string

// The reasons a session ends.
const (
	ReasonDeleted       Reason = "deleted"
	ReasonIdleTimeout   Reason = "idle_timeout"
	ReasonMaxLifetime   Reason = "max_lifetime"
	ReasonCrashed       Reason = "crashed"
	ReasonUnresponsive  Reason = "unresponsive"
	ReasonStartFailed   Reason = "start_failed"
	ReasonOpenFailed    Reason = "open_failed"
	ReasonShutdown      Reason = "shutdown"
	ReasonDaemonRestart Reason = "daemon_restart"
	ReasonAdminKill     Reason = "admin_kill"
	ReasonUserRemoved   Reason = "user_removed"
	ReasonOutOfMemory   Reason = "out_of_memory"
	// ReasonSchedulerCancelled, ReasonSchedulerFailed and
	// ReasonSchedulerTimeLimit: the session's Slurm job was cancelled
	// from outside chimerad (scancel, preemption that cancels), failed
	// (node failure, preemption, the job's own memory limit), or reached
	// its time limit.
	ReasonSchedulerCancelled Reason = "scheduler_cancelled"
	ReasonSchedulerFailed    Reason = "scheduler_failed"
	ReasonSchedulerTimeLimit Reason = "scheduler_time_limit"
	// ReasonClientGone: the client that created the session, waiting for
	// it, went away before it could be told of it.
	ReasonClientGone Reason = "client_gone"
)

// Structure source values.
const (
	SourceNone   = "none"
	SourceUpload = "upload"
	SourcePDB    = "pdb"
	// SourceCheckpoint: the session resumed another's checkpoint (see
	// Session.ResumedFrom); Filename names the checkpoint file.
	SourceCheckpoint = "checkpoint"
)

// Structure describes what a session opened when it was created.
type Structure struct {
	Source    string `json:"source"`
	PDBID     string `json:"pdb_id,omitempty"`
	Filename  string `json:"filename,omitempty"`
	Format    string `json:"format,omitempty"`
	SizeBytes int64  `json:"size_bytes,omitempty"`
}

// Process is what chimerad knows of a session's ChimeraX child. It is for
// the daemon and admins only: never shown to a session's owner.
type Process struct {
	PID int `json:"pid,omitempty"`
	// StartTicks is the child's start time in clock ticks since boot, as in
	// /proc/<pid>/stat; with PID it names the process safely.
	StartTicks uint64 `json:"start_ticks,omitempty"`
	// ShimPID and ShimStartTicks name the session's shim, which holds the
	// child's stdio and outlives a daemon restart.
	ShimPID        int    `json:"shim_pid,omitempty"`
	ShimStartTicks uint64 `json:"shim_start_ticks,omitempty"`
	Port           int    `json:"port,omitempty"`
	// Sandboxed: the child has its own user and network namespaces; Port is
	// inside them, and the daemon reaches it through a relay socket.
	Sandboxed  bool     `json:"sandboxed,omitempty"`
	Dir        string   `json:"dir,omitempty"`
	ExitCode   *int     `json:"exit_code,omitempty"`
	Signal     string   `json:"signal,omitempty"`
	LastOutput []string `json:"last_output,omitempty"`
	// Scheduler is the session's Slurm job, with chimerax.launcher: slurm.
	Scheduler *Scheduler `json:"scheduler,omitempty"`
}

// Scheduler is what chimerad knows of a session's Slurm job: its id, its
// state and Slurm's reason for it as last seen, where it runs, and the
// limits it was submitted with. For the daemon and admins only.
type Scheduler struct {
	JobID string `json:"job_id"`
	// State is Slurm's (PENDING, RUNNING, CANCELLED, TIMEOUT…), Reason
	// why it waits or ended (Resources, Priority, None…).
	State  string `json:"state,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Node runs the job; Agent is its node agent's host:port.
	Node  string `json:"node,omitempty"`
	Agent string `json:"agent,omitempty"`
	// The job's limits, as submitted (zero: Slurm's default).
	Partition        string `json:"partition,omitempty"`
	Account          string `json:"account,omitempty"`
	TimeLimitSeconds int64  `json:"time_limit_seconds,omitempty"`
	CPUs             int    `json:"cpus,omitempty"`
	MemoryBytes      int64  `json:"memory_bytes,omitempty"`
}

// Session is the persisted record of one user session.
type Session struct {
	ID        string    `json:"id"`
	Owner     string    `json:"owner"`
	Name      string    `json:"name"`
	State     State     `json:"state"`
	Engine    string    `json:"engine"`
	Structure Structure `json:"structure"`

	CreatedAt      time.Time `json:"created_at"`
	ReadyAt        time.Time `json:"ready_at,omitzero"`
	LastActivityAt time.Time `json:"last_activity_at,omitzero"`
	// IdleTimeout is this session's own idle timeout; zero means the
	// daemon's default applies.
	IdleTimeout       time.Duration `json:"idle_timeout,omitempty"`
	TerminatedAt      time.Time     `json:"terminated_at,omitzero"`
	TerminationReason Reason        `json:"termination_reason,omitempty"`
	Error             string        `json:"error,omitempty"`

	Process *Process `json:"process,omitempty"`

	// Checkpoint is the latest checkpoint saved of this session, if any.
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	// ResumedFrom is the ended session whose checkpoint this one opened.
	ResumedFrom string `json:"resumed_from,omitempty"`
	// Stats is what the child did, recorded when the session ends.
	Stats *SessionStats `json:"stats,omitempty"`
	// FromPool: the session took a child from the warm pool.
	FromPool bool `json:"from_pool,omitempty"`
	// Restarts counts the times its ChimeraX was replaced (Restart).
	Restarts int `json:"restarts,omitempty"`
}

// Checkpoint is a ChimeraX session file (.cxs) saved of a session, kept
// after the session ends. Path is for the daemon and admins only.
type Checkpoint struct {
	Path      string    `json:"path"`
	At        time.Time `json:"at"`
	SizeBytes int64     `json:"size_bytes"`
}

// Validate reports whether s is fit to be stored.
func (s *Session) Validate() error {
	switch {
	case uuid.Validate(s.ID) != nil:
		return fmt.Errorf("%w: session id %q is not a UUID", ErrInvalid, s.ID)
	case s.Owner == "":
		return fmt.Errorf("%w: session %s has no owner", ErrInvalid, s.ID)
	case !s.State.Valid():
		return fmt.Errorf("%w: session %s has state %q", ErrInvalid, s.ID, s.State)
	case s.CreatedAt.IsZero():
		return fmt.Errorf("%w: session %s has no created_at", ErrInvalid, s.ID)
	case !s.State.Live() && s.TerminationReason == "":
		return fmt.Errorf("%w: ended session %s has no termination reason", ErrInvalid, s.ID)
	}
	return nil
}

// SessionFilter selects sessions for DB.Sessions. Zero fields select all.
type SessionFilter struct {
	Owner string
	State State
	// Live selects only sessions in a live state.
	Live bool
	// Limit caps the number returned; 0 means no cap.
	Limit int
	// After is a cursor from a previous page: return sessions older than it.
	After string
}

// Session returns the session with the given id. A live session's
// record comes from memory (livecache.go), equal to the file's.
func (db *DB) Session(ctx context.Context, id string) (Session, error) {
	if s, ok := db.live.get(id); ok {
		return s, nil
	}
	gen := db.live.generation()
	s, err := db.readSession(id)
	if err == nil {
		db.live.fill(gen, s)
	}
	return s, err
}

// readSession reads and decodes id's record from the file.
func (db *DB) readSession(id string) (Session, error) {
	var s Session
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSessions).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("session %s: %w", id, ErrNotFound)
		}
		return json.Unmarshal(v, &s)
	})
	return s, err
}

// Sessions returns the sessions that match f, newest first, and the cursor
// of the next page ("" when there is none).
func (db *DB) Sessions(ctx context.Context, f SessionFilter) ([]Session, string, error) {
	var (
		out  []Session
		next string
	)
	start, err := decodeCursor(f.After)
	if err != nil {
		return nil, "", err
	}
	pre := newPrefilter(f)
	// Past a full page, any further record is a match, and so proves a
	// next page, unless a state is asked for: only then is it decoded.
	byIndexAlone := f.State == "" && !f.Live
	err = db.bolt.View(func(tx *bolt.Tx) error {
		sessions := tx.Bucket(bucketSessions)
		// One owner's sessions are walked in their range of
		// sessions_by_owner, <owner> 0x00 <created key>; everyone's in
		// sessions_by_created, <created key>. bound is the first key not
		// to return: the cursor's, or the end of the owner's range.
		c, prefix, bound := tx.Bucket(bucketByCreated).Cursor(), []byte(nil), start
		if f.Owner != "" {
			c, prefix = tx.Bucket(bucketByOwner).Cursor(), ownerPrefix(f.Owner)
			if start != nil {
				bound = append(prefix[:len(prefix):len(prefix)], start...)
			} else {
				bound = append([]byte(f.Owner), 1)
			}
		}
		var k []byte
		if bound == nil {
			k, _ = c.Last()
		} else {
			// Seek lands on bound or the first key after it; either way
			// step back to the first key strictly before it.
			k, _ = c.Seek(bound)
			if k == nil {
				k, _ = c.Last()
			}
			for k != nil && bytes.Compare(k, bound) >= 0 {
				k, _ = c.Prev()
			}
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			if err := ctx.Err(); err != nil {
				return err
			}
			ck := k[len(prefix):] // the created key
			if len(ck) <= 8 {
				continue
			}
			v := sessions.Get(ck[8:])
			if v == nil || !pre.mayMatch(v) {
				continue
			}
			if f.Limit > 0 && len(out) == f.Limit && byIndexAlone {
				next = encodeCursor(createdKey(out[len(out)-1]))
				return nil
			}
			var s Session
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("session %s: %w", ck[8:], err)
			}
			if (f.Owner != "" && s.Owner != f.Owner) ||
				(f.State != "" && s.State != f.State) ||
				(f.Live && !s.State.Live()) {
				continue
			}
			if f.Limit > 0 && len(out) == f.Limit {
				next = encodeCursor(createdKey(out[len(out)-1]))
				return nil
			}
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: list sessions: %w", err)
	}
	return out, next, nil
}

// CreateSession stores a new session. Its ID must not exist yet.
func (db *DB) CreateSession(ctx context.Context, s *Session) error {
	if s.CreatedAt.IsZero() {
		s.CreatedAt = db.now()
	}
	if err := s.Validate(); err != nil {
		return err
	}
	return db.writeSessions(db.update, func(tx *bolt.Tx, w *sessionWrites) error {
		b := tx.Bucket(bucketSessions)
		if b.Get([]byte(s.ID)) != nil {
			return fmt.Errorf("session %s: %w", s.ID, ErrExists)
		}
		if err := w.putSession(b, s); err != nil {
			return err
		}
		if err := tx.Bucket(bucketByCreated).Put(createdKey(*s), nil); err != nil {
			return err
		}
		return tx.Bucket(bucketByOwner).Put(ownerKey(*s), nil)
	})
}

// UpdateSession applies fn to the stored session with id inside one
// transaction and stores the result. If fn returns an error nothing is
// written and that error is returned.
func (db *DB) UpdateSession(ctx context.Context, id string, fn func(*Session) error) (Session, error) {
	var s Session
	err := db.writeSessions(db.update, func(tx *bolt.Tx, w *sessionWrites) error {
		b := tx.Bucket(bucketSessions)
		v := b.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("session %s: %w", id, ErrNotFound)
		}
		s = Session{}
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		created, owner := s.CreatedAt, s.Owner
		if err := fn(&s); err != nil {
			return err
		}
		// They make the session's keys in sessions_by_created and
		// sessions_by_owner.
		if s.ID != id || !s.CreatedAt.Equal(created) || s.Owner != owner {
			return fmt.Errorf("%w: session %s: id, owner and created_at are fixed", ErrInvalid, id)
		}
		if err := s.Validate(); err != nil {
			return err
		}
		return w.putSession(b, &s)
	})
	return s, err
}

// DeleteSession removes a session record for good.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	return db.writeSessions(db.update, func(tx *bolt.Tx, w *sessionWrites) error {
		b := tx.Bucket(bucketSessions)
		v := b.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("session %s: %w", id, ErrNotFound)
		}
		var s Session
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		if err := tx.Bucket(bucketByCreated).Delete(createdKey(s)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketByOwner).Delete(ownerKey(s)); err != nil {
			return err
		}
		w.remove(id)
		return b.Delete([]byte(id))
	})
}

// PurgeSessions deletes every ended session that ended before cutoff and
// returns how many it deleted. It reads only sessions created before cutoff,
// oldest first, since a session ends after it is created.
func (db *DB) PurgeSessions(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := db.writeSessions(db.update, func(tx *bolt.Tx, w *sessionWrites) error {
		sessions, index, byOwner := tx.Bucket(bucketSessions), tx.Bucket(bucketByCreated), tx.Bucket(bucketByOwner)
		c := index.Cursor()
		limit := uint64(cutoff.UnixNano())
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k[:8]) < limit; {
			var s Session
			if v := sessions.Get(k[8:]); v != nil {
				if err := json.Unmarshal(v, &s); err != nil {
					return fmt.Errorf("session %s: %w", k[8:], err)
				}
				if s.State.Live() || !s.TerminatedAt.Before(cutoff) {
					k, _ = c.Next()
					continue
				}
				if err := byOwner.Delete(ownerKey(s)); err != nil {
					return err
				}
				if err := sessions.Delete(k[8:]); err != nil {
					return err
				}
				w.remove(s.ID)
			}
			// After a delete, seek again from a copy of the key: the cursor's
			// position and the key's memory are not reliable past it.
			key := append([]byte(nil), k...)
			if err := c.Delete(); err != nil {
				return err
			}
			n++
			k, _ = c.Seek(key)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: purge sessions: %w", err)
	}
	return n, nil
}

func createdKey(s Session) []byte {
	k := make([]byte, 8, 8+len(s.ID))
	binary.BigEndian.PutUint64(k, uint64(s.CreatedAt.UnixNano()))
	return append(k, s.ID...)
}

// ownerPrefix starts the keys of owner's sessions in sessions_by_owner.
func ownerPrefix(owner string) []byte {
	k := make([]byte, 0, len(owner)+1+8+36)
	return append(append(k, owner...), 0)
}

// ownerKey is s's key in sessions_by_owner: its owner, 0x00, and its key
// in sessions_by_created.
func ownerKey(s Session) []byte { return append(ownerPrefix(s.Owner), createdKey(s)...) }

// backfillByOwner fills sessions_by_owner from the sessions bucket, for a
// file written before the index existed.
func backfillByOwner(tx *bolt.Tx) error {
	index := tx.Bucket(bucketByOwner)
	return tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
		var s struct {
			ID        string    `json:"id"`
			Owner     string    `json:"owner"`
			CreatedAt time.Time `json:"created_at"`
		}
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("session %s: %w", k, err)
		}
		return index.Put(ownerKey(Session{ID: s.ID, Owner: s.Owner, CreatedAt: s.CreatedAt}), nil)
	})
}

func encodeCursor(k []byte) string { return base64.RawURLEncoding.EncodeToString(k) }

func decodeCursor(c string) ([]byte, error) {
	if c == "" {
		return nil, nil
	}
	k, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(k) <= 8 {
		return nil, fmt.Errorf("%w: bad cursor %q", ErrInvalid, c)
	}
	return k, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	buf, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, buf)
}
