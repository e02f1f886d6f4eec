package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// policyTestDir stands for a session directory in the tests.
const policyTestDir = "/srv/chimerad/sessions/0b7c"

// policyAllowedCases are lines the default policy allows, with the commands
// Check returns; DIR in either stands for policyTestDir.
var policyAllowedCases = []struct {
	line string
	want []string
}{
	{"view", []string{"view"}},
	{"color red", []string{"color red"}},
	{"cartoon; show :1-10 atoms", []string{"cartoon", "show :1-10 atoms"}},
	{"turn y 30", []string{"turn y 30"}},
	{"select /A:10-20", []string{"select /A:10-20"}},
	{"color #1 & protein cornflowerblue", []string{"color #1 & protein cornflowerblue"}},
	{"  color\t#1\t red  ", []string{"color #1 red"}},
	{"view;\ncolor red\n", []string{"view", "color red"}},
	{"\r\nview\r\n;\r\ncolor red\r\n", []string{"view", "color red"}},
	{";; view ;;", []string{"view"}},
	{"view;color red;", []string{"view", "color red"}},
	{"", []string{}},
	{" \t\n", []string{}},
	{";", []string{}},
	{"info", []string{"info"}},
	{"info models", []string{"info models"}},
	{"hbonds ligand restrict protein reveal true", []string{"hbonds ligand restrict protein reveal true"}},
	{"distance /A:1@CA /A:2@CA", []string{"distance /A:1@CA /A:2@CA"}},
	{"close session", []string{"close session"}},
	{"color sandybrown", []string{"color sandybrown"}},
	{"label #1 text 'hello world'", []string{"label #1 text 'hello world'"}},
	{`label #1 text "it's here"`, []string{`label #1 text "it's here"`}},
	{`label #1 text "a;b"`, []string{`label #1 text "a;b"`}},
	{`label #1 text "5 Å"`, []string{`label #1 text "5 Å"`}},
	{`label #1 text ""`, []string{`label #1 text ""`}},
	{`"view" #1`, []string{"view #1"}},
	{`'color' red`, []string{"color red"}},
	// '#' starts a comment only where a command starts.
	{"view #1", []string{"view #1"}},
	{"color #1 red # not a comment", []string{"color #1 red # not a comment"}},
	// A comment runs to the end of the whole line, across ; and newlines.
	{"# a comment", []string{}},
	{"#comment\nrunscript /tmp/x.py", []string{}},
	{"view; # a comment; runscript /tmp/x.py", []string{"view"}},
	{"view;#x\nrunscript /tmp/x.py", []string{"view"}},
	{";# c\n; pip install x", []string{}},
	{`view ; # "unbalanced`, []string{"view"}},
	// open: PDB ids, always rewritten to fetch from pdb.
	{"open 1hpv", []string{"open 1hpv from pdb"}},
	{"open 1hpv from pdb", []string{"open 1hpv from pdb"}},
	{"open 1HPV fromDatabase pdb format mmcif", []string{"open 1hpv from pdb format mmcif"}},
	{"open pdb:1hpv", []string{"open 1hpv from pdb"}},
	{"open pdb:1hpv format pdb", []string{"open 1hpv from pdb format pdb"}},
	{"open 00001hpv", []string{"open 00001hpv from pdb"}},
	{"open pdb_00001hpv", []string{"open 00001hpv from pdb"}},
	{"open PDB_00001HPV from pdb", []string{"open 00001hpv from pdb"}},
	{"open pdb:pdb_00001hpv name hiv", []string{"open 00001hpv from pdb name hiv"}},
	{`open 1hpv name "HIV protease"`, []string{`open 1hpv from pdb name "HIV protease"`}},
	// open: files inside the session directory, by absolute path.
	{"open structure.pdb", []string{"open DIR/structure.pdb"}},
	{"open DIR/structure.pdb.gz", []string{"open DIR/structure.pdb.gz"}},
	{"open ./sub//x.cif format mmcif", []string{"open DIR/sub/x.cif format mmcif"}},
	{"open X.PDB", []string{"open DIR/X.PDB"}},
	{"open a.ent", []string{"open DIR/a.ent"}},
	{"open a.mmcif.gz", []string{"open DIR/a.mmcif.gz"}},
	{"open lig.sdf format sdf", []string{"open DIR/lig.sdf format sdf"}},
	{"open lig.mol", []string{"open DIR/lig.mol"}},
	{"open lig.mol2.gz format mol2", []string{"open DIR/lig.mol2.gz format mol2"}},
	{"open checkpoint.cxs", []string{"open DIR/checkpoint.cxs"}},
	{"open checkpoint.cxs format session", []string{"open DIR/checkpoint.cxs format session"}},
	{`open "a;b.pdb"`, []string{`open "DIR/a;b.pdb"`}},
	{`open "my file.pdb" name 'my model'`, []string{`open "DIR/my file.pdb" name 'my model'`}},
	{`open 'say "hi".pdb'`, []string{`open 'DIR/say "hi".pdb'`}},
	{"open 1hpv; open lig.sdf", []string{"open 1hpv from pdb", "open DIR/lig.sdf"}},
	// save: files inside the session directory.
	{"save image.png width 800 height 600 supersample 3", []string{"save DIR/image.png width 800 height 600 supersample 3"}},
	{"save image.png width 0800", []string{"save DIR/image.png width 800"}},
	{"save shot.jpg transparentBackground false format jpeg", []string{"save DIR/shot.jpg transparentBackground false format jpeg"}},
	{"save DIR/s.cxs", []string{"save DIR/s.cxs"}},
	{"save out/model.pdb format pdb", []string{"save DIR/out/model.pdb format pdb"}},
	{"save model.cif", []string{"save DIR/model.cif"}},
	{"save big.png width 4096 height 4096 supersample 4", []string{"save DIR/big.png width 4096 height 4096 supersample 4"}},
}

