package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SetLastActivity records the latest activity of many sessions in one
// transaction: each live session whose stored last_activity_at is older
// than its entry in at gets that time. Ended or missing sessions are
// skipped. The supervisor keeps activity in memory and calls this every
// few seconds, so a crash loses at most that interval of timestamps.
func (db *DB) SetLastActivity(ctx context.Context, at map[string]time.Time) error {
	if len(at) == 0 {
		return nil
	}
	err := db.writeSessions(db.batch, func(tx *bolt.Tx, w *sessionWrites) error {
		b := tx.Bucket(bucketSessions)
		for id, t := range at {
			v := b.Get([]byte(id))
			if v == nil {
				continue
			}
			var s Session
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("session %s: %w", id, err)
			}
			if !s.State.Live() || !t.After(s.LastActivityAt) {
				continue
			}
			s.LastActivityAt = t
			if err := w.putSession(b, &s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: record activity: %w", err)
	}
	return nil
}
