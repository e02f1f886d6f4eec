package sim

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// parsePDB reads a PDB file: ATOM and HETATM records, one structure per
// MODEL/ENDMDL block (or one for a file without MODEL records). As ChimeraX
// does, it skips an atom record it cannot read with a warning, merges
// alternate locations into one atom, and connects atoms by distance.
func parsePDB(r io.Reader) ([]*structure, []string, error) {
	var (
		structures []*structure
		cur        *structure
		warnings   []string
		seen       map[string]bool // atoms with alternate locations already kept
	)
	finish := func() {
		if cur != nil && len(cur.Atoms) > 0 {
			structures = append(structures, cur)
		}
		cur = nil
	}
	sc := lineScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		record := strings.TrimSpace(field(line, 0, 6))
		switch record {
		case "MODEL":
			finish()
			cur, seen = &structure{}, map[string]bool{}
		case "ENDMDL":
			finish()
		case "END":
			finish()
			return pdbResult(structures, warnings)
		case "ATOM", "HETATM":
			if cur == nil {
				cur, seen = &structure{}, map[string]bool{}
			}
			a, alt, ok := pdbAtom(line, record == "HETATM")
			if !ok {
				if len(warnings) < 5 {
					warnings = append(warnings, fmt.Sprintf("Ignored bad PDB record found on line %d\n%s", n, line))
				}
				continue
			}
			if alt != "" {
				key := fmt.Sprintf("%s|%d|%s|%s|%s", a.Chain, a.ResSeq, a.ICode, a.ResName, a.Name)
				if seen[key] {
					continue
				}
				seen[key] = true
			}
			cur.Atoms = append(cur.Atoms, a)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, scanErr(err)
	}
	finish()
	return pdbResult(structures, warnings)
}

func pdbResult(structures []*structure, warnings []string) ([]*structure, []string, error) {
	if len(structures) == 0 {
		return nil, nil, errNoStructures
	}
	for _, st := range structures {
		st.connect()
	}
	return structures, warnings, nil
}

// pdbAtom reads an ATOM or HETATM record's fixed columns.
func pdbAtom(line string, het bool) (a atom, altLoc string, ok bool) {
	if len(line) < 54 {
		return a, "", false
	}
	x, okx := parseCoord(line[30:38])
	y, oky := parseCoord(line[38:46])
	z, okz := parseCoord(line[46:54])
	if !okx || !oky || !okz {
		return a, "", false
	}
	a = atom{
		Name:    field(line, 12, 16),
		ResName: field(line, 17, 21),
		Chain:   field(line, 21, 22),
		ICode:   field(line, 26, 27),
		Het:     het,
		X:       x, Y: y, Z: z,
	}
	seq := field(line, 22, 26)
	if n, err := strconv.Atoi(seq); err == nil {
		a.ResSeq = n
	} else if seq != "" {
		return a, "", false // hybrid-36 and other oddities: ChimeraX reads more than this
	}
	a.Element = normalizeElement(field(line, 76, 78))
	if a.Element == "" || strings.ContainsAny(a.Element, "0123456789+-") {
		a.Element = elementFromAtomName(line[12:16])
	}
	return a, field(line, 16, 17), true
}

// elementFromAtomName guesses the element from a PDB atom name field, whose
// first two columns hold the element symbol, right-justified.
func elementFromAtomName(name string) string {
	e := strings.TrimLeft(name[:2], " 0123456789")
	if e == "" {
		e = strings.TrimLeft(name, " 0123456789")
		if e == "" {
			return "X"
		}
		e = e[:1]
	}
	return normalizeElement(e)
}

// savePDB writes the open structures, or those the "models" keyword names,
// as a PDB file with a MODEL block for each.
func (s *simulator) savePDB(path string, c *call) error {
	var models []*model
	if c.has("models") {
		sel, err := s.evaluate(c.spec("models"))
		if err != nil {
			return err
		}
		models = s.structuresIn(sel)
	} else {
		models = s.structureModels()
	}
	f, err := os.Create(path)
	if err != nil {
		return userErrorf("Cannot write %s: %s", path, pythonStrerror(err))
	}
	w := bufio.NewWriter(f)
	serial := 0
	for i, m := range models {
		if len(models) > 1 {
			fmt.Fprintf(w, "MODEL     %4d\n", i+1)
		}
		for _, a := range m.structure.Atoms {
			serial++
			record := "ATOM"
			if a.Het {
				record = "HETATM"
			}
			name := a.Name
			if len(name) < 4 && len(a.Element) == 1 {
				name = " " + name
			}
			fmt.Fprintf(w, "%-6s%5d %-4.4s %3.3s %1.1s%4d%1.1s   %8.3f%8.3f%8.3f%6.2f%6.2f          %2s\n",
				record, serial%100000, name, a.ResName, a.Chain, a.ResSeq%10000, a.ICode, a.X, a.Y, a.Z, 1.0, 0.0, strings.ToUpper(a.Element))
		}
		if len(models) > 1 {
			fmt.Fprintln(w, "ENDMDL")
		}
	}
	fmt.Fprintln(w, "END")
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return userErrorf("Cannot write %s: %v", path, err)
	}
	return nil
}
