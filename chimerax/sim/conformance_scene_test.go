package sim_test

// Conformance tests of what commands do to the picture, how they fail and
// what the reporting commands log: a real ChimeraX passes them too (see
// conformance_test.go).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// snapshot saves the scene as a PNG image and returns its bytes, skipping
// the test where ChimeraX cannot render.
func (p *process) snapshot(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snapshot.png")
	r := p.run(t, "save "+path+" width 160 height 120 supersample 3")
	if r.Error != nil && strings.Contains(r.Error.Message, "OpenGL") && chimeraxPath != "" {
		t.Skipf("no offscreen rendering here: %s", r.errorMessage())
	}
	if r.Error != nil {
		t.Fatalf("save: %s", r.errorMessage())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode snapshot: %v", err)
	}
	return img
}

// pixels counts the pixels of img that pred accepts (8-bit channels).
func pixels(img image.Image, pred func(r, g, b uint8) bool) int {
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if pred(uint8(r>>8), uint8(g>>8), uint8(b>>8)) {
				n++
			}
		}
	}
	return n
}

func TestConformanceRendering(t *testing.T) {
	t.Parallel()
	p := start(t)
	if r := p.run(t, "open "+testdataFile(t, "1hpv.pdb")); r.Error != nil {
		t.Fatalf("open: %s", r.errorMessage())
	}
	first := p.snapshot(t)
	if again := p.snapshot(t); !bytes.Equal(first, again) {
		t.Fatal("two snapshots of the same scene differ")
	}
	total := 160 * 120
	blue := func(r, g, b uint8) bool { return int(b) > int(r)+40 && int(b) > int(g)+40 }
	if n := pixels(decodePNG(t, first), blue); n > total/100 {
		t.Errorf("%d blue pixels before color blue", n)
	}
	steps := []struct {
		command string
		check   func(img image.Image) string // what is wrong, or ""
	}{
		{"color blue", func(img image.Image) string {
			if n := pixels(img, blue); n < total/50 {
				return strconv.Itoa(n) + " blue pixels"
			}
			return ""
		}},
		{"hide atoms", nil}, // the ligand goes
		{"turn y 90", nil},
		{"set bgColor white", func(img image.Image) string {
			if r, g, b, _ := img.At(0, 0).RGBA(); r>>8 != 255 || g>>8 != 255 || b>>8 != 255 {
				return "the corner is not white"
			}
			return ""
		}},
		{"close #1", func(img image.Image) string {
			if n := pixels(img, func(r, g, b uint8) bool { return r != 255 || g != 255 || b != 255 }); n > 0 {
				return strconv.Itoa(n) + " pixels that are not the background"
			}
			return ""
		}},
	}
	prev := first
	for _, step := range steps {
		if r := p.run(t, step.command); r.Error != nil {
			t.Fatalf("%s: %s", step.command, r.errorMessage())
		}
		got := p.snapshot(t)
		if bytes.Equal(got, prev) {
			t.Errorf("%q did not change the picture", step.command)
		}
		if step.check != nil {
			if problem := step.check(decodePNG(t, got)); problem != "" {
				t.Errorf("after %q: %s", step.command, problem)
			}
		}
		prev = got
	}
}

func TestConformanceSceneErrors(t *testing.T) {
	t.Parallel()
	p := start(t)
	if r := p.run(t, "open "+testdataFile(t, "pept.pdb")); r.Error != nil {
		t.Fatalf("open: %s", r.errorMessage())
	}
	tests := []struct {
		command string
		message string // the simulator's; ChimeraX's may be worded otherwise
		both    bool   // ChimeraX fails too
	}{
		{"color nosuchcolor", `Expected a color or one of 'byatom', 'bychain', 'byelement', 'byhetero', 'byidentity', ` +
			`'bymodel', 'bynucleotide', 'bypolymer', 'fromatoms', 'fromcartoons', 'fromribbons', or 'random' or a keyword, got "nosuchcolor"`, true},
		{"set bgColor nosuchcolor", `Invalid "bgColor" argument: Invalid color name or specifier, got "nosuchcolor"`, true},
		{"color #1/E:1- red", `Missing or invalid "objects" argument: invalid atom specifier, got "#1/E:1-"`, true},
		{"show #1/E:1-", `Missing or invalid "objects" argument: invalid atom specifier, got "#1/E:1-"`, true},
		{"view #99", `No models specified by "#99"`, true},
		{"measure center #99", `No models specified by "#99"`, true},
		{"turn y 90 5 extra", `Expected a keyword, got "extra"`, true},
		{"move", `Missing required "axis" positional argument`, true},
		{"transparency #1", `Missing required "percent" positional argument`, true},
		{"close #99", `No models specified by "#99"`, false},
		{"color #99 red", `No models specified by "#99"`, false},
	}
	for _, tt := range tests {
		if !tt.both && chimeraxPath != "" {
			continue
		}
		r := p.run(t, tt.command)
		if r.Error == nil || r.Error.Type != "UserError" || len(r.JSONValues) != 0 {
			t.Errorf("%s: error %s, json values %v; want a UserError and no values", tt.command, r.errorMessage(), r.JSONValues)
			continue
		}
		if chimeraxPath == "" && r.Error.Message != tt.message {
			t.Errorf("%s: %q, want %q", tt.command, r.Error.Message, tt.message)
		}
	}
	// The session is unharmed.
	if r := p.run(t, "info models"); r.Error != nil || !strings.HasPrefix(strings.Join(r.Log.Note, ""), "model id #1 ") {
		t.Errorf("info models after the errors: %s, notes %q", r.errorMessage(), r.Log.Note)
	}
}

