package sim

import (
	"reflect"
	"testing"
)

func TestSpecs(t *testing.T) {
	s, _ := newTestSimulator(t)
	run(t, s, "open "+abs(t, "pept.pdb"))   // #1: chain E, residues 1-13 (ASP CYS ALA TRP HIS LEU GLY GLU LEU VAL TRP CYS THR), 107 atoms
	run(t, s, "open "+abs(t, "ligs3d.sdf")) // #2, #2.1-10
	run(t, s, "open "+abs(t, "pept.pdb"))   // #3
	all := []string{"#1", "#2", "#2.1", "#2.2", "#2.3", "#2.4", "#2.5", "#2.6", "#2.7", "#2.8", "#2.9", "#2.10", "#3"}
	tests := []struct {
		spec   string
		models []string
		atoms  int // in #1 and #3 (pept.pdb), when no ligand is named
	}{
		{"#1", []string{"#1"}, 107},
		{"#1,3", []string{"#1", "#3"}, 214},
		{"#1-2", all[:12], 107},
		{"#2.2,5-6", []string{"#2.2", "#2.5", "#2.6"}, 0},
		{"#!2", []string{"#2"}, 0},
		{"#3 #1/E:1-5@CA", []string{"#1", "#3"}, 112},
		{"#1/E", []string{"#1"}, 107},
		{"#1/e", []string{"#1"}, 107},     // no chain e: any case
		{"#1/A", nil, 0},                  // no chain A
		{"#1:1", []string{"#1"}, 8},       // ASP 1
		{"#1:1-2", []string{"#1"}, 14},    // ASP 1, CYS 2
		{"#1:1,3", []string{"#1"}, 13},    // ASP 1, ALA 3
		{"#1:trp", []string{"#1"}, 28},    // two TRP, 14 atoms each
		{"#1:TRP@CA", []string{"#1"}, 2},  //
		{"#1@ca", []string{"#1"}, 13},     //
		{"#1@C*", []string{"#1"}, 75 - 5}, // carbons named C..., less the 5 CYS/.. counted below
		{"#1:1:3", []string{"#1"}, 13},    // a union of residues
		{"#1 & :1", []string{"#1"}, 8},    //
		{"#1 | #3", []string{"#1", "#3"}, 214},
		{"#1 & ~:1", []string{"#1"}, 99},
		{"#1 & protein", []string{"#1"}, 107},
		{"#1 & S", []string{"#1"}, 2}, // the two CYS sulfurs
		{"#1 & backbone", []string{"#1"}, 13*4 + 1},
		{"#1 & (:1 | :2)", []string{"#1"}, 14},
		{"ligand & #1", nil, 0},
		{"sel", nil, 0},
		{"#*", all, 214},
	}
	for _, tt := range tests {
		spec, err := parseSpec(tt.spec)
		if err != nil {
			t.Errorf("parseSpec(%q) error = %v", tt.spec, err)
			continue
		}
		sel, err := s.evaluate(spec)
		if err != nil {
			t.Errorf("evaluate(%q) error = %v", tt.spec, err)
			continue
		}
		var models []string
		for _, m := range sel.modelList(s.models) {
			models = append(models, m.spec())
		}
		atoms := 0
		for _, m := range []*model{s.models[0], s.models[len(s.models)-1]} {
			for _, on := range sel.atoms[m] {
				if on {
					atoms++
				}
			}
		}
		if tt.spec == "#1@C*" { // checked against a count from the file
			tt.atoms = carbonNamed(s.models[0].structure)
		}
		if !reflect.DeepEqual(models, tt.models) || atoms != tt.atoms {
			t.Errorf("%q selects models %v and %d atoms of pept.pdb, want %v and %d", tt.spec, models, atoms, tt.models, tt.atoms)
		}
	}

	errorTests := []struct{ spec, want string }{
		{"#1/A:10-", "invalid atom specifier"},
		{"#x", "invalid atom specifier"},
		{"#1 &", "invalid atom specifier"},
		{"(#1", "invalid atom specifier"},
		{"protein & protien", `"protien" is not a selector name`},
		{":", "invalid atom specifier"},
		{"", "empty atom specifier"},
	}
	for _, tt := range errorTests {
		if _, err := parseSpec(tt.spec); err == nil || err.Error() != tt.want {
			t.Errorf("parseSpec(%q) error = %v, want %s", tt.spec, err, tt.want)
		}
	}
	for _, spec := range []string{"#9", "#1,9 | #9", "#4.1"} {
		parsed, err := parseSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.evaluate(parsed); err == nil {
			t.Errorf("evaluate(%q) names no open model, yet no error", spec)
		}
	}
}

// carbonNamed counts the atoms whose names start with C.
func carbonNamed(st *structure) int {
	n := 0
	for _, a := range st.Atoms {
		if a.Name[0] == 'C' {
			n++
		}
	}
	return n
}

func TestSpecTokens(t *testing.T) {
	tests := []struct {
		in   []string
		want int
	}{
		{[]string{"#1", "red"}, 1},
		{[]string{"#f00"}, 0},        // a colour
		{[]string{"#123456"}, 0},     // a colour: model numbers have at most 5 digits
		{[]string{"#123", "red"}, 1}, // model 123
		{[]string{"protein", "&", ":10", "red"}, 3},
		{[]string{"protein&", "foo"}, 2}, // a word after an operator is the spec's
		{[]string{"C", "red"}, 1},        // an element
		{[]string{"red"}, 0},
		{[]string{":1-10", "atoms"}, 1},
	}
	for _, tt := range tests {
		var tokens []token
		for _, w := range tt.in {
			tokens = append(tokens, token{value: w})
		}
		if got := specTokens(tokens); got != tt.want {
			t.Errorf("specTokens(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
