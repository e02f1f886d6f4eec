package cmd

import (
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// logBufferMax is how much of the log may wait in memory before a write.
const logBufferMax = 64 << 10

// logBuffer is where the daemon's JSON log goes on its way to stderr: the
// lines below warn (the access log of every request, mostly) wait in
// memory for up to an interval, or until logBufferMax bytes wait, and go
// out in one write, off the requests' path. A warning or an error, or a
// line of unknown level, goes out at once with the lines before it, in
// order: none waits, so none is lost to a crash that follows it. Close
// writes what waits. A crash loses at most an interval of info and debug
// lines.
type logBuffer struct {
	out      io.Writer
	interval time.Duration

	mu     sync.Mutex
	buf    []byte
	timer  *time.Timer // the pending write, if any
	closed bool
}

// newLogBuffer returns out itself when interval is 0, else a buffer in
// front of it; close writes what waits.
func newLogBuffer(out io.Writer, interval time.Duration) (w io.Writer, close func() error) {
	if interval <= 0 {
		return out, func() error { return nil }
	}
	b := &logBuffer{out: out, interval: interval}
	return b, b.Close
}

// Write takes a line of unknown level: it goes out at once.
func (b *logBuffer) Write(p []byte) (int, error) { return b.WriteLevel(zerolog.NoLevel, p) }

// WriteLevel takes one line of zerolog's at level l.
func (b *logBuffer) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if l >= zerolog.WarnLevel || b.closed || len(b.buf) >= logBufferMax {
		return len(p), b.flushLocked()
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(b.interval, b.flush)
	}
	return len(p), nil
}

func (b *logBuffer) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *logBuffer) flushLocked() error {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.out.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// Close writes what waits; later lines go out at once.
func (b *logBuffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.flushLocked()
}