func TestConformanceReports(t *testing.T) {
	t.Parallel()
	p := start(t)
	path := testdataFile(t, "pept.pdb")
	if r := p.run(t, "open "+path); r.Error != nil {
		t.Fatalf("open: %s", r.errorMessage())
	}

	r := p.run(t, "measure center #1")
	m := regexp.MustCompile(`^Center of mass of (\d+) atoms = \((-?\d+\.\d\d), (-?\d+\.\d\d), (-?\d+\.\d\d)\)\n$`).
		FindStringSubmatch(strings.Join(r.Log.Note, ""))
	if r.Error != nil || m == nil {
		t.Fatalf("measure center #1: error %s, notes %q", r.errorMessage(), r.Log.Note)
	}
	want := centerOfMass(t, path)
	for i := range 3 {
		if got, _ := strconv.ParseFloat(m[i+2], 64); math.Abs(got-want[i]) > 0.02 {
			t.Errorf("measure center #1: coordinate %d = %v, want %.3f", i, got, want[i])
		}
	}
	if m[1] != "107" {
		t.Errorf("measure center #1: %s atoms, want 107", m[1])
	}

	r = p.run(t, "info chains")
	if got := strings.Join(r.Log.Note, ""); got != "chain id /E chain_id E\n" || r.Error != nil {
		t.Errorf("info chains: notes %q, error %s", got, r.errorMessage())
	}
	var chains []struct {
		Spec     string   `json:"spec"`
		Residues []string `json:"residues"`
	}
	r.jsonValue(t, 0, &chains)
	if len(chains) != 1 || chains[0].Spec != "/E" || len(chains[0].Residues) != 13 {
		t.Errorf("info chains JSON value %+v, want /E with 13 residues", chains)
	}

	r = p.run(t, "info residues :1-3")
	wantNotes := "residue id /E:1 name ASP index 0\nresidue id /E:2 name CYS index 1\nresidue id /E:3 name ALA index 2\n"
	if got := strings.Join(r.Log.Note, ""); got != wantNotes || r.Error != nil {
		t.Errorf("info residues :1-3: notes %q, error %s, want %q", got, r.errorMessage(), wantNotes)
	}
	var residues []map[string]any
	r.jsonValue(t, 0, &residues)
	if len(residues) != 3 || residues[2]["spec"] != "/E:3" || residues[2]["value"] != "ALA" || residues[2]["present"] != true {
		t.Errorf("info residues JSON value %v", residues)
	}
	raw, _ := json.Marshal(residues[0])
	if !strings.Contains(string(raw), `"attribute":"name"`) {
		t.Errorf("info residues JSON value %s lacks the attribute", raw)
	}
}

// centerOfMass reads a PDB file's atoms and returns their centre of mass.
func centerOfMass(t *testing.T, path string) [3]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	masses := map[string]float64{"C": 12.011, "N": 14.007, "O": 15.999, "S": 32.06}
	var sum [3]float64
	var total float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "ATOM") && !strings.HasPrefix(line, "HETATM") {
			continue
		}
		w, ok := masses[strings.TrimSpace(line[76:78])]
		if !ok {
			t.Fatalf("no mass for %q", line[76:78])
		}
		for i := range 3 {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[30+8*i:38+8*i]), 64)
			if err != nil {
				t.Fatal(err)
			}
			sum[i] += w * v
		}
		total += w
	}
	return [3]float64{sum[0] / total, sum[1] / total, sum[2] / total}
}
