package sim

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testdata is the project's structure files.
const testdata = "../../testdata"

func TestReadStructures(t *testing.T) {
	// Counts checked against the files with awk: ATOM and HETATM records
	// with alternate locations counted once, residues as distinct
	// (chain, name, number, insertion code), SDF and MOL2 counts lines.
	tests := []struct {
		file       string
		structures int
		atoms      int
		bonds      int // -1: computed from distances, not checked
		residues   int
		chains     []string
	}{
		{"1hpv.pdb", 1, 1631, -1, 279, []string{"A", "B"}},
		{"1hpv.pdb.gz", 1, 1631, -1, 279, []string{"A", "B"}},
		{"3al1.pdb", 1, 491, -1, 50, []string{"A", "B"}},
		{"3al1.cif", 1, 491, -1, 50, []string{"A", "B"}},
		{"pept.pdb", 1, 107, -1, 13, []string{"E"}},
		{"ligs3d.sdf", 10, 337, 369, 10, nil},
		{"small03.mol2", 16, 389, 397, 16, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(testdata, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			format, _ := formatBySuffix(tt.file)
			structures, _, err := readStructures(f, format, strings.HasSuffix(tt.file, ".gz"))
			if err != nil {
				t.Fatalf("readStructures(%s) error = %v", tt.file, err)
			}
			var atoms, bonds, residues int
			var chains []string
			for _, st := range structures {
				atoms += len(st.Atoms)
				bonds += len(st.Bonds)
				residues += st.numResidues()
				chains = append(chains, st.chains()...)
			}
			if tt.bonds < 0 {
				tt.bonds = bonds
			}
			got := []any{len(structures), atoms, bonds, residues, chains}
			want := []any{tt.structures, tt.atoms, tt.bonds, tt.residues, tt.chains}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("readStructures(%s): structures, atoms, bonds, residues, chains = %v, want %v", tt.file, got, want)
			}
		})
	}
}

// TestPDBAtomRecords checks that every ATOM record of 1hpv.pdb becomes a
// polymer atom: the file has 1,516 of them, as grep counts.
func TestPDBAtomRecords(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testdata, "1hpv.pdb"))
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "ATOM  ") {
			records++
		}
	}
	structures, _, err := parsePDB(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	polymer := 0
	for _, a := range structures[0].Atoms {
		if !a.Het {
			polymer++
		}
	}
	if records != 1516 || polymer != records {
		t.Errorf("1hpv.pdb: %d ATOM records, %d polymer atoms parsed, want 1516 and 1516", records, polymer)
	}
	first := structures[0].Atoms[0]
	want := atom{Name: "N", Element: "N", ResName: "PRO", ResSeq: 1, Chain: "A", X: first.X, Y: first.Y, Z: first.Z}
	if first != want {
		t.Errorf("1hpv.pdb first atom = %+v, want %+v", first, want)
	}
}