// policyRefusedCases are lines the default policy refuses, with a part of
// the reason.
var policyRefusedCases = []struct {
	line   string
	reason string
}{
	// Splitting: ; and newlines end commands, quotes protect ; only inside.
	{"open 1abc;runscript /tmp/x.py", "runscript is never allowed"},
	{"view; runs x.py", `"runs" abbreviates runscript`},
	{"view\nrunscript /tmp/x.py", "line break inside a command"},
	{"view\ncolor red", "line break inside a command"},
	{"view\r\ncolor red\r\n", "line break inside a command"},
	{"color red\n#1", "line break inside a command"},
	{"view\r\n;runscript /tmp/x.py", "runscript is never allowed"},
	{`open "a;b.pdb" ; runscript /tmp/x.py`, "runscript is never allowed"},
	{`open "a;b.py"`, "want a file ending in"},
	{`label #1 text "a" ; runscript x`, "runscript is never allowed"},
	// Comment tricks: '#' inside a command is not a comment.
	{"view #1;runscript /tmp/x.py", "runscript is never allowed"},
	{"color red #c; runscript /tmp/x.py", "runscript is never allowed"},
	{"view '#' ; runscript /tmp/x.py", "runscript is never allowed"},
	{`"#view"`, "not a lowercase ChimeraX command name"},
	// Prefixes and case: ChimeraX completes prefixes and is case-sensitive.
	{"runs /tmp/x.py", `"runs" abbreviates runscript`},
	{"rem rest start port 8080", `"rem" abbreviates remotecontrol`},
	{"toolsh install x", `"toolsh" abbreviates toolshed`},
	{"pi install x", `"pi" abbreviates pip`},
	{"sav /tmp/x.png", `"sav" abbreviates save`},
	{"op /etc/passwd", `abbreviates`},
	{"inf models saveFile /tmp/x", `"inf" abbreviates info`},
	{"RUNSCRIPT /tmp/x.py", "runscript is never allowed"},
	{"Runscript /tmp/x.py", "runscript is never allowed"},
	{"RUNS /tmp/x.py", "not a lowercase ChimeraX command name"},
	{"Open 1abc", "not a lowercase ChimeraX command name"},
	{"VIEW", "not a lowercase ChimeraX command name"},
	{"vie", "not on the allow-list"},
	{"version", "not on the allow-list"},
	{"setattr #1 atoms name x", "not on the allow-list"},
	{`"" x`, "empty command name"},
	// Never allowed.
	{"alias x runscript y", "alias is never allowed"},
	{"remotecontrol rest stop", "remotecontrol is never allowed"},
	{"remotecontrol xmlrpc on address 0.0.0.0", "remotecontrol is never allowed"},
	{"meeting start", "meeting is never allowed"},
	{"pip install x", "pip is never allowed"},
	{"toolshed install x", "toolshed is never allowed"},
	{"devel build /tmp/x", "devel is never allowed"},
	{"exit", "exit is never allowed"},
	{"quit", "quit is never allowed"},
	{"stop", "stop is never allowed"},
	{"cd /", "cd is never allowed"},
	{"log save /tmp/x.html", "log is never allowed"},
	{"shell", "shell is never allowed"},
	{"python", "python is never allowed"},
	{"system ls", "system is never allowed"},
	{"debug", "debug is never allowed"},
	{"ui tool show Shell", "ui is never allowed"},
	{`perframe "runscript /tmp/x.py"`, "perframe is never allowed"},
	{"openfold install", "openfold is never allowed"},
	{"boltz install", "boltz is never allowed"},
	{"runscript /tmp/x.py", "runscript is never allowed"},
	// open: only PDB ids and structure or session files in the session directory.
	{"open http://127.0.0.1:1234/run?command=runscript%20/tmp/x.py", "URLs"},
	{"open https://example.org/x.pdb", "URLs"},
	{"open ftp://example.org/x.pdb", "URLs"},
	{"open emdb:1234", "URLs and database prefixes other than pdb:"},
	{"open pdb:../x.pdb", "pdb: needs a PDB id"},
	{"open pdb:1abcd", "pdb: needs a PDB id"},
	{"open /etc/passwd", "outside the session directory"},
	{"open /etc/x.pdb", "outside the session directory"},
	{"open DIRx/x.pdb", "outside the session directory"},
	{"open DIR", "outside the session directory"},
	{"open ../../x.pdb", ".. leaves the session directory"},
	{"open sub/../../x.pdb", ".. leaves the session directory"},
	{"open DIR/../x.pdb", ".. leaves the session directory"},
	{"open ~/x.pdb", "~ and $ would be expanded"},
	{"open ~root/x.pdb", "~ and $ would be expanded"},
	{"open $HOME/x.pdb", "~ and $ would be expanded"},
	{"open ${HOME}/x.pdb", "has { or }"},
	{"open $HOME", "~ and $ would be expanded"},
	{"open *.pdb", "wildcards"},
	{"open x?.pdb", "wildcards"},
	{"open [x].pdb", "wildcards"},
	{"open .x.pdb", "hidden files"},
	{"open home/.config/x.pdb", "hidden files"},
	{"open x.py", "want a file ending in"},
	{"open x.pyc", "want a file ending in"},
	{"open x.pyo", "want a file ending in"},
	{"open x.cxc", "want a file ending in"},
	{"open x.pdb.py", "want a file ending in"},
	{"open x.PY", "want a file ending in"},
	{"open x.cxs.gz", "want a file ending in"},
	{"open x.gz", "want a file ending in"},
	{"open browse", "want a file ending in"},
	{"open formats", "want a file ending in"},
	{"open x.pdb format python", `format "python": the file's suffix says pdb`},
	{"open x.pdb format cmd", `format "cmd"`},
	{"open x.cif format session", `format "session"`},
	{"open 1abc format python", "want pdb or mmcif"},
	{"open 1abc from emdb", `from "emdb": only pdb`},
	{"open x.pdb from pdb", "from applies only to PDB ids"},
	{"open x.pdb combine true", `"combine" is not an allowed keyword`},
	{"open x.pdb f python", `"f" is not an allowed keyword`},
	{"open x.pdb fo python", `"fo" is not an allowed keyword`},
	{"open x.pdb y.pdb", `"y.pdb" is not an allowed keyword`},
	{"open 1abc name", "keyword name has no value"},
	{"open 1abc name a name b", "keyword name is repeated"},
	{"open 1abc from pdb fromDatabase pdb", "keyword fromDatabase is repeated"},
	{"open", "open needs a PDB id or a file"},
	{"open 1abc name __x", "has __"},
	// save: images, sessions and structures in the session directory.
	{"save /tmp/x.png", "outside the session directory"},
	{"save ../x.png", ".. leaves the session directory"},
	{"save ~/x.png", "~ and $ would be expanded"},
	{"save x.py", "want a file ending in"},
	{"save x.cxc", "want a file ending in"},
	{"save x.html", "want a file ending in"},
	{"save x.png.gz", "want a file ending in"},
	{"save home/chimerax_start/x.py", "want a file ending in"},
	{"save x.pdb width 100", "width applies only to .png and .jpg images"},
	{"save x.cxs transparentBackground true", "applies only to .png and .jpg images"},
	{"save x.png width 99999", "want a whole number from 1 to 4096"},
	{"save x.png width 0", "want a whole number from 1 to 4096"},
	{"save x.png width -1", "want a whole number"},
	{"save x.png width 1e3", "want a whole number"},
	{"save x.png height 4097", "want a whole number from 1 to 4096"},
	{"save x.png supersample 9", "want a whole number from 1 to 4"},
	{"save x.png transparentBackground 1", "want true or false"},
	{"save x.png format session", `format "session": the file's suffix says png`},
	{"save x.png models #1", `"models" is not an allowed keyword`},
	{"save x.png w 10", `"w" is not an allowed keyword`},
	{"save", "save needs a file"},
	{"save http://example.org/x.png", "URLs"},
	// Writing files and other side doors of allowed commands.
	{"info models saveFile /tmp/x", "abbreviates saveFile"},
	{"info models savef /tmp/x", "abbreviates saveFile"},
	{"info models save_file /tmp/x", "abbreviates saveFile"},
	{"info models SAVEFILE /tmp/x", "abbreviates saveFile"},
	{`info models "saveFile" /tmp/x`, "abbreviates saveFile"},
	{"info models s /tmp/x", "abbreviates saveFile"},
	{"info notify start models url http://127.0.0.1:9/", "info notify"},
	{"info noti start models", "info notify"},
	{"hbonds ligand saveFile /tmp/x.txt", "abbreviates saveFile"},
	{"contacts ligand sav /tmp/x.txt", "abbreviates saveFile"},
	{"distance save /tmp/x.txt", "abbreviates saveFile"},
	{"color image #1 file /etc/x.png", "color image"},
	{"color im #1", "color image"},
	{"label #1 font /etc/passwd", "abbreviates font"},
	{"label #1 text x fo /etc/passwd", "abbreviates font"},
	{`label #1 text "{0.name}"`, "has { or }"},
	{`label #1 text "{0.__class__}"`, "has __"},
	{"info models attribute __dict__", "has __"},
	{"hbonds ligand save_\ufb01le /tmp/x", "mixes _ with non-ASCII"},
	// Malformed lines.
	{`label #1 text "abc`, `unbalanced "`},
	{`open 'x.pdb`, "unbalanced '"},
	{`view "`, `unbalanced "`},
	{`label #1 text "a"b`, `closing " at byte 16 is followed by 'b'`},
	{`view "x";runscript /tmp/x.py`, "followed directly by a semicolon"},
	{`label #1 text it's`, "stray ' inside a word"},
	{`label #1 text a"b"`, `stray " inside a word`},
	{"label #1 text \"a\nb\"", "spans a line break"},
	{"view\x00; runscript /tmp/x.py", "control character U+0000"},
	{"view\x1b[31m", "control character U+001B"},
	{"view\x7f", "control character U+007F"},
	{"view\vcolor red", "control character U+000B"},
	{"view\fcolor red", "control character U+000C"},
	{"view\u0085runscript x", "control character U+0085"},
	{"view\u00a0#1", "non-ASCII space or invisible character U+00A0"},
	{"view\u2003runscript x", "U+2003"},
	{"view\u2028runscript x", "U+2028"},
	{"view\u200b", "U+200B"},
	{"view \u202eipt", "U+202E"},
	{"view \ufeff", "U+FEFF"},
	{`label #1 text "a\x3bb"`, "backslash"},
	{`open "x\x2epy"`, "backslash"},
	{"view \xff", "not valid UTF-8"},
	{"view " + strings.Repeat("x", 64<<10), "the limit is 65536"},
}

