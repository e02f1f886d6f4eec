package chimerax

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/chimerad/chimerad/store"
)

// Limits of Logs.
const (
	// DefaultLogLines is how many lines Logs returns when not told.
	DefaultLogLines = 200
	// MaxLogLines caps the lines of one Logs call.
	MaxLogLines = 5000
	// maxLogRead caps the bytes of log one Logs call reads.
	maxLogRead = 2 << 20
)

// logName is the child's output log in its session directory; the
// previous generation is logName + ".1".
const logName = "chimerax.log"

// Log sources.
const (
	// LogSourceFile: the lines come from the child's output log files.
	LogSourceFile = "log"
	// LogSourceRecord: the session has ended and its files are gone; the
	// lines are the last ones its record kept.
	LogSourceRecord = "record"
)

// LogQuery asks for part of a session's output.
type LogQuery struct {
	// Lines is how many lines to return: the last Lines, or with After
	// the first Lines written after it. 0 means DefaultLogLines; more than
	// MaxLogLines means MaxLogLines.
	Lines int
	// After is a Cursor from an earlier Logs: return what was written since.
	After string
	// Redact hides what only admins may see: the child's REST port, which
	// would let anyone on the machine drive it, and the data directory's
	// paths.
	Redact bool
}

// Logs is part of a session's output: what ChimeraX printed on its stdout
// and stderr, without the "cmd> " prompts.
type Logs struct {
	ID    string      `json:"id"`
	State store.State `json:"state"`
	// Source is LogSourceFile or LogSourceRecord.
	Source string   `json:"source"`
	Lines  []string `json:"lines"`
	// Cursor marks the end of the last complete line read from the files:
	// pass it as LogQuery.After to follow the log. Empty with LogSourceRecord.
	Cursor string `json:"next_cursor,omitempty"`
	// Skipped says that output between After and the first line returned
	// is lost (the log was rotated past it), or that After was not a cursor
	// of this log.
	Skipped bool `json:"skipped,omitempty"`
}

// Logs returns the tail of a session's output, or with q.After the output
// written since an earlier call. A live session's lines come from its log
// files (at most 2×chimerax.log_max_bytes are kept); an ended session's
// from the last lines its record kept.
func (sv *Supervisor) Logs(ctx context.Context, id string, q LogQuery) (Logs, error) {
	rec, err := sv.Session(ctx, id)
	if err != nil {
		return Logs{}, err
	}
	switch {
	case q.Lines < 0:
		return Logs{}, fmt.Errorf("%w: lines %d: want a positive number", ErrInvalid, q.Lines)
	case q.Lines == 0:
		q.Lines = DefaultLogLines
	case q.Lines > MaxLogLines:
		q.Lines = MaxLogLines
	}
	out := Logs{ID: rec.ID, State: rec.State, Source: LogSourceFile}
	if q.Redact {
		defer func() { sv.redact(rec, out.Lines) }()
	}
	lines, cursor, skipped, err := readLog(filepath.Join(sv.sessionDir(id), logName), q)
	if err == nil {
		out.Lines, out.Cursor, out.Skipped = lines, cursor, skipped
		return out, nil
	}
	if errors.Is(err, ErrInvalid) {
		return Logs{}, err
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Logs{}, fmt.Errorf("session %s: read log: %w", id, err)
	}
	// The files are gone: the session has ended (perhaps just now).
	if rec.State.Live() {
		if rec, err = sv.Session(ctx, id); err != nil {
			return Logs{}, err
		}
	}
	out.State, out.Source, out.Lines = rec.State, LogSourceRecord, []string{}
	if rec.Process != nil {
		out.Lines = lastN(rec.Process.LastOutput, q.Lines)
	}
	return out, nil
}

// loopbackPort is a loopback address with a port, as ChimeraX prints its
// REST server's ("Visit http://127.0.0.1:N/cmdline.html").
var loopbackPort = regexp.MustCompile(`(127\.0\.0\.1|localhost|\[::1\]):\d+`)

// redact rewrites lines of session rec's output for its owner: the REST
// port line loses its port, and so does every loopback address; the port,
// once recorded, is hidden wherever it appears; paths under the session's
// directory and the data directory lose their prefix.
func (sv *Supervisor) redact(rec store.Session, lines []string) {
	dir := sv.sessionDir(rec.ID)
	var port *regexp.Regexp
	if rec.Process != nil && rec.Process.Port > 0 {
		port = regexp.MustCompile(`\b` + strconv.Itoa(rec.Process.Port) + `\b`)
	}
	for i, l := range lines {
		if m := portLine.FindStringSubmatch(l); m != nil {
			l = "REST server started on host " + m[1] + " port (hidden)"
		}
		l = loopbackPort.ReplaceAllString(l, "$1:(hidden)")
		if port != nil {
			l = port.ReplaceAllString(l, "(hidden)")
		}
		l = strings.ReplaceAll(l, dir, "<session>")
		lines[i] = strings.ReplaceAll(l, sv.cfg.DataDir, "<data_dir>")
	}
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return append([]string{}, lines...)
}

// logStream is a child's log files read as one stream: the rotated
// generation, if any, then the current file. Positions are offsets in
// that stream.
type logStream struct {
	segs []logSeg // oldest first
}