func TestParseSmallInputs(t *testing.T) {
	const pdbAtom = "ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00           N\n"
	tests := []struct {
		name       string
		parse      func(string) ([]*structure, []string, error)
		in         string
		structures int
		atoms      int
		wantErr    string
	}{
		{"pdb empty", pdb, "", 0, 0, "no structures found"},
		{"pdb header only", pdb, "HEADER    TEST\nEND\n", 0, 0, "no structures found"},
		{"pdb one atom", pdb, pdbAtom, 1, 1, ""},
		{"pdb bad coordinates skipped", pdb, pdbAtom + "ATOM      2  CA  ALA A   1      xx.xxx   6.134  -6.504\n", 1, 1, ""},
		{"pdb short record skipped", pdb, pdbAtom + "ATOM      2  CA\n", 1, 1, ""},
		{"pdb NaN skipped", pdb, pdbAtom + "ATOM      2  CA  ALA A   1         NaN   6.134  -6.504\n", 1, 1, ""},
		{"pdb models", pdb, "MODEL 1\n" + pdbAtom + "ENDMDL\nMODEL 2\n" + pdbAtom + pdbAtom + "ENDMDL\n", 2, 3, ""},
		{"pdb stops at END", pdb, pdbAtom + "END\n" + pdbAtom, 1, 1, ""},
		{"pdb CRLF", pdb, strings.ReplaceAll(pdbAtom, "\n", "\r\n"), 1, 1, ""},
		{"cif empty", cif, "", 0, 0, "no structures found"},
		{"cif no atom_site", cif, "data_x\n_cell.length_a 1\n", 0, 0, "no structures found"},
		{
			"cif single atom as items", cif,
			"data_x\n_atom_site.id 1\n_atom_site.type_symbol C\n_atom_site.Cartn_x 1\n_atom_site.Cartn_y 2\n_atom_site.Cartn_z 3\n",
			1, 1, "",
		},
		{
			"cif loop with quotes and text field", cif,
			"data_x\nloop_\n_atom_site.label_atom_id\n_atom_site.label_comp_id\n_atom_site.Cartn_x\n_atom_site.Cartn_y\n_atom_site.Cartn_z\n" +
				"\"O5'\" 'A B' 1 2 3\n;CA\n;\nGLY 4 5 6\n",
			1, 2, "",
		},
		{
			"cif models", cif,
			"data_x\nloop_\n_atom_site.Cartn_x\n_atom_site.Cartn_y\n_atom_site.Cartn_z\n_atom_site.pdbx_PDB_model_num\n1 2 3 1\n1 2 3 2\n",
			2, 2, "",
		},
		{"cif ragged loop", cif, "data_x\nloop_\n_atom_site.Cartn_x\n_atom_site.Cartn_y\n_atom_site.Cartn_z\n1 2\n", 0, 0, "not a multiple"},
		{"cif no coordinates", cif, "data_x\nloop_\n_atom_site.id\n1\n", 0, 0, "no Cartn_x"},
		{"cif unterminated text", cif, "data_x\n_a.b\n;text\n", 0, 0, "unterminated text field"},
		{"cif unterminated quote", cif, "data_x\n_a.b 'x\n", 0, 0, "unterminated quoted string"},
		{"sdf empty", sdf, "", 0, 0, "no structures found"},
		{"sdf only separators", sdf, "$$$$\n\n$$$$\n", 0, 0, "no structures found"},
		{"sdf truncated", sdf, "t\n\n\n  2  1  0  0\n    0.0 0.0 0.0 C\n", 0, 0, "ends first"},
		{"sdf bad count", sdf, "t\n\n\nxx\n", 0, 0, "bad counts line"},
		{"sdf negative count", sdf, "t\n\n\n -5  1\n", 0, 0, "bad counts line"},
		{"sdf bond to nowhere", sdf, "t\n\n\n  1  1\n    0.0000    0.0000    0.0000 C\n  1  5  1\nM  END\n", 0, 0, "do not exist"},
		{
			"sdf V3000", sdf,
			"t\n\n\n  0  0  0     0  0            999 V3000\nM  V30 BEGIN CTAB\nM  V30 BEGIN ATOM\nM  V30 1 C 0 0 0 0\n" +
				"M  V30 2 O 1.2 0 0 0\nM  V30 END ATOM\nM  V30 BEGIN BOND\nM  V30 1 2 1 2\nM  V30 END BOND\nM  V30 END CTAB\nM  END\n$$$$\n",
			1, 2, "",
		},
		{"mol2 empty", mol2, "", 0, 0, "no structures found"},
		{"mol2 bad atom", mol2, "@<TRIPOS>MOLECULE\nm\n1 0\n@<TRIPOS>ATOM\n1 C1 x 0 0 C.3\n", 0, 0, "bad atom coordinates"},
		{"mol2 bond to nowhere", mol2, "@<TRIPOS>MOLECULE\nm\n1 1\n@<TRIPOS>ATOM\n1 C1 0 0 0 C.3\n@<TRIPOS>BOND\n1 1 2 1\n", 0, 0, "do not exist"},
		{"mol2 one atom", mol2, "@<TRIPOS>MOLECULE\nm\n1 0\n@<TRIPOS>ATOM\n1 C1 0 0 0 C.3 1 LIG\n", 1, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			structures, _, err := tt.parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("parse(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			atoms := 0
			for _, st := range structures {
				atoms += len(st.Atoms)
			}
			if err != nil || len(structures) != tt.structures || atoms != tt.atoms {
				t.Errorf("parse(%q) = %d structures, %d atoms, %v, want %d, %d", tt.in, len(structures), atoms, err, tt.structures, tt.atoms)
			}
		})
	}
}