// policyLine replaces DIR in s with policyTestDir.
func policyLine(s string) string { return strings.ReplaceAll(s, "DIR", policyTestDir) }

func TestPolicyCheckAllowed(t *testing.T) {
	p := Policy{Allow: DefaultAllow}
	for _, tc := range policyAllowedCases {
		line := policyLine(tc.line)
		want := make([]string, len(tc.want))
		for i, w := range tc.want {
			want[i] = policyLine(w)
		}
		t.Run(elide(tc.line, 40), func(t *testing.T) {
			got, err := p.Check(line, policyTestDir)
			if err != nil {
				t.Fatalf("Check(%q) error %v, want %q", line, err, want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Check(%q) = %q, want %q", line, got, want)
			}
		})
	}
}

func TestPolicyCheckRefused(t *testing.T) {
	p := Policy{Allow: DefaultAllow}
	for _, tc := range policyRefusedCases {
		line := policyLine(tc.line)
		t.Run(elide(tc.line, 40), func(t *testing.T) {
			got, err := p.Check(line, policyTestDir)
			switch {
			case err == nil:
				t.Errorf("Check(%q) = %q, want refusal %q", elide(line, 80), got, tc.reason)
			case !errors.Is(err, ErrRefused):
				t.Errorf("Check(%q) error %v, want one wrapping ErrRefused", elide(line, 80), err)
			case !strings.Contains(err.Error(), policyLine(tc.reason)):
				t.Errorf("Check(%q) error %q, want it to say %q", elide(line, 80), err, tc.reason)
			case got != nil:
				t.Errorf("Check(%q) = %q with an error, want nil", elide(line, 80), got)
			}
		})
	}
}

func TestPolicyCheckNamesRefusedCommand(t *testing.T) {
	p := Policy{Allow: DefaultAllow}
	_, err := p.Check("view; color red; runscript /tmp/x.py; turn y 30", policyTestDir)
	want := `chimerax: command refused: "runscript /tmp/x.py": runscript is never allowed: runs Python and command scripts`
	if err == nil || err.Error() != want {
		t.Errorf("Check(...) error %v, want %q", err, want)
	}
}

func TestPolicyCheckSessionDir(t *testing.T) {
	p := Policy{Allow: DefaultAllow}
	for _, dir := range []string{"", "relative/dir", "/", "/srv/../x", "/srv/x/", "/srv/$HOME", "/srv/~x", "/srv/a:b", "/srv/a\nb", "/srv/a\"b'c", "/srv/a\u00a0b"} {
		got, err := p.Check("view", dir)
		if err == nil || errors.Is(err, ErrRefused) {
			t.Errorf("Check(view, %q) = %q, %v; want a caller's error, not ErrRefused", dir, got, err)
		}
	}
	// A plain space is quoted, not refused.
	dir := "/srv/my sessions/s1"
	got, err := p.Check("open x.pdb", dir)
	if want := []string{`open "/srv/my sessions/s1/x.pdb"`}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Check(open x.pdb, %q) = %q, %v; want %q", dir, got, err, want)
	}
}

