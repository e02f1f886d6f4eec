package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// MarkResume notes session id as one the next daemon is to start again
// from its checkpoint (session.on_restart: resume).
func (db *DB) MarkResume(ctx context.Context, id string) error {
	err := db.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSessions).Get([]byte(id)) == nil {
			return fmt.Errorf("session %s: %w", id, ErrNotFound)
		}
		return tx.Bucket(bucketResume).Put([]byte(id), nil)
	})
	if err != nil {
		return fmt.Errorf("store: mark session %s for resume: %w", id, err)
	}
	return nil
}

// ResumeMarks returns the sessions marked by MarkResume.
func (db *DB) ResumeMarks(ctx context.Context) ([]string, error) {
	var ids []string
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketResume).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: resume marks: %w", err)
	}
	return ids, nil
}

// UnmarkResume forgets the mark of session id, if any.
func (db *DB) UnmarkResume(ctx context.Context, id string) error {
	err := db.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketResume).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("store: unmark session %s: %w", id, err)
	}
	return nil
}