func pdb(s string) ([]*structure, []string, error)  { return parsePDB(strings.NewReader(s)) }
func cif(s string) ([]*structure, []string, error)  { return parseMMCIF(strings.NewReader(s)) }
func sdf(s string) ([]*structure, []string, error)  { return parseSDF(strings.NewReader(s)) }
func mol2(s string) ([]*structure, []string, error) { return parseMol2(strings.NewReader(s)) }

func TestElementFromAtomName(t *testing.T) {
	tests := []struct{ name, want string }{
		{" CA ", "C"}, {" N  ", "N"}, {"FE  ", "Fe"}, {"1HB ", "H"}, {"HG21", "Hg"}, {"    ", "X"},
	}
	for _, tt := range tests {
		if got := elementFromAtomName(tt.name); got != tt.want {
			t.Errorf("elementFromAtomName(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestFormatBySuffix(t *testing.T) {
	tests := []struct{ name, format, suffix string }{
		{"1hpv.pdb", "PDB", ".pdb"},
		{"1HPV.PDB.GZ", "PDB", ".pdb"},
		{"x.ent", "PDB", ".ent"},
		{"3al1.cif", "mmCIF", ".cif"},
		{"x.mmcif.gz", "mmCIF", ".mmcif"},
		{"l.sdf", "MDL SDfile", ".sdf"},
		{"l.mol", "MDL SDfile", ".mol"},
		{"s.mol2", "Mol2", ".mol2"},
		{"s.cxs", "ChimeraX session", ".cxs"},
		{"x.xyz", "", ".xyz"},
		{"noext", "", ""},
	}
	for _, tt := range tests {
		f, suffix := formatBySuffix(tt.name)
		name := ""
		if f != nil {
			name = f.name
		}
		if name != tt.format || suffix != tt.suffix {
			t.Errorf("formatBySuffix(%q) = %q, %q, want %q, %q", tt.name, name, suffix, tt.format, tt.suffix)
		}
	}
}

// The fuzz targets check that no input makes a parser panic, and that what
// a parser accepts is safe to render and save: finite coordinates and bonds
// between existing atoms. Their seeds run as ordinary tests.

func FuzzParsePDB(f *testing.F) {
	addSeeds(f, "1hpv.pdb", "3al1.pdb", "pept.pdb")
	f.Add([]byte("MODEL 1\nATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00           N\nENDMDL\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, parsePDB, data)
	})
}

func FuzzParseMMCIF(f *testing.F) {
	addSeeds(f, "3al1.cif")
	f.Add([]byte("data_x\nloop_\n_atom_site.Cartn_x\n_atom_site.Cartn_y\n_atom_site.Cartn_z\n1 2 3\n"))
	f.Add([]byte("data_x\n_atom_site.Cartn_x 1\n_atom_site.Cartn_y 2\n_atom_site.Cartn_z 3\n;text\n;\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, parseMMCIF, data)
	})
}

func FuzzParseSDF(f *testing.F) {
	addSeeds(f, "ligs3d.sdf")
	f.Add([]byte("t\n\n\n  0  0  0     0  0            999 V3000\nM  V30 BEGIN ATOM\nM  V30 1 C 0 0 0 0\nM  V30 END ATOM\nM  END\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, parseSDF, data)
	})
}

func FuzzParseMol2(f *testing.F) {
	addSeeds(f, "small03.mol2")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, parseMol2, data)
	})
}

func addSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/3]) // truncated mid-file
	}
}

func checkParse(t *testing.T, parse func(io.Reader) ([]*structure, []string, error), data []byte) {
	structures, _, err := parse(bytes.NewReader(data))
	if err != nil {
		return
	}
	if len(structures) == 0 {
		t.Fatal("no structures and no error")
	}
	for _, st := range structures {
		if len(st.Atoms) == 0 {
			t.Fatal("a structure without atoms")
		}
		if err := st.validate(); err != nil {
			t.Fatal(err)
		}
		st.numResidues()
		st.chains()
	}
	s, _ := newTestSimulator(t)
	s.addStructures("fuzz", structures, modelNames("fuzz", structures))
	s.placeCamera()
	s.render(8, 8, 2, false)
}
