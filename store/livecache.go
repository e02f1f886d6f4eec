package store

import (
	"encoding/json"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// liveCache keeps the records of live sessions in memory, exactly as a
// read of the file would return them, so that DB.Session on a live
// session (every GET, heartbeat and command of its owner) costs a map
// lookup and a copy instead of a bbolt read and a JSON decode. Ended
// records are not kept: they are many, and not on hot paths.
//
// The daemon is the only writer of its file (bbolt's lock keeps any
// other process out), and every write of the sessions bucket goes through
// writeSessions, which holds wmu from the transaction to its entry here:
// the cache takes the commits in their order. An entry is decoded from
// the very bytes written, so it equals what the file holds. A read that
// misses (a live session not written since Open) fills its entry only if
// no write was applied since the read began (gen), so it cannot put back
// a record older than a write it raced with.
type liveCache struct {
	wmu sync.Mutex // held from a session write's transaction to its apply

	mu   sync.RWMutex
	recs map[string]*Session // never modified in place: replaced
	gen  uint64              // writes applied so far
}

// get returns a copy of id's cached record.
func (l *liveCache) get(id string) (Session, bool) {
	l.mu.RLock()
	s, ok := l.recs[id]
	l.mu.RUnlock()
	if !ok {
		return Session{}, false
	}
	return s.clone(), true
}

// generation is the number of writes applied; a fill passes it back.
func (l *liveCache) generation() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.gen
}

// fill caches s, read from the file when the generation was gen, unless a
// write has been applied since: that write may be newer than s.
func (l *liveCache) fill(gen uint64, s Session) {
	if !s.State.Live() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen != gen {
		return
	}
	if l.recs == nil {
		l.recs = make(map[string]*Session)
	}
	c := s.clone()
	l.recs[s.ID] = &c
}

// sessionWrites are the records one transaction wrote (their JSON, as
// put) and removed.
type sessionWrites struct {
	put     map[string][]byte
	removed []string
}

// putSession stores s in the sessions bucket and notes it for the cache.
func (w *sessionWrites) putSession(b *bolt.Bucket, s *Session) error {
	buf, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := b.Put([]byte(s.ID), buf); err != nil {
		return err
	}
	if w.put == nil {
		w.put = make(map[string][]byte)
	}
	w.put[s.ID] = buf
	return nil
}

// remove notes that id's record was deleted.
func (w *sessionWrites) remove(id string) { w.removed = append(w.removed, id) }

// writeSessions runs fn in a read-write transaction through commit
// (db.update or db.batch) and, once it has committed, applies what it
// wrote to the live cache before any other session write can begin.
func (db *DB) writeSessions(commit func(func(*bolt.Tx) error) error, fn func(*bolt.Tx, *sessionWrites) error) error {
	db.live.wmu.Lock()
	defer db.live.wmu.Unlock()
	var w sessionWrites
	err := commit(func(tx *bolt.Tx) error {
		w = sessionWrites{} // a batch may run fn again
		return fn(tx, &w)
	})
	if err != nil {
		return err
	}
	db.live.apply(w)
	return nil
}

// apply brings the cache up to date with one committed transaction.
func (l *liveCache) apply(w sessionWrites) {
	recs := make(map[string]*Session, len(w.put))
	for id, buf := range w.put {
		var s Session
		if json.Unmarshal(buf, &s) == nil && s.State.Live() {
			recs[id] = &s
		} else {
			recs[id] = nil // ended (or unreadable): read from the file
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	if l.recs == nil {
		l.recs = make(map[string]*Session)
	}
	for id, s := range recs {
		if s == nil {
			delete(l.recs, id)
		} else {
			l.recs[id] = s
		}
	}
	for _, id := range w.removed {
		delete(l.recs, id)
	}
}

// clone returns a copy of s that shares no memory with it.
func (s Session) clone() Session {
	if s.Process != nil {
		p := *s.Process
		if p.ExitCode != nil {
			code := *p.ExitCode
			p.ExitCode = &code
		}
		p.LastOutput = slices.Clone(p.LastOutput)
		if p.Scheduler != nil {
			sch := *p.Scheduler
			p.Scheduler = &sch
		}
		s.Process = &p
	}
	if s.Checkpoint != nil {
		c := *s.Checkpoint
		s.Checkpoint = &c
	}
	if s.Stats != nil {
		st := *s.Stats
		s.Stats = &st
	}
	return s
}
