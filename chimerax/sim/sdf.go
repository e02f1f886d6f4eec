package sim

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxSmallMolecule bounds the atoms and bonds an SDF or MOL2 molecule may
// declare, so that a corrupt count cannot make the parser allocate wildly.
const maxSmallMolecule = 1 << 20

// parseSDF reads an MDL SD file: molblocks (V2000 or V3000) separated by
// "$$$$" lines, each a structure of one residue named UNL. Bonds come from
// the file.
func parseSDF(r io.Reader) ([]*structure, []string, error) {
	var (
		structures []*structure
		record     []string
		lineNo     = 0
		start      = 1
	)
	flush := func() error {
		blank := true
		for _, l := range record {
			if strings.TrimSpace(l) != "" {
				blank = false
				break
			}
		}
		if !blank {
			st, err := parseMolblock(record)
			if err != nil {
				return fmt.Errorf("molecule starting at line %d: %w", start, err)
			}
			structures = append(structures, st)
		}
		record = record[:0]
		start = lineNo + 1
		return nil
	}
	sc := lineScanner(r)
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(line, "$$$$") {
			if err := flush(); err != nil {
				return nil, nil, err
			}
			continue
		}
		record = append(record, line)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, scanErr(err)
	}
	if err := flush(); err != nil {
		return nil, nil, err
	}
	if len(structures) == 0 {
		return nil, nil, errNoStructures
	}
	return structures, nil, nil
}

// parseMolblock reads one molecule: a title line, two header lines, the
// counts line, then atoms and bonds (V2000), or the V3000 CTAB.
func parseMolblock(lines []string) (*structure, error) {
	if len(lines) < 4 {
		return nil, errors.New("truncated header")
	}
	st := &structure{Title: strings.TrimSpace(lines[0])}
	counts := lines[3]
	if strings.Contains(counts, "V3000") {
		return st, parseV3000(st, lines[4:])
	}
	natoms, nbonds, ok := sdfCounts(counts)
	if !ok || natoms < 0 || nbonds < 0 || natoms > maxSmallMolecule || nbonds > maxSmallMolecule {
		return nil, fmt.Errorf("bad counts line %q", counts)
	}
	body := lines[4:]
	if len(body) < natoms+nbonds {
		return nil, fmt.Errorf("counts line declares %d atoms and %d bonds, but the molblock ends first", natoms, nbonds)
	}
	for i, line := range body[:natoms] {
		a, ok := sdfAtom(line)
		if !ok {
			return nil, fmt.Errorf("bad atom line %d: %q", i+1, line)
		}
		st.Atoms = append(st.Atoms, a)
	}
	for i, line := range body[natoms : natoms+nbonds] {
		a1, a2, ok := sdfBond(line)
		if !ok {
			return nil, fmt.Errorf("bad bond line %d: %q", i+1, line)
		}
		if err := addBond(st, a1-1, a2-1); err != nil {
			return nil, err
		}
	}
	if len(st.Atoms) == 0 {
		return nil, errors.New("no atoms")
	}
	return st, nil
}

// sdfCounts reads the atom and bond counts, fixed columns first, then
// whitespace-separated as some writers emit them.
func sdfCounts(line string) (natoms, nbonds int, ok bool) {
	a, errA := strconv.Atoi(field(line, 0, 3))
	b, errB := strconv.Atoi(field(line, 3, 6))
	if errA == nil && errB == nil {
		return a, b, true
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, 0, false
	}
	a, errA = strconv.Atoi(f[0])
	b, errB = strconv.Atoi(f[1])
	return a, b, errA == nil && errB == nil
}

func sdfAtom(line string) (atom, bool) {
	x, okx := parseCoord(field(line, 0, 10))
	y, oky := parseCoord(field(line, 10, 20))
	z, okz := parseCoord(field(line, 20, 30))
	element := field(line, 31, 34)
	if !okx || !oky || !okz || element == "" {
		f := strings.Fields(line)
		if len(f) < 4 {
			return atom{}, false
		}
		x, okx = parseCoord(f[0])
		y, oky = parseCoord(f[1])
		z, okz = parseCoord(f[2])
		element = f[3]
		if !okx || !oky || !okz {
			return atom{}, false
		}
	}
	return smallMoleculeAtom(element, x, y, z), true
}

// sdfBond reads a bond line's two atom numbers, laid out as the counts
// line's first two fields are.
func sdfBond(line string) (a1, a2 int, ok bool) { return sdfCounts(line) }

