package cmd

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe to read while the log (or a
// process) writes it; cmd_test's tests use it as LockedBuffer.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// LockedBuffer is lockedBuffer for the external tests (package cmd_test).
type LockedBuffer = lockedBuffer

// TestLogBufferWarningsAtOnce: info lines wait; a warning or an error
// goes out at once, after them and in order; Flush writes what waits.
func TestLogBufferWarningsAtOnce(t *testing.T) {
	var out lockedBuffer
	w, flushLog := newLogBuffer(&out, time.Hour) // never by the timer here
	log := newLogger(w, LogConfig{Level: "debug", Format: "json"})
	log.Info().Msg("one")
	log.Debug().Msg("two")
	if got := out.String(); got != "" {
		t.Fatalf("info lines written at once: %q", got)
	}
	log.Warn().Msg("three")
	if got := messages(out.String()); got != "one two three" {
		t.Errorf("after a warning = %q, want one two three", got)
	}
	log.Info().Msg("four")
	log.Error().Msg("five")
	if got := messages(out.String()); got != "one two three four five" {
		t.Errorf("after an error = %q", got)
	}
	log.Info().Msg("six")
	if err := flushLog(); err != nil {
		t.Fatal(err)
	}
	if got := messages(out.String()); got != "one two three four five six" {
		t.Errorf("after Flush = %q", got)
	}
}

// TestLogBufferFlushes: waiting lines go out by themselves, by the timer
// or once logBufferMax bytes wait.
func TestLogBufferFlushes(t *testing.T) {
	var timed lockedBuffer
	w, _ := newLogBuffer(&timed, time.Millisecond)
	timedLog := newLogger(w, LogConfig{Level: "info", Format: "json"})
	timedLog.Info().Msg("timed")
	deadline := time.Now().Add(10 * time.Second)
	for messages(timed.String()) != "timed" {
		if time.Now().After(deadline) {
			t.Fatal("a waiting line was never written")
		}
		time.Sleep(time.Millisecond)
	}

	var full lockedBuffer
	w, _ = newLogBuffer(&full, time.Hour)
	log := newLogger(w, LogConfig{Level: "info", Format: "json"})
	line := strings.Repeat("x", 1000)
	for range logBufferMax/1000 + 1 {
		log.Info().Msg(line)
	}
	if full.String() == "" {
		t.Error("nothing written with more than logBufferMax waiting")
	}

	// Without an interval, the writer is the output itself.
	var direct lockedBuffer
	if w, _ := newLogBuffer(&direct, 0); w != &direct {
		t.Errorf("newLogBuffer(0) = %T, want the output itself", w)
	}
}

// messages are the "message" fields of JSON log lines, space-separated.
func messages(log string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if _, rest, ok := strings.Cut(l, `"message":"`); ok {
			msg, _, _ := strings.Cut(rest, `"`)
			out = append(out, msg)
		}
	}
	return strings.Join(out, " ")
}
