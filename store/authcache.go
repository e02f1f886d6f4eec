package store

import "sync"

// authCache maps token hashes to their users, so that resolving a token on
// every request costs one map lookup instead of a bbolt read and two JSON
// decodes. Only hits are cached (a miss would let anyone fill memory with
// made-up tokens), and every write to users or tokens empties it: such
// writes are rare (a rotation, a removal) and emptying is obviously right.
//
// The key is the SHA-256 of the presented token, never the token: a map
// lookup is not constant-time, but what it could leak by timing is how
// many leading bytes of a hash match a stored one, and finding a token
// whose hash starts with chosen bytes is a preimage search, so that leaks
// nothing about any real token.
type authCache struct {
	mu    sync.RWMutex
	users map[[32]byte]User
}

func (a *authCache) get(hash [32]byte) (User, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	u, ok := a.users[hash]
	return u, ok
}

func (a *authCache) put(hash [32]byte, u User) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.users == nil {
		a.users = make(map[[32]byte]User)
	}
	a.users[hash] = u
}

// reset forgets every entry; writes to users and tokens call it.
func (a *authCache) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.users)
}