// parseV3000 reads a V3000 connection table's atom and bond blocks.
func parseV3000(st *structure, lines []string) error {
	index := map[string]int{} // atom number in the file → index
	block := ""
	for _, line := range lines {
		if strings.HasPrefix(line, "M  END") {
			break
		}
		rest, ok := strings.CutPrefix(line, "M  V30 ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "BEGIN" && len(f) > 1:
			block = f[1]
			continue
		case f[0] == "END":
			block = ""
			continue
		}
		switch block {
		case "ATOM":
			if len(f) < 5 {
				return fmt.Errorf("bad V3000 atom line %q", line)
			}
			x, okx := parseCoord(f[2])
			y, oky := parseCoord(f[3])
			z, okz := parseCoord(f[4])
			if !okx || !oky || !okz {
				return fmt.Errorf("bad V3000 atom line %q", line)
			}
			if len(st.Atoms) >= maxSmallMolecule {
				return errors.New("too many atoms")
			}
			index[f[0]] = len(st.Atoms)
			st.Atoms = append(st.Atoms, smallMoleculeAtom(f[1], x, y, z))
		case "BOND":
			if len(f) < 4 {
				return fmt.Errorf("bad V3000 bond line %q", line)
			}
			i, ok1 := index[f[2]]
			j, ok2 := index[f[3]]
			if !ok1 || !ok2 {
				return fmt.Errorf("V3000 bond %s joins atoms that do not exist", f[0])
			}
			if err := addBond(st, i, j); err != nil {
				return err
			}
		}
	}
	if len(st.Atoms) == 0 {
		return errors.New("no atoms")
	}
	return nil
}

// parseMol2 reads a Tripos MOL2 file: each @<TRIPOS>MOLECULE section with its
// ATOM and BOND sections is a structure; residues come from the atoms'
// substructures.
func parseMol2(r io.Reader) ([]*structure, []string, error) {
	var (
		structures []*structure
		cur        *structure
		index      map[string]int // atom id → index in cur
		section    string
		header     int // lines read of the MOLECULE section
		lineNo     int
	)
	sc := lineScanner(r)
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(line, "@<TRIPOS>") {
			section = strings.TrimSpace(strings.TrimPrefix(line, "@<TRIPOS>"))
			if section == "MOLECULE" {
				cur, index, header = &structure{}, map[string]int{}, 0
				structures = append(structures, cur)
			}
			continue
		}
		if cur == nil || strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch section {
		case "MOLECULE":
			if header == 0 {
				cur.Title = strings.TrimSpace(line)
			}
			header++
		case "ATOM":
			if len(f) < 6 {
				return nil, nil, fmt.Errorf("line %d: bad atom line %q", lineNo, line)
			}
			x, okx := parseCoord(f[2])
			y, oky := parseCoord(f[3])
			z, okz := parseCoord(f[4])
			if !okx || !oky || !okz {
				return nil, nil, fmt.Errorf("line %d: bad atom coordinates %q", lineNo, line)
			}
			if len(cur.Atoms) >= maxSmallMolecule {
				return nil, nil, fmt.Errorf("line %d: too many atoms", lineNo)
			}
			element, _, _ := strings.Cut(f[5], ".")
			a := smallMoleculeAtom(element, x, y, z)
			a.Name = f[1]
			if len(f) > 6 {
				a.ResSeq, _ = strconv.Atoi(f[6])
			}
			if len(f) > 7 {
				a.ResName = f[7]
			}
			index[f[0]] = len(cur.Atoms)
			cur.Atoms = append(cur.Atoms, a)
		case "BOND":
			if len(f) < 3 {
				return nil, nil, fmt.Errorf("line %d: bad bond line %q", lineNo, line)
			}
			i, ok1 := index[f[1]]
			j, ok2 := index[f[2]]
			if !ok1 || !ok2 {
				return nil, nil, fmt.Errorf("line %d: bond %s joins atoms that do not exist", lineNo, f[0])
			}
			if err := addBond(cur, i, j); err != nil {
				return nil, nil, fmt.Errorf("line %d: %w", lineNo, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, scanErr(err)
	}
	var kept []*structure
	for _, st := range structures {
		if len(st.Atoms) > 0 {
			kept = append(kept, st)
		}
	}
	if len(kept) == 0 {
		return nil, nil, errNoStructures
	}
	return kept, nil, nil
}

// smallMoleculeAtom returns a non-polymer atom, named by its element, in the
// residue UNL 1 as ChimeraX names a small molecule's residue.
func smallMoleculeAtom(element string, x, y, z float64) atom {
	e := normalizeElement(element)
	return atom{Name: e, Element: e, ResName: "UNL", ResSeq: 1, Het: true, X: x, Y: y, Z: z}
}

// addBond adds the bond i-j, checking that both atoms exist.
func addBond(st *structure, i, j int) error {
	if i < 0 || j < 0 || i >= len(st.Atoms) || j >= len(st.Atoms) || i == j {
		return fmt.Errorf("bond %d-%d joins atoms that do not exist", i+1, j+1)
	}
	if len(st.Bonds) >= maxSmallMolecule {
		return errors.New("too many bonds")
	}
	st.Bonds = append(st.Bonds, [2]int{min(i, j), max(i, j)})
	return nil
}