type logSeg struct {
	f     *os.File
	ino   uint64
	start int64 // offset of the segment's first byte in the stream
	size  int64
}

// openLog opens the current log file and then its rotated generation, so
// that a rotation in between shows the same file twice (kept once) rather
// than losing one. It fails with os.ErrNotExist if there is no log.
func openLog(path string) (*logStream, error) {
	cur, err := openSeg(path)
	if err != nil {
		return nil, err
	}
	ls := &logStream{}
	if old, err := openSeg(path + ".1"); err == nil {
		if old.ino == cur.ino {
			old.f.Close()
		} else {
			ls.segs = append(ls.segs, old)
		}
	}
	if len(ls.segs) > 0 {
		cur.start = ls.segs[0].size
	}
	ls.segs = append(ls.segs, cur)
	return ls, nil
}

func openSeg(path string) (logSeg, error) {
	f, err := os.Open(path)
	if err != nil {
		return logSeg{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return logSeg{}, err
	}
	s := logSeg{f: f, size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = uint64(st.Ino)
	}
	return s, nil
}

func (ls *logStream) Close() {
	for _, s := range ls.segs {
		s.f.Close()
	}
}

func (ls *logStream) size() int64 {
	last := ls.segs[len(ls.segs)-1]
	return last.start + last.size
}

// read returns the stream's bytes in [from, to).
func (ls *logStream) read(from, to int64) ([]byte, error) {
	buf := make([]byte, 0, to-from)
	for _, s := range ls.segs {
		lo, hi := max(from, s.start), min(to, s.start+s.size)
		if lo >= hi {
			continue
		}
		chunk := make([]byte, hi-lo)
		n, err := s.f.ReadAt(chunk, lo-s.start)
		buf = append(buf, chunk[:n]...)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if int64(n) < hi-lo { // the file shrank: stop at what is there
			break
		}
	}
	return buf, nil
}

// cursor names stream position pos by the file that holds it, so that it
// survives the next rotation: "<inode>-<offset>".
func (ls *logStream) cursor(pos int64) string {
	s := ls.segs[0]
	for _, seg := range ls.segs {
		if seg.start <= pos {
			s = seg
		}
	}
	return strconv.FormatUint(s.ino, 10) + "-" + strconv.FormatInt(pos-s.start, 10)
}

// position finds a cursor in the stream; ok is false if its file is no
// longer there.
func (ls *logStream) position(cursor string) (pos int64, ok bool, err error) {
	i, o, found := strings.Cut(cursor, "-")
	ino, err1 := strconv.ParseUint(i, 10, 64)
	off, err2 := strconv.ParseInt(o, 10, 64)
	if !found || err1 != nil || err2 != nil || off < 0 {
		return 0, false, fmt.Errorf("%w: log cursor %q", ErrInvalid, truncate(cursor, 40))
	}
	for _, s := range ls.segs {
		if s.ino == ino && off <= s.size {
			return s.start + off, true, nil
		}
	}
	return 0, false, nil
}

// readLog reads the log at path as q asks: the last q.Lines complete lines,
// or the first q.Lines complete lines after q.After.
func readLog(path string, q LogQuery) (lines []string, cursor string, skipped bool, err error) {
	ls, err := openLog(path)
	if err != nil {
		return nil, "", false, err
	}
	defer ls.Close()
	total := ls.size()

	if q.After == "" {
		from := max(0, total-maxLogRead)
		data, err := ls.read(from, total)
		if err != nil {
			return nil, "", false, err
		}
		skip := 0
		if from > 0 { // the first line is cut: drop it
			skip = bytes.IndexByte(data, '\n') + 1
		}
		end := bytes.LastIndexByte(data, '\n') + 1 // complete lines only
		if end < skip {
			end = skip
		}
		all := splitLines(data[skip:end])
		return lastN(all, q.Lines), ls.cursor(from + int64(end)), false, nil
	}

	from, ok, err := ls.position(q.After)
	if err != nil {
		return nil, "", false, err
	}
	skipped = !ok // lost to rotation: go on from the oldest output kept
	data, err := ls.read(from, min(total, from+maxLogRead))
	if err != nil {
		return nil, "", false, err
	}
	end, n := 0, 0
	for n < q.Lines {
		i := bytes.IndexByte(data[end:], '\n')
		if i < 0 {
			break
		}
		end += i + 1
		n++
	}
	if n == 0 && len(data) == maxLogRead { // one line longer than a read
		end = len(data)
	}
	return splitLines(data[:end]), ls.cursor(from + int64(end)), skipped, nil
}

// splitLines splits complete lines, dropping ChimeraX's "cmd> " prompts
// (the nogui prompt has no newline, so it prefixes the next line) and the
// lines that held only prompts.
func splitLines(data []byte) []string {
	out := []string{}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i], data[i+1:]
		}
		s := strings.TrimRight(string(line), "\r")
		prompted := strings.HasPrefix(s, "cmd> ")
		for strings.HasPrefix(s, "cmd> ") {
			s = s[len("cmd> "):]
		}
		if prompted && s == "" {
			continue
		}
		out = append(out, s)
	}
	return out
}
