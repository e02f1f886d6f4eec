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
// order: none waits, so none is lost to a crash that follows it. Flush
// writes what waits (serve calls it once serving, and at its end). A
// crash loses at most an interval of info and debug lines.
type logBuffer struct {
	out      io.Writer
	interval time.Duration

	mu    sync.Mutex
	buf   []byte
	timer *time.Timer // the pending write, if any
}

// newLogBuffer returns out itself when interval is 0, else a buffer in
// front of it; flush writes what waits, and is to be called at the end.
func newLogBuffer(out io.Writer, interval time.Duration) (w io.Writer, flush func() error) {
	if interval <= 0 {
		return out, func() error { return nil }
	}
	b := &logBuffer{out: out, interval: interval}
	return b, b.Flush
}

// Write takes a line of unknown level: it goes out at once.
func (b *logBuffer) Write(p []byte) (int, error) { return b.WriteLevel(zerolog.NoLevel, p) }

// WriteLevel takes one line of zerolog's at level l.
func (b *logBuffer) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if l >= zerolog.WarnLevel || len(b.buf) >= logBufferMax {
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

// Flush writes what waits now.
func (b *logBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}
