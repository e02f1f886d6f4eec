package sim

import (
	"errors"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// run runs text in s as a REST request with json true would, and fails the
// test on error.
func run(t *testing.T, s *simulator, text string) []result {
	t.Helper()
	results, err := s.runText(text, fromREST, false, true)
	if err != nil {
		t.Fatalf("runText(%q) error = %v", text, err)
	}
	return results
}

// runErr runs text and returns its error message and class.
func runErr(t *testing.T, s *simulator, text string) (class, msg string) {
	t.Helper()
	_, err := s.runText(text, fromREST, false, true)
	var ce *commandError
	if !errors.As(err, &ce) {
		t.Fatalf("runText(%q) error = %v, want a command error", text, err)
	}
	return ce.class, ce.msg
}

func abs(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func modelIDs(s *simulator) []string {
	var ids []string
	for _, m := range s.models {
		ids = append(ids, m.spec())
	}
	return ids
}

func TestOpenAndClose(t *testing.T) {
	s, _ := newTestSimulator(t)
	r := run(t, s, "open "+abs(t, "1hpv.pdb"))
	if got, want := []any{r[0].json, r[0].python}, []any{`{"model specs": ["#1"]}`, []any{modelValue("1hpv.pdb #1")}}; !reflect.DeepEqual(got, want) {
		t.Errorf("open 1hpv.pdb = %#v, want %#v", got, want)
	}
	r = run(t, s, "open "+abs(t, "ligs3d.sdf")+" name ligands")
	if got, want := []any{r[0].json, r[0].python}, []any{`{"model specs": ["#2"]}`, []any{modelValue("ligands #2")}}; !reflect.DeepEqual(got, want) {
		t.Errorf("open ligs3d.sdf = %#v, want %#v", got, want)
	}
	if got := len(modelIDs(s)); got != 12 {
		t.Errorf("after opening 1hpv.pdb and ligs3d.sdf, %d models, want 12 (#1, #2, #2.1-10)", got)
	}

	steps := []struct {
		command string
		want    []string
	}{
		{"close #2.3-10", []string{"#1", "#2", "#2.1", "#2.2"}},
		{"close #1", []string{"#2", "#2.1", "#2.2"}},
		{"open " + abs(t, "pept.pdb"), []string{"#1", "#2", "#2.1", "#2.2"}}, // the lowest free id
		{"close #!2", []string{"#1"}},                                        // closing a model closes its submodels
		{"open " + abs(t, "3al1.cif") + " " + abs(t, "small03.mol2"), nil},   // checked below
		{"close session", nil},
		{"open " + abs(t, "1hpv.pdb.gz"), []string{"#1"}},
		{"close", nil},
	}
	for _, step := range steps {
		run(t, s, step.command)
		got := modelIDs(s)
		if strings.HasPrefix(step.command, "open "+abs(t, "3al1.cif")) {
			if len(got) != 19 || got[1] != "#2" || got[2] != "#3" {
				t.Errorf("after %q, models %v, want #1, #2, #3 and #3.1-16", step.command, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, step.want) {
			t.Errorf("after %q, models %v, want %v", step.command, got, step.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := write("empty.pdb", "")
	bad := write("bad.sdf", "t\n\n\nxx\n")
	notGzip := write("x.pdb.gz", "this is not a gzip file at all")
	script := write("x.py", "print(1)")
	noSuffix := write("README", "x")

	tests := []struct{ command, class, msg string }{
		{"open /nonexistent/x.pdb", "UserError", "No such file/path: /nonexistent/x.pdb"},
		{"open /nonexistent/abc", "UserError", "No such file/path: /nonexistent/abc"},
		{"open " + noSuffix, "UserError", "Cannot determine format for '" + noSuffix + "'"},
		{"open x.xyz", "UserError", "Unrecognized file suffix '.xyz'"},
		{"open " + script, "UserError", "open: running .py files is not supported by the chimerad simulator"},
		{"open " + empty, "UserError", "No structures found in empty.pdb"},
		{"open " + bad, "UserError", `Error reading MDL SDfile file bad.sdf: molecule starting at line 1: bad counts line "xx"`},
		{"open " + notGzip, "UserError", "Error reading PDB file x.pdb.gz: not a gzip file: gzip: invalid header"},
		{"open " + bad + " format nosuch", "UserError", `Unknown data format: "nosuch"`},
		{"open pdb:abc", "UserError", `PDB identifiers are either 4 or 8 characters long, got "abc"`},
		{"open abc from pdb", "UserError", `PDB identifiers are either 4 or 8 characters long, got "abc"`},
		{"open 1abc", "UserError", "Fetching url http://files.rcsb.org/download/1abc.cif failed:\nHTTP Error 404: Not Found"},
		{"open 1ABC format pdb", "UserError", "Fetching url http://files.rcsb.org/download/1abc.pdb failed:\nHTTP Error 404: Not Found"},
		{"open 00001abc", "UserError", "Fetching url http://files.rcsb.org/download/00001abc.cif failed:\nHTTP Error 404: Not Found"},
		{"open emdb:1234", "UserError", "open: fetching from emdb is not supported by the chimerad simulator"},
		{"open " + dir, "UserError", "Cannot determine format for '" + dir + "'"},
	}
	for _, tt := range tests {
		s, _ := newTestSimulator(t)
		class, msg := runErr(t, s, tt.command)
		if class != tt.class || msg != tt.msg {
			t.Errorf("%s: error %s: %q, want %s: %q", tt.command, class, msg, tt.class, tt.msg)
		}
	}
}

func TestFetchCache(t *testing.T) {
	cache := t.TempDir()
	data, err := os.ReadFile(filepath.Join(testdata, "3al1.cif"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "3al1.cif"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	pdbData, err := os.ReadFile(filepath.Join(testdata, "1hpv.pdb"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "1hpv.pdb"), pdbData, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, command := range []string{"open 3al1", "open 3AL1", "open 3al1 from pdb", "open pdb:3al1", "open 3al1 format pdb", "open 1hpv"} {
		s, out := newTestSimulator(t)
		s.knobs.fetchCache = cache
		results, err := s.runText(command, fromStdin, true, false)
		if err != nil {
			t.Errorf("%s: error = %v", command, err)
			continue
		}
		id := strings.ToLower(strings.Fields(command)[1])
		id = strings.TrimPrefix(id, "pdb:")
		if got, want := results[0].python, []any{modelValue(id + " #1")}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: python value %v, want %v", command, got, want)
		}
		if !strings.Contains(out.String(), "Summary of feedback from opening "+id+" fetched from pdb") {
			t.Errorf("%s: output lacks the fetch summary:\n%s", command, out)
		}
	}
	s, _ := newTestSimulator(t)
	s.knobs.fetchCache = cache
	if _, msg := runErr(t, s, "open 9zzz"); msg != "Fetching url http://files.rcsb.org/download/9zzz.cif failed:\nHTTP Error 404: Not Found" {
		t.Errorf("open 9zzz with a cache that lacks it: %q", msg)
	}
}

func TestInfo(t *testing.T) {
	s, out := newTestSimulator(t)
	run(t, s, "open "+abs(t, "pept.pdb"))
	if _, err := s.runText("info; info models; info models #1 attribute id; info models type Model", fromStdin, false, false); err != nil {
		t.Fatal(err)
	}
	// 112 bonds: 106 for the chain, 2 rings in each Trp, 1 in His and the
	// Cys 2-Cys 12 disulfide.
	want := "INFO:\nOpened pept.pdb as #1: 107 atoms, 112 bonds, 13 residues, 1 chains (E)\n" +
		"INFO:\n1 models\n#1, pept.pdb, shown\n107 atoms, 112 bonds, 13 residues, 1 chains (E)\n" +
		"INFO:\nmodel id #1 type AtomicStructure name pept.pdb\n" +
		"INFO:\nmodel id #1 type AtomicStructure id 1\n" +
		"INFO:\n\n" // no model of type Model: ChimeraX logs an empty message
	if out.String() != want {
		t.Errorf("info output:\n%s\nwant:\n%s", out, want)
	}

	r := run(t, s, "info; info models; info models attr bogus")
	want0 := `[{"spec": "#1", "name": "pept.pdb", "shown": true, "num triangles": 0, "num instances": 1, ` +
		`"num selected instances": 0, "num atoms": 107, "num_bonds": 112, "num residues": 13, "chains": ["E"], ` +
		`"num coordsets": 1, "pseudobond groups": []}]`
	want1 := `[{"spec": "#1", "class": "AtomicStructure", "attribute": "name", "present": true, "value": "pept.pdb"}]`
	want2 := `[{"spec": "#1", "class": "AtomicStructure", "attribute": "bogus", "present": false, "value": null}]`
	if got, want := []any{r[0].json, r[1].json, r[2].json}, []any{want0, want1, want2}; !reflect.DeepEqual(got, want) {
		t.Errorf("info JSON values =\n%v\nwant\n%v", got, want)
	}
}

func TestSaveImage(t *testing.T) {
	dir := t.TempDir()
	s, _ := newTestSimulator(t)
	run(t, s, "open "+abs(t, "1hpv.pdb"))
	tests := []struct {
		command       string
		file          string
		width, height int
		transparent   bool
	}{
		{"save %s width 64 height 48 supersample 3", "a.png", 64, 48, false},
		{"save %s", "default.png", 256, 256, false},
		{"save %s width 40", "square.png", 40, 40, false},
		{"save %s height 30 transparentBackground true supersample 1", "clear.png", 30, 30, true},
		{"save %s width 20 height 10", "a.jpg", 20, 10, false},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.file)
		run(t, s, strings.Replace(tt.command, "%s", path, 1))
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		decode := png.Decode
		if strings.HasSuffix(path, ".jpg") {
			decode = jpeg.Decode
		}
		img, err := decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: decode: %v", tt.command, err)
		}
		if b := img.Bounds(); b.Dx() != tt.width || b.Dy() != tt.height {
			t.Errorf("%s: image %dx%d, want %dx%d", tt.command, b.Dx(), b.Dy(), tt.width, tt.height)
		}
		_, _, _, cornerAlpha := img.At(0, 0).RGBA()
		drawn := 0 // pixels that are not the black background
		for y := range tt.height {
			for x := range tt.width {
				if r, g, b, a := img.At(x, y).RGBA(); a == 0xffff && r+g+b > 0x3000 {
					drawn++
				}
			}
		}
		if (cornerAlpha == 0) != tt.transparent || drawn < tt.width*tt.height/50 {
			t.Errorf("%s: alpha %#x at the corner, %d pixels drawn; want a transparent corner: %v and the molecule drawn", tt.command, cornerAlpha, drawn, tt.transparent)
		}
	}

	errorTests := []struct{ command, class, msg string }{
		{"save /nonexistent/dir/x.png", "UserError", `Directory "/nonexistent/dir" does not exist`},
		{"save " + filepath.Join(dir, "big.png") + " width 16385 height 10", "UserError",
			"Image size 16385 x 10 too large, exceeds maximum OpenGL render buffer size 16384"},
		{"save " + filepath.Join(dir, "x.tif"), "UserError", "Unrecognized file suffix '.tif'"},
	}
	for _, tt := range errorTests {
		if class, msg := runErr(t, s, tt.command); class != tt.class || msg != tt.msg {
			t.Errorf("%s: error %s: %q, want %s: %q", tt.command, class, msg, tt.class, tt.msg)
		}
	}

	s.opts.offscreen = false // nogui without --offscreen has no OpenGL
	class, msg := runErr(t, s, "save "+filepath.Join(dir, "x.png"))
	if class != "LimitationError" || msg != "Unable to save images because OpenGL rendering is not available" {
		t.Errorf("save without --offscreen: error %s: %q, want the LimitationError", class, msg)
	}
}

func TestSessionRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, _ := newTestSimulator(t)
	run(t, s, "open "+abs(t, "1hpv.pdb"))
	run(t, s, "open "+abs(t, "small03.mol2"))
	before := s.models
	for _, compress := range []string{"gzip", "none"} {
		path := filepath.Join(dir, "s-"+compress+".cxs")
		run(t, s, "save "+path+" compress "+compress)
		run(t, s, "close session; open "+abs(t, "pept.pdb"))
		r := run(t, s, "open "+path)
		if got, want := r[0].json, `{"model specs": ["#1", "#2"]}`; got != want {
			t.Errorf("open %s: json value %v, want %v", path, got, want)
		}
		if !reflect.DeepEqual(s.models, before) {
			t.Errorf("open %s restored %v, want %v", path, modelIDs(s), modelIDs(&simulator{models: before}))
		}
	}

	r := run(t, s, "open "+filepath.Join(dir, "s-gzip.cxs")+" combine true")
	if got, want := r[0].json, `{"model specs": ["#3", "#4"]}`; got != want {
		t.Errorf("open with combine true: json value %v, want %v", got, want)
	}
	if got := len(s.models); got != 2*len(before) {
		t.Errorf("open with combine true: %d models, want %d", got, 2*len(before))
	}

	bad := filepath.Join(dir, "bad.cxs")
	if err := os.WriteFile(bad, []byte("# ChimeraX Session version 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, msg := runErr(t, s, "open "+bad); msg != "Cannot open session "+bad+": sessions saved by ChimeraX cannot be read by the chimerad simulator" {
		t.Errorf("open of a ChimeraX session: %q", msg)
	}
	if err := os.WriteFile(bad, []byte(`{"format": "something else"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, msg := runErr(t, s, "open "+bad); msg != "Cannot open session "+bad+": not a ChimeraX session file" {
		t.Errorf("open of a foreign .cxs: %q", msg)
	}
}

func TestSavePDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.pdb")
	s, _ := newTestSimulator(t)
	run(t, s, "open "+abs(t, "3al1.cif"))
	run(t, s, "open "+abs(t, "pept.pdb"))
	run(t, s, "save "+path+" models #1")
	run(t, s, "close; open "+path)
	if got, want := len(s.models[0].structure.Atoms), 491; got != want {
		t.Errorf("3al1.cif saved as PDB and reopened: %d atoms, want %d", got, want)
	}
}
