package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// User is a person or script allowed to use the API.
type User struct {
	Name      string    `json:"name"`
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"created_at"`
	// TokenIssuedAt is when the user's current token was made: what was
	// signed with it (server's signed URLs) dies with it.
	TokenIssuedAt time.Time `json:"token_issued_at,omitzero"`
}

// Token is the stored half of an API token: whose it is. The token itself
// is never stored, only its SHA-256 hash as the key.
type Token struct {
	User      string    `json:"user"`
	CreatedAt time.Time `json:"created_at"`
}

// TokenPrefix starts every API token so that it is recognizable in a
// config file or a leaked log.
const TokenPrefix = "chx_"

var userNameRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,63}$`)

// ValidateUserName reports whether name is acceptable as a user name:
// lower-case letters, digits, '.', '_' and '-', starting with a letter, at
// most 64 characters.
func ValidateUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return fmt.Errorf("%w: user name %q: want 1-64 of a-z 0-9 . _ -, starting with a letter", ErrInvalid, name)
	}
	return nil
}

// NewToken returns a fresh random token and the hash under which it is stored.
func NewToken() (token string, hash [32]byte) {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken returns the SHA-256 hash under which token is stored.
func HashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// User returns the named user.
func (db *DB) User(ctx context.Context, name string) (User, error) {
	var u User
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUsers).Get([]byte(name))
		if v == nil {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		return json.Unmarshal(v, &u)
	})
	return u, err
}

// Users returns every user, sorted by name.
func (db *DB) Users(ctx context.Context) ([]User, error) {
	var out []User
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u User
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("user %s: %w", k, err)
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

// CreateUser stores a new user and returns its first API token.
func (db *DB) CreateUser(ctx context.Context, name string, admin bool) (User, string, error) {
	if err := ValidateUserName(name); err != nil {
		return User{}, "", err
	}
	now := db.now()
	u := User{Name: name, Admin: admin, CreatedAt: now, TokenIssuedAt: now}
	token, hash := NewToken()
	err := db.update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		if users.Get([]byte(name)) != nil {
			return fmt.Errorf("user %s: %w", name, ErrExists)
		}
		if err := putJSON(users, []byte(name), u); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketTokens), hash[:], Token{User: name, CreatedAt: u.CreatedAt})
	})
	if err != nil {
		return User{}, "", err
	}
	return u, token, nil
}

// DeleteUser removes a user and revokes all its tokens. Its sessions stay:
// ending them is the caller's job.
func (db *DB) DeleteUser(ctx context.Context, name string) error {
	defer db.auth.reset()
	return db.update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		if users.Get([]byte(name)) == nil {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		if err := revokeTokens(tx, name); err != nil {
			return err
		}
		return users.Delete([]byte(name))
	})
}

// RotateToken revokes every token of the named user and returns a new one.
func (db *DB) RotateToken(ctx context.Context, name string) (string, error) {
	token, hash := NewToken()
	defer db.auth.reset()
	err := db.update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		v := users.Get([]byte(name))
		if v == nil {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		var user User
		if err := json.Unmarshal(v, &user); err != nil {
			return err
		}
		if err := revokeTokens(tx, name); err != nil {
			return err
		}
		now := db.now()
		user.TokenIssuedAt = now
		if err := putJSON(users, []byte(name), user); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketTokens), hash[:], Token{User: name, CreatedAt: now})
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// UserByToken returns the user a token belongs to, or ErrNotFound. Known
// tokens are answered from memory (authcache.go).
func (db *DB) UserByToken(ctx context.Context, token string) (User, error) {
	if !strings.HasPrefix(token, TokenPrefix) {
		return User{}, errTokenNotFound
	}
	hash := HashToken(token)
	if u, ok := db.auth.get(hash); ok {
		return u, nil
	}
	var u User
	err := db.bolt.View(func(tx *bolt.Tx) error {
		tokens := tx.Bucket(bucketTokens)
		k, v := tokens.Cursor().Seek(hash[:])
		if k == nil || subtle.ConstantTimeCompare(k, hash[:]) != 1 {
			return fmt.Errorf("token: %w", ErrNotFound)
		}
		var t Token
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		uv := tx.Bucket(bucketUsers).Get([]byte(t.User))
		if uv == nil {
			return fmt.Errorf("token: %w", ErrNotFound)
		}
		return json.Unmarshal(uv, &u)
	})
	if err == nil {
		db.auth.put(hash, u)
	}
	return u, err
}

// errTokenNotFound is returned for a malformed token without a fresh
// allocation per request.
var errTokenNotFound = fmt.Errorf("token: %w", ErrNotFound)

// revokeTokens deletes every token of user. Tokens are few (one per user
// after a rotation), so a scan is fine.
func revokeTokens(tx *bolt.Tx, user string) error {
	b := tx.Bucket(bucketTokens)
	var doomed [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var t Token
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		if t.User == user {
			doomed = append(doomed, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
