package process

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// outputLog drains a child's stdout and stderr: it writes them to a
// size-capped log file, keeps the last lines in memory for error messages,
// and watches for the REST port line. It never blocks the child for long:
// a file write is all a chunk costs.
type outputLog struct {
	port chan int // receives the REST port once

	mu      sync.Mutex
	f       *os.File
	path    string
	size    int64
	max     int64
	partial []byte
	tail    []string // ring of the last tailLines lines
	next    int
	sawPort bool
}

const tailLines = 40

func newOutputLog(path string, max int64) (*outputLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if max <= 0 {
		max = 10 << 20
	}
	return &outputLog{port: make(chan int, 1), f: f, path: path, max: max}, nil
}

// Write takes a chunk of the child's output. It never fails, so that exec's
// copying goroutine keeps draining the pipe whatever happens to the file.
func (o *outputLog) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writeFile(b)
	o.partial = append(o.partial, b...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.line(string(bytes.TrimRight(o.partial[:i], "\r")))
		o.partial = o.partial[i+1:]
	}
	if len(o.partial) > 64<<10 { // a line without end: keep the log moving
		o.line(string(o.partial))
		o.partial = o.partial[:0]
	}
	return len(b), nil
}

// outputReadSize is ReadFrom's buffer. ChimeraX's output comes in lines,
// and the buffer lives as long as the session.
const outputReadSize = 2 << 10

// ReadFrom drains r, the child's output pipe, into the log. exec's copying
// goroutine calls it (through io.Copy) instead of copying with a buffer
// of its own: io.Copy's is 32 KiB, held for the child's whole life, the
// largest part of a live session's memory in the daemon.
func (o *outputLog) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, outputReadSize)
	var n int64
	for {
		m, err := r.Read(buf)
		if m > 0 {
			o.Write(buf[:m])
			n += int64(m)
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (o *outputLog) writeFile(b []byte) {
	if o.f == nil {
		return
	}
	if o.size+int64(len(b)) > o.max {
		// Keep one older generation: the log holds at most 2×max bytes.
		o.f.Close()
		os.Rename(o.path, o.path+".1")
		f, err := os.OpenFile(o.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			o.f = nil
			return
		}
		o.f, o.size = f, 0
	}
	n, _ := o.f.Write(b)
	o.size += int64(n)
}

func (o *outputLog) line(s string) {
	// The nogui prompt has no newline, so it prefixes whatever is printed next.
	for strings.HasPrefix(s, "cmd> ") {
		s = s[len("cmd> "):]
	}
	if s == "" {
		return
	}
	if !o.sawPort {
		if m := PortLine.FindStringSubmatch(s); m != nil {
			if port, err := strconv.Atoi(m[2]); err == nil && port > 0 && port < 65536 {
				o.sawPort = true
				o.port <- port
			}
		}
	}
	if len(o.tail) < tailLines {
		o.tail = append(o.tail, s)
	} else {
		o.tail[o.next] = s
		o.next = (o.next + 1) % tailLines
	}
}

// Tail returns the last lines of output, oldest first, at most n.
func (o *outputLog) Tail(n int) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	lines := append(append([]string(nil), o.tail[o.next:]...), o.tail[:o.next]...)
	if len(o.partial) > 0 {
		lines = append(lines, string(o.partial))
	}
	if n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// Close closes the log file; later output is still kept in memory.
func (o *outputLog) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}
