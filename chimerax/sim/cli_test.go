package sim

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestNextToken(t *testing.T) {
	tests := []struct {
		in                 string
		value, chars, rest string
		wantErr            string
	}{
		{in: "open 1abc", value: "open", chars: "open", rest: " 1abc"},
		{in: "open;close", value: "open", chars: "open", rest: ";close"},
		{in: ";close", value: ";", chars: ";", rest: "close"},
		{in: `"a b" c`, value: "a b", chars: `"a b"`, rest: " c"},
		{in: `"a;b";c`, value: "a;b", chars: `"a;b"`, rest: ";c"},
		{in: `'a b'`, value: "a b", chars: `'a b'`, rest: ""},
		{in: `"a"b c" d`, value: `a"b c`, chars: `"a"b c"`, rest: " d"},
		{in: `"say \"hi\"" x`, value: `say "hi"`, chars: `"say \"hi\""`, rest: " x"},
		{in: `"open`, wantErr: "incomplete quoted text"},
		{in: `"a"b`, wantErr: "incomplete quoted text"},
	}
	for _, tt := range tests {
		value, chars, rest, err := nextToken(tt.in)
		if tt.wantErr != "" {
			var ce *commandError
			if !errors.As(err, &ce) || ce.msg != tt.wantErr || ce.class != "AnnotationError" {
				t.Errorf("nextToken(%q) error = %v, want AnnotationError: %s", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || value != tt.value || chars != tt.chars || rest != tt.rest {
			t.Errorf("nextToken(%q) = %q, %q, %q, %v, want %q, %q, %q", tt.in, value, chars, rest, err, tt.value, tt.chars, tt.rest)
		}
	}
}

func TestParseCommand(t *testing.T) {
	root := commandTable(newestRelease)
	tests := []struct {
		in       string
		name     string // the full command name
		text     string // as echoed
		pos      []string
		kw       map[string]any
		rest     string
		wantErr  string
		errClass string
	}{
		{in: "version", name: "version", text: "version", kw: map[string]any{}},
		{in: "vers", name: "version", text: "version", kw: map[string]any{}},
		{in: "v", name: "version", text: "version", kw: map[string]any{}},
		{in: "version verbose; close", name: "version", text: "version verbose", pos: []string{"verbose"}, kw: map[string]any{}, rest: "; close"},
		{in: "o 1abc", name: "open", text: "open 1abc", pos: []string{"1abc"}, kw: map[string]any{}},
		{
			in: `open "my file.pdb" other.cif format pdb name x`, name: "open",
			text: `open "my file.pdb" other.cif format pdb name x`,
			pos:  []string{"my file.pdb", "other.cif"}, kw: map[string]any{"format": "pdb", "name": "x"},
		},
		{in: "open 1abc from pdb", name: "open", text: "open 1abc from pdb", pos: []string{"1abc"}, kw: map[string]any{"fromDatabase": "pdb"}},
		{in: "open 1abc FORMAT mmcif", name: "open", text: "open 1abc FORMAT mmcif", pos: []string{"1abc"}, kw: map[string]any{"format": "mmcif"}},
		{
			in: "remote rest sta port 0 json true", name: "remotecontrol rest start",
			text: "remotecontrol rest start port 0 json true",
			kw:   map[string]any{"port": 0, "json": true},
		},
		{in: "close  sess", name: "close session", text: "close  session", kw: map[string]any{}},
		{in: "close #1 #2.1", name: "close", text: "close #1 #2.1", pos: []string{"#1 #2.1"}, kw: map[string]any{}},
		{in: "close", name: "close", text: "close", kw: map[string]any{}},
		{in: "info models #1 attr name", name: "info models", text: "info models #1 attr name", pos: []string{"#1"}, kw: map[string]any{"attribute": "name"}},
		{in: "info #1", name: "info", text: "info #1", pos: []string{"#1"}, kw: map[string]any{}},
		{
			in: "save /tmp/x.png w 10 he 20 s 1 transp true", name: "save",
			text: "save /tmp/x.png w 10 he 20 s 1 transp true", pos: []string{"/tmp/x.png"},
			kw: map[string]any{"width": 10, "height": 20, "supersample": 1, "transparentBackground": true},
		},
		{in: "color red; style stick", name: "color", text: "color red", pos: []string{"red"}, kw: map[string]any{}, rest: "; style stick"},
		{in: "runs /tmp/x.py", name: "runscript", text: "runscript /tmp/x.py", pos: []string{"/tmp/x.py"}, kw: map[string]any{}},

		{in: "foo bar", wantErr: "Unknown command: foo bar"},
		{in: "foo bar; version", wantErr: "Unknown command: foo bar; version"},
		{in: "remote bogus x", wantErr: "Unknown command: remotecontrol bogus x"},
		{in: "VERSION", wantErr: "Unknown command: VERSION"},
		{in: "remotecontrol", wantErr: "Incomplete command: remotecontrol"},
		{in: "remotecontrol rest", wantErr: "Incomplete command: remotecontrol rest"},
		{in: "exit now", wantErr: "Expected fewer arguments"},
		{in: "open", wantErr: `Missing required "names" positional argument`},
		{in: "save x.png width", wantErr: `Missing "width" keyword's argument`},
		{in: "save x.png width ten", wantErr: `Invalid "width" argument: Expected an integer`},
		{in: "save x.png width 1 width 2", wantErr: `Repeated keyword argument "width"`},
		{in: "save x.png bogus 1", wantErr: "Expected a keyword"},
		{in: "open x.pdb c true", wantErr: `Expected keyword "combine" or "coordsets"`},
		{in: "remotecontrol rest start json maybe", wantErr: `Invalid "json" argument: Expected true or false (or 1 or 0)`},
		{in: `open "x.pdb`, wantErr: "incomplete quoted text", errClass: "AnnotationError"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			inv, rest, err := parseCommand(root, tt.in)
			if tt.wantErr != "" {
				class := tt.errClass
				if class == "" {
					class = "UserError"
				}
				var ce *commandError
				if !errors.As(err, &ce) || ce.msg != tt.wantErr || ce.class != class {
					t.Fatalf("parseCommand(%q) error = %v, want %s: %s", tt.in, err, class, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseCommand(%q) error = %v", tt.in, err)
			}
			got := []any{inv.call.name, inv.text, inv.call.pos, inv.call.kw, rest}
			want := []any{tt.name, tt.text, tt.pos, tt.kw, tt.rest}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("parseCommand(%q) = %#v, want %#v", tt.in, got, want)
			}
		})
	}
}

// newTestSimulator returns a simulator that runs in the test process, with
// offscreen rendering, its stdout in the returned buffer and its stderr
// discarded.
func newTestSimulator(t *testing.T) (*simulator, *strings.Builder) {
	t.Helper()
	var out strings.Builder
	k, err := knobsFromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	s := newSimulator(options{offscreen: true, eventLoop: true, version: -1}, k, strings.NewReader(""), &out, io.Discard)
	return s, &out
}

func TestRunText(t *testing.T) {
	tests := []struct {
		in      string
		results int
		out     string // stdout when run with logging on
		wantErr string
	}{
		{in: "", results: 0, out: ""},
		{in: "version", results: 1, out: "INFO:\nExecuting: version\nINFO:\nUCSF ChimeraX version: 1.11 (2025-12-16)\n" +
			"INFO:\n© 2016-2025 Regents of the University of California.  All rights reserved.\n"},
		{in: "view; wait", results: 2, out: "INFO:\nExecuting: view\nINFO:\nExecuting: wait\n"},
		{in: " ;; view ;", results: 1, out: "INFO:\nExecuting: view\n"},
		{in: "# a comment; view", results: 0, out: ""},
		{in: "view; # a comment; view", results: 1, out: "INFO:\nExecuting: view\n"},
		{in: "view #1; color red", results: 2, out: "INFO:\nExecuting: view #1\nINFO:\nExecuting: color red\n"},
		{
			in: "view; nosuch thing; wait", wantErr: "Unknown command: nosuch thing; wait",
			out: "INFO:\nExecuting: view\nERROR:\nnosuch thing; wait\nERROR:\nUnknown command: nosuch thing; wait\n",
		},
		{
			in: "open /nonexistent/x.pdb", wantErr: "No such file/path: /nonexistent/x.pdb",
			out: "INFO:\nExecuting: open /nonexistent/x.pdb\nERROR:\nNo such file/path: /nonexistent/x.pdb\n",
		},
		{
			in: "pip install x", wantErr: "pip: not supported by the chimerad simulator",
			out: "INFO:\nExecuting: pip install x\nERROR:\npip: not supported by the chimerad simulator\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, out := newTestSimulator(t)
			results, err := s.runText(tt.in, fromStdin, true, false)
			if tt.wantErr != "" {
				if err == nil || err.(*commandError).msg != tt.wantErr {
					t.Errorf("runText(%q) error = %v, want %s", tt.in, err, tt.wantErr)
				}
			} else if err != nil || len(results) != tt.results {
				t.Errorf("runText(%q) = %d results, %v, want %d results", tt.in, len(results), err, tt.results)
			}
			if out.String() != tt.out {
				t.Errorf("runText(%q) output:\n%s\nwant:\n%s", tt.in, out, tt.out)
			}
		})
	}
}

func TestRunTextExit(t *testing.T) {
	for _, in := range []string{"exit", "quit", "version; exit", "q"} {
		s, _ := newTestSimulator(t)
		if _, err := s.runText(in, fromStdin, false, false); !errors.Is(err, errExit) {
			t.Errorf("runText(%q) error = %v, want errExit", in, err)
		}
	}
}

func TestRESTStartLogByRelease(t *testing.T) {
	for _, r := range releases {
		_, _, err := parseCommand(commandTable(r), "remotecontrol rest start port 0 json true log true")
		switch {
		case r.restLog && err != nil:
			t.Errorf("%s: rest start with log: %v, want it accepted", r.version, err)
		case !r.restLog && (err == nil || err.(*commandError).msg != "Expected a keyword"):
			t.Errorf("%s: rest start with log: %v, want Expected a keyword", r.version, err)
		}
	}
}
