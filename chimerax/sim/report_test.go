package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tinyPDB writes a PDB file of chain A (ALA 1, GLY 2, SER 3, backbone only),
// a ligand (LIG 10, a carbon and an oxygen) and a water, and returns its
// path.
func tinyPDB(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	serial := 0
	atom := func(record, name, res, chain string, seq int, x, y, z float64, element string) {
		serial++
		fmt.Fprintf(&b, "%-6s%5d %-4s %3s %1s%4d    %8.3f%8.3f%8.3f  1.00  0.00          %2s\n",
			record, serial, name, res, chain, seq, x, y, z, element)
	}
	for i, res := range []string{"ALA", "GLY", "SER"} {
		x := 3.8 * float64(i)
		atom("ATOM", " N", res, "A", i+1, x-1.2, 0.5, 0, "N")
		atom("ATOM", " CA", res, "A", i+1, x, 0, 0, "C")
		atom("ATOM", " C", res, "A", i+1, x+1.2, 0.5, 0, "C")
	}
	atom("HETATM", " C1", "LIG", "A", 10, 0, 10, 0, "C")
	atom("HETATM", " O1", "LIG", "A", 10, 2, 10, 0, "O")
	atom("HETATM", " O", "HOH", "A", 20, 20, 20, 20, "O")
	path := filepath.Join(t.TempDir(), "tiny.pdb")
	if err := os.WriteFile(path, []byte(b.String()+"END\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReports(t *testing.T) {
	s, out := newTestSimulator(t)
	path := tinyPDB(t)
	run(t, s, "open "+path)
	tests := []struct {
		command string
		note    string // the one message logged
		json    string
	}{
		{
			command: "info chains",
			note:    "chain id /A chain_id A",
			json: `[{"spec": "/A", "attribute": "chain_id", "sequence": "AGS", "residues": ["/A:1", "/A:2", "/A:3"], ` +
				`"polymer type": "protein", "present": true, "value": "A"}]`,
		},
		{
			command: "info residues",
			note: "residue id /A:1 name ALA index 0\nresidue id /A:2 name GLY index 1\nresidue id /A:3 name SER index 2\n" +
				"residue id /A:10 name LIG\nresidue id /A:20 name HOH",
		},
		{
			command: "info residues :2-3 attribute number",
			note:    "residue id /A:2 number 2 index 1\nresidue id /A:3 number 3 index 2",
			json: `[{"spec": "/A:2", "attribute": "number", "present": true, "value": 2}, ` +
				`{"spec": "/A:3", "attribute": "number", "present": true, "value": 3}]`,
		},
		{
			command: "info residues ligand attribute bogus",
			note:    "",
			json:    `[{"spec": "/A:10", "attribute": "bogus", "present": false, "value": null}]`,
		},
		{
			command: "info models",
			note:    "model id #1 type AtomicStructure name tiny.pdb",
			json:    `[{"spec": "#1", "class": "AtomicStructure", "attribute": "name", "present": true, "value": "tiny.pdb"}]`,
		},
		// The ligand's carbon (12.011) at x 0 and oxygen (15.999) at x 2: x = 2 × 15.999 / 28.010.
		{command: "measure center :10", note: "Center of mass of 2 atoms = (1.14, 10.00, 0.00)"},
		{command: "measure center #1:1@CA", note: "Center of mass of 1 atoms = (0.00, 0.00, 0.00)"},
	}
	for _, tt := range tests {
		s.capture = &capture{}
		results, err := s.runText(tt.command, fromREST, false, true)
		notes := s.capture.byLevel[levelNote]
		s.capture = nil
		if err != nil {
			t.Errorf("%s: %v", tt.command, err)
			continue
		}
		if want := []string{tt.note + "\n"}; !reflect.DeepEqual(notes, want) {
			t.Errorf("%s: notes %q, want %q", tt.command, notes, want)
		}
		if tt.json != "" && results[0].json != tt.json {
			t.Errorf("%s: JSON value\n%v\nwant\n%v", tt.command, results[0].json, tt.json)
		}
	}
	if !strings.Contains(out.String(), "STATUS:\nCenter of mass of 2 atoms") {
		t.Errorf("measure center wrote no status line:\n%s", out)
	}
	if class, msg := runErr(t, s, "measure center :99"); class != "UserError" || msg != "No volume or atoms or surfaces specified" {
		t.Errorf("measure center of nothing: %s: %s", class, msg)
	}

	// With two structures open, specs name them.
	run(t, s, "open "+path)
	s.capture = &capture{}
	run(t, s, "info chains; info residues #2:1")
	notes := s.capture.byLevel[levelNote]
	s.capture = nil
	want := []string{"chain id #1/A chain_id A\nchain id #2/A chain_id A\n", "residue id #2/A:1 name ALA index 0\n"}
	if !reflect.DeepEqual(notes, want) {
		t.Errorf("with two structures: notes %q, want %q", notes, want)
	}
}

func TestZoomReportsPixelSize(t *testing.T) {
	s, _ := newTestSimulator(t)
	run(t, s, "open "+tinyPDB(t))
	s.capture = &capture{}
	run(t, s, "zoom")
	before := s.capture.byLevel[levelNote]
	s.capture = &capture{}
	run(t, s, "zoom 2; zoom")
	after := s.capture.byLevel[levelNote]
	s.capture = nil
	var p1, p2 float64
	if len(before) != 1 || len(after) != 1 {
		t.Fatalf("zoom notes %q and %q, want one each", before, after)
	}
	fmt.Sscanf(before[0], "Pixel size at center of rotation is %g", &p1)
	fmt.Sscanf(after[0], "Pixel size at center of rotation is %g", &p2)
	if p1 <= 0 || p2 < p1/2*0.99 || p2 > p1/2*1.01 {
		t.Errorf("pixel size %v, then after zoom 2 %v; want it halved", p1, p2)
	}
}
