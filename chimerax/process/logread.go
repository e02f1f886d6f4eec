package process

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// maxLogRead caps the bytes of log one ReadLog reads.
const maxLogRead = 2 << 20

// ErrBadCursor: a cursor given to ReadLog is not one it returned.
var ErrBadCursor = errors.New("chimerax: bad log cursor")

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
	s.ino = inode(fi)
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
		return 0, false, ErrBadCursor
	}
	for _, s := range ls.segs {
		if s.ino == ino && off <= s.size {
			return s.start + off, true, nil
		}
	}
	return 0, false, nil
}

// ReadLog reads the output log at path (LogFile, with its rotated
// generation): the last n complete lines, or with after (a cursor it
// returned before) the first n complete lines written since. The cursor it
// returns marks the end of the last line read; skipped says that output
// between after and the first line returned was lost to rotation. A
// cursor that is not one gives ErrBadCursor; a missing log, an error
// matching os.ErrNotExist.
func ReadLog(path string, n int, after string) (lines []string, cursor string, skipped bool, err error) {
	ls, err := openLog(path)
	if err != nil {
		return nil, "", false, err
	}
	defer ls.Close()
	total := ls.size()

	if after == "" {
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
		return lastN(all, n), ls.cursor(from + int64(end)), false, nil
	}

	from, ok, err := ls.position(after)
	if err != nil {
		return nil, "", false, err
	}
	skipped = !ok // lost to rotation: go on from the oldest output kept
	data, err := ls.read(from, min(total, from+maxLogRead))
	if err != nil {
		return nil, "", false, err
	}
	end, got := 0, 0
	for got < n {
		i := bytes.IndexByte(data[end:], '\n')
		if i < 0 {
			break
		}
		end += i + 1
		got++
	}
	if got == 0 && len(data) == maxLogRead { // one line longer than a read
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

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return append([]string{}, lines...)
}

// loopbackPort is a loopback address with a port, as ChimeraX prints its
// REST server's ("Visit http://127.0.0.1:N/cmdline.html").
var loopbackPort = regexp.MustCompile(`(127\.0\.0\.1|localhost|\[::1\]):\d+`)

// Redact rewrites output log lines for someone who may not see where the
// child listens or where its files are: the REST port line loses its port,
// and so does every loopback address; port (if known) is hidden wherever
// it appears; each path prefix in paths is replaced by its placeholder,
// longest first.
func Redact(lines []string, port int, paths map[string]string) {
	var portRE *regexp.Regexp
	if port > 0 {
		portRE = regexp.MustCompile(`\b` + strconv.Itoa(port) + `\b`)
	}
	prefixes := slices.SortedFunc(maps.Keys(paths), func(a, b string) int { return len(b) - len(a) })
	for i, l := range lines {
		if m := PortLine.FindStringSubmatch(l); m != nil {
			l = "REST server started on host " + m[1] + " port (hidden)"
		}
		l = loopbackPort.ReplaceAllString(l, "$1:(hidden)")
		if portRE != nil {
			l = portRE.ReplaceAllString(l, "(hidden)")
		}
		for _, p := range prefixes {
			l = strings.ReplaceAll(l, p, paths[p])
		}
		lines[i] = l
	}
}
