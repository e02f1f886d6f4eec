package process

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadLogTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chimerax.log")
	mustWrite(t, path+".1", "old 1\nold 2\nspl")
	mustWrite(t, path, "it\ncmd> REST server started on host 127.0.0.1 port 1234\ncmd> \nnew 1\r\n\nnew 2\ncmd> ")

	for _, tc := range []struct {
		lines int
		want  []string
	}{
		{1, []string{"new 2"}},
		{3, []string{"new 1", "", "new 2"}},
		{100, []string{"old 1", "old 2", "split", "REST server started on host 127.0.0.1 port 1234", "new 1", "", "new 2"}},
	} {
		got, cursor, skipped, err := ReadLog(path, tc.lines, "")
		if err != nil || skipped || cursor == "" {
			t.Fatalf("ReadLog(%d) = %q, %q, %v, %v", tc.lines, got, cursor, skipped, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ReadLog(lines %d) = %q, want %q", tc.lines, got, tc.want)
		}
	}
	if _, _, _, err := ReadLog(filepath.Join(dir, "none.log"), 1, ""); !os.IsNotExist(err) {
		t.Errorf("ReadLog(missing) = %v, want not exist", err)
	}
}

// TestReadLogFollow follows a log through appends and rotations, as the
// child's output log rotates: rename to .1, start a new file.
func TestReadLogFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chimerax.log")
	mustWrite(t, path, "a\nb\nc")

	read := func(q logQuery) ([]string, string, bool) {
		t.Helper()
		lines, cursor, skipped, err := ReadLog(path, q.Lines, q.After)
		if err != nil {
			t.Fatal(err)
		}
		return lines, cursor, skipped
	}
	lines, cur, _ := read(logQuery{Lines: 10})
	if want := []string{"a", "b"}; !reflect.DeepEqual(lines, want) {
		t.Fatalf("tail = %q, want %q", lines, want)
	}
	lines, cur2, _ := read(logQuery{Lines: 10, After: cur})
	if len(lines) != 0 || cur2 != cur {
		t.Errorf("nothing new = %q, cursor %q; want none, cursor %q", lines, cur2, cur)
	}

	appendTo(t, path, "\nd\ne\n")
	lines, cur, _ = read(logQuery{Lines: 2, After: cur})
	if want := []string{"c", "d"}; !reflect.DeepEqual(lines, want) {
		t.Errorf("after append, 2 lines = %q, want %q", lines, want)
	}

	// Rotate mid-line: the line goes on in the new file.
	appendTo(t, path, "f1")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, path, "f2\ng\n")
	lines, cur, skipped := read(logQuery{Lines: 10, After: cur})
	if want := []string{"e", "f1f2", "g"}; !reflect.DeepEqual(lines, want) || skipped {
		t.Errorf("across a rotation = %q skipped %v, want %q", lines, skipped, want)
	}

	// Two more rotations lose what the cursor pointed at.
	appendTo(t, path, "h\n")
	os.Rename(path, path+".1")
	mustWrite(t, path, "i\n")
	os.Rename(path, path+".1")
	mustWrite(t, path, "j\n")
	lines, _, skipped = read(logQuery{Lines: 10, After: cur})
	if want := []string{"i", "j"}; !reflect.DeepEqual(lines, want) || !skipped {
		t.Errorf("cursor rotated away = %q skipped %v, want %q skipped", lines, skipped, want)
	}

	for _, bad := range []string{"x", "1-", "-5", "1--1"} {
		if _, _, _, err := ReadLog(path, 1, bad); err == nil || !strings.Contains(err.Error(), "cursor") {
			t.Errorf("ReadLog(after %q) = %v, want a cursor error", bad, err)
		}
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// logQuery is what the tests ask ReadLog.
type logQuery struct {
	Lines int
	After string
}

// TestOutputLogReadFrom: draining a pipe through ReadFrom keeps what Write
// keeps: the port, the last lines, the file.
func TestOutputLogReadFrom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	o, err := newOutputLog(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	text := "starting\nREST server started on host 127.0.0.1 port 4321\n" + strings.Repeat("x", 3*outputReadSize) + "\nlast"
	n, err := o.ReadFrom(strings.NewReader(text))
	if err != nil || n != int64(len(text)) {
		t.Fatalf("ReadFrom = %d, %v, want %d", n, err, len(text))
	}
	if port := <-o.port; port != 4321 {
		t.Errorf("port = %d", port)
	}
	if tail := o.Tail(2); len(tail) != 2 || tail[0] != strings.Repeat("x", 3*outputReadSize) || tail[1] != "last" {
		t.Errorf("Tail = %q", tail)
	}
	o.Close()
	if b, err := os.ReadFile(path); err != nil || string(b) != text {
		t.Errorf("log file = %d bytes, %v, want the %d written", len(b), err, len(text))
	}
}
