// Package store persists chimerad's records in one bbolt file,
// <data-dir>/chimerad.db. It knows nothing of processes or HTTP.
//
// The bucket tree, every bucket created in one transaction at Open:
//
//	meta/
//	    "schema"                      → "1"
//	sessions/
//	    <session id>                  → Session, JSON
//	sessions_by_created/
//	    <created_at unix nanos, 8 bytes big-endian><session id> → empty
//	users/
//	    <user name>                   → User, JSON
//	tokens/
//	    <SHA-256 of the token, 32 bytes> → Token, JSON (the user it belongs to)
//	resume/
//	    <session id>                  → empty: a session a daemon shut down
//	                                    after checkpointing it, for the next
//	                                    one to start again (session.on_restart:
//	                                    resume)
//
// sessions_by_created orders sessions by creation time, so listing newest
// first and paging with a cursor never sorts the whole bucket;
// sessions_by_owner does the same within each owner's range (user names
// never contain 0x00), so one user's list reads only that user's records.
// A file written before sessions_by_owner existed gets it at Open, filled
// from the sessions in the same transaction. Tokens are never stored in
// the clear: only their hash is a key.
//
// The records of live sessions are also kept in memory, as the file has
// them (livecache.go): the daemon is the file's only writer, so a read of
// a live session needs neither bbolt nor a JSON decode.
//
// A write the disk has no room for returns ErrNoSpace and leaves the file
// as it was (bbolt commits all of a transaction or nothing); Full says so
// until a write succeeds. Open writes nothing to a file that already has
// this schema, so a daemon can start on a full disk.
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Errors returned by the store. Callers match them with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	ErrInvalid  = errors.New("store: invalid record")
	ErrLocked   = errors.New("store: database is locked by another process")
	// ErrNoSpace: a write failed because the disk holding the data
	// directory is full. Nothing of that write was kept; reads still work.
	ErrNoSpace = errors.New("store: the disk holding chimerad's data is full")
)

const schemaVersion = "1"

var (
	bucketMeta      = []byte("meta")
	bucketSessions  = []byte("sessions")
	bucketByCreated = []byte("sessions_by_created")
	bucketByOwner   = []byte("sessions_by_owner")
	bucketUsers     = []byte("users")
	bucketTokens    = []byte("tokens")
	bucketResume    = []byte("resume")
)

// buckets are every bucket of the schema: Open creates those missing.
var buckets = [][]byte{bucketMeta, bucketSessions, bucketByCreated, bucketByOwner, bucketUsers, bucketTokens, bucketResume}

// FileName is the name of the database file inside the data directory.
const FileName = "chimerad.db"

// DB is chimerad's open database.
type DB struct {
	bolt *bolt.DB
	dir  string
	auth authCache // token hash → user (authcache.go)
	live liveCache // live sessions' records (livecache.go)
	// full is set while writes fail for want of space: from a write that
	// failed with ENOSPC to the next one that succeeds.
	full atomic.Bool

	// Now stamps records; tests replace it to control the clock.
	Now func() time.Time
}

// Open opens (creating if needed) the database in dir. If another process
// holds the file, Open gives up after lockTimeout with an error wrapping
// ErrLocked that names dir, instead of waiting for ever.
func Open(dir string, lockTimeout time.Duration) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("another chimerad is using %s: %w", dir, ErrLocked)
	} else if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{bolt: bdb, dir: dir, Now: time.Now}
	if db.ready() {
		return db, nil // nothing to write: a full disk does not stop a start
	}
	err = db.update(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta); v != nil {
			if v := v.Get([]byte("schema")); v != nil && string(v) != schemaVersion {
				return fmt.Errorf("schema %q, this chimerad reads %q", v, schemaVersion)
			}
		}
		fillByOwner := tx.Bucket(bucketByOwner) == nil
		for _, name := range buckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if fillByOwner {
			if err := backfillByOwner(tx); err != nil {
				return fmt.Errorf("fill %s: %w", bucketByOwner, err)
			}
		}
		return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte(schemaVersion))
	})
	if err != nil {
		bdb.Close()
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	return db, nil
}

// ready reports whether the file already holds this schema's buckets, so
// Open need not write.
func (db *DB) ready() bool {
	ok := false
	db.bolt.View(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			if tx.Bucket(name) == nil {
				return nil
			}
		}
		ok = string(tx.Bucket(bucketMeta).Get([]byte("schema"))) == schemaVersion
		return nil
	})
	return ok
}

// update runs a read-write transaction, and batch a batched one; both
// note whether the disk is full (see Full).
func (db *DB) update(fn func(*bolt.Tx) error) error { return db.noteWrite(db.bolt.Update(fn)) }
func (db *DB) batch(fn func(*bolt.Tx) error) error  { return db.noteWrite(db.bolt.Batch(fn)) }

func (db *DB) noteWrite(err error) error {
	switch {
	case err == nil:
		db.full.Store(false)
	case errors.Is(err, syscall.ENOSPC):
		db.full.Store(true)
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// Full reports whether the last write failed because the disk is full
// (ErrNoSpace); the next write that succeeds clears it.
func (db *DB) Full() bool { return db.full.Load() }

// Close closes the database file.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.bolt.Path() }

// Check runs bbolt's consistency check over the whole file and returns the
// first problem found, if any.
func (db *DB) Check() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("store: check: %w", err)
		}
		return nil
	})
}

// Ping proves the file is writable by writing the meta bucket. A ping
// that succeeds does not clear Full: it rewrites a page the file already
// has, where a session's record may need new ones.
func (db *DB) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("ping"), []byte(db.now().Format(time.RFC3339Nano)))
	})
	if err != nil {
		return db.noteWrite(err)
	}
	return nil
}

func (db *DB) now() time.Time { return db.Now().UTC() }
