package store

// ReadSession reads id's record from the file, past the live cache.
func (db *DB) ReadSession(id string) (Session, error) { return db.readSession(id) }

// Clone is Session.clone, for the test that it shares no memory.
func (s Session) Clone() Session { return s.clone() }

// Cached reports whether id's record is in the live cache.
func (db *DB) Cached(id string) bool {
	_, ok := db.live.get(id)
	return ok
}
