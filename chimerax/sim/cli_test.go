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
	none := map[string]any{}
	tests := []struct {
		in       string
		name     string         // the full command name
		text     string         // as echoed
		args     map[string]any // atom specifiers as "spec:" and their text
		rest     string
		wantErr  string
		errClass string
	}{
		{in: "version", name: "version", text: "version", args: none},
		{in: "vers", name: "version", text: "version", args: none},
		{in: "v", name: "version", text: "version", args: none},
		{in: "version verbose; close", name: "version", text: "version verbose", args: map[string]any{"format": "verbose"}, rest: "; close"},
		{in: "o 1abc", name: "open", text: "open 1abc", args: map[string]any{"names": []string{"1abc"}}},
		{
			in: `open "my file.pdb" other.cif format pdb name x`, name: "open",
			text: `open "my file.pdb" other.cif format pdb name x`,
			args: map[string]any{"names": []string{"my file.pdb", "other.cif"}, "format": "pdb", "name": "x"},
		},
		{in: "open 1abc from pdb", name: "open", text: "open 1abc from pdb", args: map[string]any{"names": []string{"1abc"}, "fromDatabase": "pdb"}},
		{in: "open 1abc FORMAT mmcif", name: "open", text: "open 1abc FORMAT mmcif", args: map[string]any{"names": []string{"1abc"}, "format": "mmcif"}},
		{
			in: "remote rest sta port 0 json true", name: "remotecontrol rest start",
			text: "remotecontrol rest start port 0 json true",
			args: map[string]any{"port": 0, "json": true},
		},
		{in: "close  sess", name: "close session", text: "close  session", args: none},
		{in: "close #1 #2.1", name: "close", text: "close #1 #2.1", args: map[string]any{"models": "spec:#1 #2.1"}},
		{in: "close", name: "close", text: "close", args: none},
		{in: "info models #1 attr name", name: "info models", text: "info models #1 attr name", args: map[string]any{"atoms": "spec:#1", "attribute": "name"}},
		{in: "info #1", name: "info", text: "info #1", args: map[string]any{"models": "spec:#1"}},
		{
			in: "save /tmp/x.png w 10 he 20 s 1 transp true", name: "save",
			text: "save /tmp/x.png w 10 he 20 s 1 transp true",
			args: map[string]any{"fileName": "/tmp/x.png", "width": 10, "height": 20, "supersample": 1, "transparentBackground": true},
		},
		{
			in: "color red; style stick", name: "color", text: "color red", rest: "; style stick",
			args: map[string]any{"objects": "spec:", "color": colorValue{rgba: rgba{255, 0, 0, 255}}},
		},
		{
			in: "color #1/A:10-20 sky blue target ac", name: "color", text: "color #1/A:10-20 sky blue target ac",
			args: map[string]any{"objects": "spec:#1/A:10-20", "color": colorValue{rgba: rgba{135, 206, 235, 255}}, "target": "ac"},
		},
		{
			in: "color protein & :10 bychain cartoons", name: "color", text: "color protein & :10 bychain cartoons",
			args: map[string]any{"objects": "spec:protein & :10", "color": colorValue{scheme: "bychain"}, "what": []string{"cartoons"}},
		},
		{in: "color #f00", name: "color", text: "color #f00", args: map[string]any{"objects": "spec:", "color": colorValue{rgba: rgba{255, 0, 0, 255}}}},
		{in: "transparency 50", name: "transparency", text: "transparency 50", args: map[string]any{"objects": "spec:", "percent": 50.0}},
		{in: "turn x 45 2", name: "turn", text: "turn x 45 2", args: map[string]any{"axis": vec{1, 0, 0}, "angle": 45.0, "frames": 2}},
		{in: "show :1-10 atoms", name: "show", text: "show :1-10 atoms", args: map[string]any{"objects": "spec::1-10", "what": []string{"atoms"}}},
		{in: "view orient", name: "view", text: "view orient", args: map[string]any{"orient": true}},
		{in: "runs /tmp/x.py", name: "runscript", text: "runscript /tmp/x.py", args: none},

		{in: "foo bar", wantErr: "Unknown command: foo bar"},
		{in: "foo bar; version", wantErr: "Unknown command: foo bar; version"},
		{in: "remote bogus x", wantErr: "Unknown command: remotecontrol bogus x"},
		{in: "VERSION", wantErr: "Unknown command: VERSION"},
		{in: "remotecontrol", wantErr: "Incomplete command: remotecontrol"},
		{in: "remotecontrol rest", wantErr: "Incomplete command: remotecontrol rest"},
		{in: "exit now", wantErr: `Expected fewer arguments, got "now"`},
		{in: "open", wantErr: `Missing required "names" positional argument`},
		{in: "save x.png width", wantErr: `Missing "width" keyword's argument`},
		{in: "save x.png width ten", wantErr: `Invalid "width" argument: Expected an integer, got "ten"`},
		{in: "save x.png width 1 width 2", wantErr: `Repeated keyword argument "width"`},
		{in: "save x.png bogus 1", wantErr: `Expected a keyword, got "bogus"`},
		{in: "open x.pdb c true", wantErr: `Expected keyword "combine" or "coordsets"`},
		{in: "remotecontrol rest start json maybe", wantErr: `Invalid "json" argument: Expected true or false (or 1 or 0), got "maybe"`},
		{in: `open "x.pdb`, wantErr: "incomplete quoted text", errClass: "AnnotationError"},
		{
			in:      "color nosuchcolor",
			wantErr: `Expected a color or one of 'byatom', 'bychain', 'byelement', 'byhetero', 'byidentity', 'bymodel', 'bynucleotide', 'bypolymer', 'fromatoms', 'fromcartoons', 'fromribbons', or 'random' or a keyword, got "nosuchcolor"`,
		},
		{in: "color #1/A:10- red", wantErr: `Missing or invalid "objects" argument: invalid atom specifier, got "#1/A:10-"`},
		{in: "show protein & protien", wantErr: `Missing or invalid "objects" argument: "protien" is not a selector name, got "protein & protien"`},
		{in: "set bgColor nosuch", wantErr: `Invalid "bgColor" argument: Invalid color name or specifier, got "nosuch"`},
		{in: "turn y 90 5 extra", wantErr: `Expected a keyword, got "extra"`},
		{in: "move", wantErr: `Missing required "axis" positional argument`},
		{in: "move q", wantErr: `Missing or invalid "axis" argument: Expected an axis vector, got "q"`},
		{in: "zoom -2", wantErr: `Expected a number > 0 or a keyword, got "-2"`},
		{in: "style #1 squares", wantErr: `Expected one of 'sphere', 'ball', or 'stick' or a keyword, got "squares"`},
		{in: "transparency #1", wantErr: `Missing required "percent" positional argument`},
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
			args := map[string]any{}
			for k, v := range inv.call.args {
				if spec, ok := v.(*atomSpec); ok {
					v = "spec:"
					if spec != nil {
						v = "spec:" + spec.text
					}
				}
				args[k] = v
			}
			got := []any{inv.call.name, inv.text, args, rest}
			want := []any{tt.name, tt.text, tt.args, tt.rest}
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
		{in: "view; color red", results: 2, out: "INFO:\nExecuting: view\nINFO:\nExecuting: color red\nSTATUS:\nColored 0 surfaces\n"},
		{
			in: "view #1; color red", wantErr: `No models specified by "#1"`,
			out: "INFO:\nExecuting: view #1\n",
		},
		{
			in: "view; nosuch thing; wait", wantErr: "Unknown command: nosuch thing; wait",
			out: "INFO:\nExecuting: view\nERROR:\nnosuch thing; wait\n",
		},
		{
			in: "open /nonexistent/x.pdb", wantErr: "No such file/path: /nonexistent/x.pdb",
			out: "INFO:\nExecuting: open /nonexistent/x.pdb\n",
		},
		{
			in: "pip install x", wantErr: "pip: not supported by the chimerad simulator",
			out: "INFO:\nExecuting: pip install x\n",
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

// TestRunLine runs lines as nogui reads them from stdin: an error is
// logged once, after the command (and, for one that does not parse, its
// text).
func TestRunLine(t *testing.T) {
	tests := []struct{ in, out string }{
		{"open /nonexistent/x.pdb", "INFO:\nExecuting: open /nonexistent/x.pdb\nERROR:\nNo such file/path: /nonexistent/x.pdb\n"},
		{"color nosuch", "ERROR:\ncolor nosuch\nERROR:\n" + `Expected a color or one of 'byatom', 'bychain', 'byelement', 'byhetero', ` +
			`'byidentity', 'bymodel', 'bynucleotide', 'bypolymer', 'fromatoms', 'fromcartoons', 'fromribbons', or 'random' or a keyword, got "nosuch"` + "\n"},
		{"log show", "INFO:\nExecuting: log show\nERROR:\n\nUnexpected exception, save your work and exit:\n\nBUG:\n"},
	}
	for _, tt := range tests {
		s, out := newTestSimulator(t)
		if exit := s.runLine(tt.in); exit {
			t.Errorf("runLine(%q) asks to exit", tt.in)
		}
		if got := out.String(); !strings.HasPrefix(got, tt.out) {
			t.Errorf("runLine(%q) output:\n%s\nwant it to start:\n%s", tt.in, got, tt.out)
		}
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
		case !r.restLog && (err == nil || err.(*commandError).msg != `Expected a keyword, got "log"`):
			t.Errorf("%s: rest start with log: %v, want Expected a keyword, got \"log\"", r.version, err)
		}
	}
}
