package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SessionStats is what a session's ChimeraX child did: kept in memory while
// the session lives, recorded in the session when it ends.
type SessionStats struct {
	// Commands is the number of commands sent to the child.
	Commands int64 `json:"commands"`
	// CPUSeconds is the child's CPU time, with the processes it waited for.
	CPUSeconds float64 `json:"cpu_seconds"`
	// RSSBytes is the resident memory of the child's process group; only
	// while it lives.
	RSSBytes int64 `json:"rss_bytes,omitempty"`
	// DiskBytes is what the files in the session's directory use, as last
	// measured (at the start of its first read, and around each command
	// that writes files); only while it lives.
	DiskBytes int64 `json:"disk_bytes,omitempty"`
}

// UsageQuery selects and completes the sessions DB.Usage counts.
type UsageQuery struct {
	// Since keeps the sessions created at or after it; zero keeps all.
	Since time.Time
	// Now is the end of the period: live sessions count up to it.
	Now time.Time
	// LiveStats, if set, gives the stats of a live session, which its
	// record does not hold yet.
	LiveStats func(id string) (SessionStats, bool)
}

// Usage is what the sessions created in a period used, by user and in all.
type Usage struct {
	// Since is the start of the period; absent for all time.
	Since time.Time `json:"since,omitzero"`
	// Until is when the figures were computed.
	Until  time.Time   `json:"until"`
	Totals UsageCounts `json:"totals"`
	// Users has one entry per user with sessions in the period, by name.
	Users []UserUsage `json:"users"`
	// Start describes the start times (ready_at − created_at) of the
	// sessions that became ready.
	Start StartTimes `json:"start_seconds"`
}

// UsageCounts are the figures of Usage.
type UsageCounts struct {
	SessionsCreated int `json:"sessions_created"`
	// Live counts the sessions still starting, ready or stopping.
	Live int `json:"live"`
	// SessionHours sums, over sessions, the time from ready (or created,
	// for those that never became ready) to their end (or Until).
	SessionHours float64 `json:"session_hours"`
	// Ended counts ended sessions by termination reason.
	Ended map[Reason]int `json:"ended"`
	// Commands and CPUSeconds sum the sessions' stats, live ones included
	// when UsageQuery.LiveStats gives them.
	Commands   int64   `json:"commands"`
	CPUSeconds float64 `json:"cpu_seconds"`
}

// UserUsage is one user's UsageCounts.
type UserUsage struct {
	User string `json:"user"`
	UsageCounts
}

// StartTimes summarises start times in seconds.
type StartTimes struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean"`
	P95   float64 `json:"p95"`
}

func (u *UsageCounts) add(s Session, stats *SessionStats, now time.Time) {
	if u.Ended == nil {
		u.Ended = make(map[Reason]int)
	}
	u.SessionsCreated++
	if s.State.Live() {
		u.Live++
	} else {
		u.Ended[s.TerminationReason]++
	}
	from, to := s.ReadyAt, s.TerminatedAt
	if from.IsZero() {
		from = s.CreatedAt
	}
	if to.IsZero() {
		to = now
	}
	if d := to.Sub(from); d > 0 {
		u.SessionHours += d.Hours()
	}
	if stats != nil {
		u.Commands += stats.Commands
		u.CPUSeconds += stats.CPUSeconds
	}
}

// Usage reads every session created in the period once, in one read
// transaction, and sums what they used. It is meant for an occasional
// admin request: its cost grows with the sessions in the period.
func (db *DB) Usage(ctx context.Context, q UsageQuery) (Usage, error) {
	var (
		recs  []Session
		since []byte
	)
	if !q.Since.IsZero() {
		since = binary.BigEndian.AppendUint64(nil, uint64(q.Since.UnixNano()))
	}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		sessions := tx.Bucket(bucketSessions)
		c := tx.Bucket(bucketByCreated).Cursor()
		k, _ := c.First()
		if since != nil {
			k, _ = c.Seek(since)
		}
		for ; k != nil; k, _ = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			v := sessions.Get(k[8:])
			if v == nil {
				continue
			}
			var s Session
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("session %s: %w", k[8:], err)
			}
			recs = append(recs, s)
		}
		return nil
	})
	if err != nil {
		return Usage{}, fmt.Errorf("store: usage: %w", err)
	}

	u := Usage{Since: q.Since, Until: q.Now, Users: []UserUsage{}, Totals: UsageCounts{Ended: map[Reason]int{}}}
	users := make(map[string]*UsageCounts)
	var starts []float64
	for _, s := range recs {
		stats := s.Stats
		if s.State.Live() && q.LiveStats != nil {
			if live, ok := q.LiveStats(s.ID); ok {
				stats = &live
			}
		}
		u.Totals.add(s, stats, q.Now)
		if users[s.Owner] == nil {
			users[s.Owner] = &UsageCounts{}
		}
		users[s.Owner].add(s, stats, q.Now)
		if !s.ReadyAt.IsZero() {
			starts = append(starts, s.ReadyAt.Sub(s.CreatedAt).Seconds())
		}
	}
	for name, c := range users {
		u.Users = append(u.Users, UserUsage{User: name, UsageCounts: *c})
	}
	sort.Slice(u.Users, func(i, j int) bool { return u.Users[i].User < u.Users[j].User })
	u.Start = startTimes(starts)
	return u, nil
}

// startTimes returns the count, mean and 95th percentile (nearest rank) of d.
func startTimes(d []float64) StartTimes {
	if len(d) == 0 {
		return StartTimes{}
	}
	slices.Sort(d)
	var sum float64
	for _, v := range d {
		sum += v
	}
	rank := int(math.Ceil(0.95*float64(len(d)))) - 1
	return StartTimes{Count: len(d), Mean: sum / float64(len(d)), P95: d[rank]}
}