func TestPolicyAllowList(t *testing.T) {
	tests := []struct {
		allow []string
		line  string
		ok    bool
	}{
		{nil, "view", false},
		{[]string{}, "view", false},
		{[]string{"view"}, "view", true},
		{[]string{"view"}, "color red", false},
		{[]string{"view"}, "vie", false},
		{[]string{"runscript", "view"}, "runscript /tmp/x.py", false},
		{[]string{"runs"}, "runs /tmp/x.py", false},
		{[]string{"ope"}, "ope x.py", false},
		{[]string{"sa"}, "sa /tmp/x.png", false},
		{[]string{"View"}, "View", false},
		{[]string{"~select"}, "~select", true},
		{[]string{"2dlabels"}, "2dlabels text hi", true},
		{[]string{"open"}, "open 1abc", true},
		{[]string{"open"}, "open /etc/passwd", false},
		{[]string{"view", "color"}, "view; color red", true},
		{[]string{"view", "color"}, "view; turn y 30", false},
	}
	for _, tc := range tests {
		got, err := Policy{Allow: tc.allow}.Check(tc.line, policyTestDir)
		if ok := err == nil; ok != tc.ok {
			t.Errorf("Policy{Allow: %q}.Check(%q) = %q, %v; want allowed %v", tc.allow, tc.line, got, err, tc.ok)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := (Policy{Allow: DefaultAllow}).Validate(); err != nil {
		t.Errorf("Policy{Allow: DefaultAllow}.Validate() = %v, want nil", err)
	}
	if err := (Policy{Allow: []string{"~select", "2dlabels", "version"}}).Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
	for _, bad := range []string{"", "runscript", "Runscript", "runs", "ope", "sav", "inf", "rem", "View", "view name", "vi;ew", "#x", "log"} {
		err := Policy{Allow: []string{"view", bad}}.Validate()
		if err == nil || !strings.Contains(err.Error(), "chimerax: policy: allow") {
			t.Errorf("Policy{Allow: [view %q]}.Validate() = %v, want an error naming the entry", bad, err)
		}
	}
}

// TestPolicyNeverAllowWins checks every never-allowed word against an
// allow-list that names it.
func TestPolicyNeverAllowWins(t *testing.T) {
	p := Policy{Allow: neverAllowWords}
	for _, w := range neverAllowWords {
		if got, err := p.Check(w+" x", policyTestDir); !errors.Is(err, ErrRefused) {
			t.Errorf("Check(%q) with %q allowed = %q, %v; want ErrRefused", w+" x", w, got, err)
		}
	}
	for _, w := range DefaultAllow {
		if _, ok := neverAllow[w]; ok {
			t.Errorf("DefaultAllow holds %q, which is in neverAllow", w)
		}
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		line string
		want [][]string // token texts as written
	}{
		{"", nil},
		{"view", [][]string{{"view"}}},
		{"a b\tc", [][]string{{"a", "b", "c"}}},
		{"\na;\nb\r\n;c\n", [][]string{{"a"}, {"b"}, {"c"}}},
		{"a;b ; c;;", [][]string{{"a"}, {"b"}, {"c"}}},
		{`a "b c" 'd;e' f`, [][]string{{"a", `"b c"`, `'d;e'`, "f"}}},
		{`a "" ''`, [][]string{{"a", `""`, `''`}}},
		{`a "it's" 'say "x"'`, [][]string{{"a", `"it's"`, `'say "x"'`}}},
		{`a "b"`, [][]string{{"a", `"b"`}}},
		{"a \"b\"\tc", [][]string{{"a", `"b"`, "c"}}},
		{"a #1 b#", [][]string{{"a", "#1", "b#"}}},
		{"#x; a", nil},
		{"a; #x; b", [][]string{{"a"}}},
		{"a;  \n #x \n b", [][]string{{"a"}}},
		{`"#x" ; a`, [][]string{{`"#x"`}, {"a"}}},
		{"a:b@c/d,e", [][]string{{"a:b@c/d,e"}}},
		{"é ü", [][]string{{"é", "ü"}}},
	}
	for _, tc := range tests {
		cmds, err := cliTokenize(tc.line)
		if err != nil {
			t.Errorf("cliTokenize(%q) error %v, want %q", tc.line, err, tc.want)
			continue
		}
		var got [][]string
		for _, cmd := range cmds {
			var toks []string
			for _, tok := range cmd {
				toks = append(toks, tok.String())
			}
			got = append(got, toks)
		}
		if !slices.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("cliTokenize(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestTokenizeUnquotes(t *testing.T) {
	cmds, err := cliTokenize(`open "a b;c.pdb" name 'x "y"'`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tok := range cmds[0] {
		got = append(got, tok.text)
	}
	if want := []string{"open", "a b;c.pdb", "name", `x "y"`}; !slices.Equal(got, want) {
		t.Errorf("cliTokenize texts = %q, want %q", got, want)
	}
}

func TestTokenizeRefuses(t *testing.T) {
	for _, line := range []string{
		`"`, `'`, `a "b`, `a 'b`, `a "b"c`, `a 'b'c`, `a "b";c`, `a 'b';c`,
		`a"b`, `a'b`, "\"a\nb\"", "\"a\rb\"", "a\x00", "a\x01b", "a\\b",
		"a\u00a0b", "a\u3000b", "a\u200bb", "\xc3", "a\nb", "a\r\nb", "a \n #x",
		strings.Repeat("a", 64<<10+1),
	} {
		if got, err := cliTokenize(line); err == nil {
			t.Errorf("cliTokenize(%q) = %v, want an error", elide(line, 40), got)
		}
	}
	if _, err := cliTokenize(strings.Repeat("a", 64<<10)); err != nil {
		t.Errorf("cliTokenize(64 KiB) error %v, want nil", err)
	}
}

func TestTokenizeQuote(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"x", "x", true},
		{"a b", `"a b"`, true},
		{"a;b", `"a;b"`, true},
		{"", `""`, true},
		{`a"b`, `'a"b'`, true},
		{"it's", `"it's"`, true},
		{`a"b'c`, "", false},
		{"a\nb", "", false},
	}
	for _, tc := range tests {
		got, ok := cliQuote(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("cliQuote(%q) = %q, %v, want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestPolicyWrites: of the commands Check returns, save and opens from a
// database write into the session directory, and save names its file.
func TestPolicyWrites(t *testing.T) {
	for _, tc := range []struct {
		line, file string
		ok         bool
	}{
		{"save a.png width 100", policyTestDir + "/a.png", true},
		{`save "my pic.png"`, policyTestDir + "/my pic.png", true},
		{"save sub/x.cxs", policyTestDir + "/sub/x.cxs", true},
		{"open 1abc", "", true},
		{"open a.pdb", "", false},
		{"color red", "", false},
		{"info models", "", false},
	} {
		cmds, err := Policy{Allow: DefaultAllow}.Check(tc.line, policyTestDir)
		if err != nil || len(cmds) != 1 {
			t.Fatalf("Check(%q) = %q, %v", tc.line, cmds, err)
		}
		if file, ok := Writes(cmds[0]); file != tc.file || ok != tc.ok {
			t.Errorf("Writes(%q) = %q, %v, want %q, %v", cmds[0], file, ok, tc.file, tc.ok)
		}
	}
}
