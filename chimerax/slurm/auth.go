package slurm

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files in a session directory.
const (
	// KeyFile holds the session's secret, hex, 0600: the daemon writes it
	// before it submits, and only the daemon and the job (same user) read it.
	KeyFile = "agent.key"
	// AgentFile is where the agent publishes its address once ChimeraX
	// is ready (agentInfo, JSON, 0600).
	AgentFile = "agent.json"
	// jobScript is the batch script sbatch runs; agentLog the job's
	// stdout and stderr (the agent's own messages).
	jobScript = "job.sh"
	agentLog  = "agent.log"
	// LogFile is ChimeraX's output, as with a local child.
	LogFile = "chimerax.log"
)

// greeting opens the agent's side of every connection.
const greeting = "chimerad-agent/1"

// handshakeTimeout bounds the whole challenge and response.
const handshakeTimeout = 10 * time.Second

var errAuth = errors.New("slurm: agent authentication failed")

// NewKey writes a fresh random secret into dir's KeyFile (0600).
func NewKey(dir string) ([]byte, error) {
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return key, nil
}

// ReadKey reads the secret in dir's KeyFile.
func ReadKey(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("%s: not a key", KeyFile)
	}
	return key, nil
}

// proof is the HMAC one side shows: over its role and both nonces, so
// that neither a reflected nor a replayed answer passes.
func proof(key []byte, role, agentNonce, daemonNonce string) string {
	m := hmac.New(sha256.New, key)
	io.WriteString(m, role+"\x00"+agentNonce+"\x00"+daemonNonce)
	return hex.EncodeToString(m.Sum(nil))
}

func nonce() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// readLine reads one short line a byte at a time, so that nothing after
// it is consumed from conn (the REST relay's bytes follow the handshake).
func readLine(conn net.Conn) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < 512 {
		if _, err := conn.Read(one); err != nil {
			return "", err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
	return "", errors.New("line too long")
}

// clientHandshake is the daemon's side: it answers the agent's challenge
// with its proof and its own challenge, checks the agent's proof, then
// asks for op.
//
//	agent:  chimerad-agent/1 <agent nonce>
//	daemon: <daemon nonce> <HMAC(key, "daemon", nonces)>
//	agent:  <HMAC(key, "agent", nonces)>
//	daemon: <op>
func clientHandshake(conn net.Conn, key []byte, op string) error {
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	defer conn.SetDeadline(time.Time{})
	line, err := readLine(conn)
	if err != nil {
		return fmt.Errorf("%w: read greeting: %v", errAuth, err)
	}
	g, an, ok := strings.Cut(line, " ")
	if !ok || g != greeting || len(an) != 64 {
		return fmt.Errorf("%w: not an agent", errAuth)
	}
	dn := nonce()
	if _, err := io.WriteString(conn, dn+" "+proof(key, "daemon", an, dn)+"\n"); err != nil {
		return fmt.Errorf("%w: %v", errAuth, err)
	}
	line, err = readLine(conn)
	if err != nil {
		return fmt.Errorf("%w: the agent refused our proof: %v", errAuth, err)
	}
	if !hmac.Equal([]byte(line), []byte(proof(key, "agent", an, dn))) {
		return fmt.Errorf("%w: the agent does not know the session's key", errAuth)
	}
	_, err = io.WriteString(conn, op+"\n")
	return err
}

// serverHandshake is the agent's side; it returns the op asked for.
func serverHandshake(conn net.Conn, key []byte) (string, error) {
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	defer conn.SetDeadline(time.Time{})
	an := nonce()
	if _, err := io.WriteString(conn, greeting+" "+an+"\n"); err != nil {
		return "", err
	}
	line, err := readLine(conn)
	if err != nil {
		return "", err
	}
	dn, p, ok := strings.Cut(line, " ")
	if !ok || len(dn) != 64 || !hmac.Equal([]byte(p), []byte(proof(key, "daemon", an, dn))) {
		return "", errAuth
	}
	if _, err := io.WriteString(conn, proof(key, "agent", an, dn)+"\n"); err != nil {
		return "", err
	}
	return readLine(conn)
}
