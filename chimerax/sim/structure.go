package sim

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// atom is one atom of a structure. Alternate locations are merged: an atom
// is kept once, at its first location, as ChimeraX shows one location.
type atom struct {
	Name    string  `json:"n"`
	Element string  `json:"e"`
	ResName string  `json:"r"`
	ResSeq  int     `json:"s"`
	ICode   string  `json:"i,omitempty"`
	Chain   string  `json:"c,omitempty"`
	Het     bool    `json:"h,omitempty"` // not part of a polymer (HETATM, small molecules)
	X       float64 `json:"x"`
	Y       float64 `json:"y"`
	Z       float64 `json:"z"`
}

// structure is an atomic structure: a PDB or mmCIF model, or one molecule of
// an SDF or MOL2 file.
type structure struct {
	Title string   `json:"title,omitempty"`
	Atoms []atom   `json:"atoms"`
	Bonds [][2]int `json:"bonds"` // atom indices, i < j

	index *residueIndex // built on first use
}

// residue is one residue of a structure.
type residue struct {
	chain, name, icode string
	seq                int
	atoms              []int // indices into Atoms, in file order
	kind               residueKind
	trace              int // the atom a backbone trace runs through (CA, or P), or -1
}

// residueKind is what a residue is, for selectors and styling.
type residueKind uint8

const (
	otherResidue residueKind = iota
	aminoAcid
	nucleotide
	water
	ion
	ligand
)

// residueIndex groups a structure's atoms into residues.
type residueIndex struct {
	residues []residue // in the order of their first atoms
	atomRes  []int     // residue of each atom
	chainIDs []string  // every chain id, in file order
}

type residueKey struct {
	chain, name, icode string
	seq                int
}

var (
	waterNames      = []string{"HOH", "WAT", "DOD", "H2O", "TIP", "TIP3", "SOL"}
	nucleotideNames = []string{"A", "C", "G", "U", "T", "I", "DA", "DC", "DG", "DT", "DU", "DI", "N"}
	proteinBackbone = []string{"N", "CA", "C", "O", "OXT"}
	nucleicBackbone = []string{"P", "OP1", "OP2", "O1P", "O2P", "O5'", "C5'", "C4'", "C3'", "O3'"}
)

// residues returns the structure's residues.
func (st *structure) residues() []residue { return st.residueIndex().residues }

// residueOf returns the index of atom i's residue.
func (st *structure) residueOf(i int) int { return st.residueIndex().atomRes[i] }

// chainIDs returns every chain id of the structure, polymer or not.
func (st *structure) chainIDs() []string { return st.residueIndex().chainIDs }

func (st *structure) residueIndex() *residueIndex {
	if st.index != nil {
		return st.index
	}
	ix := &residueIndex{atomRes: make([]int, len(st.Atoms))}
	byKey := map[residueKey]int{}
	for i, a := range st.Atoms {
		k := residueKey{a.Chain, a.ResName, a.ICode, a.ResSeq}
		r, ok := byKey[k]
		if !ok {
			r = len(ix.residues)
			byKey[k] = r
			ix.residues = append(ix.residues, residue{chain: a.Chain, name: a.ResName, icode: a.ICode, seq: a.ResSeq, trace: -1})
			if !slices.Contains(ix.chainIDs, a.Chain) {
				ix.chainIDs = append(ix.chainIDs, a.Chain)
			}
		}
		ix.residues[r].atoms = append(ix.residues[r].atoms, i)
		ix.atomRes[i] = r
	}
	for i := range ix.residues {
		st.classify(&ix.residues[i])
	}
	st.index = ix
	return ix
}

// classify sets a residue's kind and trace atom from its name and atoms.
func (st *structure) classify(r *residue) {
	named := func(name, element string) int {
		for _, i := range r.atoms {
			if a := st.Atoms[i]; a.Name == name && (element == "" || a.Element == element) {
				return i
			}
		}
		return -1
	}
	het := st.Atoms[r.atoms[0]].Het
	switch ca := named("CA", "C"); {
	case slices.Contains(waterNames, r.name):
		r.kind = water
	case ca >= 0 && named("N", "") >= 0 && named("C", "") >= 0:
		r.kind, r.trace = aminoAcid, ca
	case named("C1'", "") >= 0 && (named("P", "") >= 0 || slices.Contains(nucleotideNames, r.name)):
		r.kind, r.trace = nucleotide, named("P", "")
		if r.trace < 0 {
			r.trace = named("C4'", "")
		}
	case len(r.atoms) == 1 && het:
		r.kind = ion
	case het:
		r.kind = ligand
	}
}

// oneLetter are the one-letter codes of residues in sequences.
var oneLetter = map[string]byte{
	"ALA": 'A', "ARG": 'R', "ASN": 'N', "ASP": 'D', "CYS": 'C', "GLN": 'Q', "GLU": 'E', "GLY": 'G',
	"HIS": 'H', "ILE": 'I', "LEU": 'L', "LYS": 'K', "MET": 'M', "PHE": 'F', "PRO": 'P', "SER": 'S',
	"THR": 'T', "TRP": 'W', "TYR": 'Y', "VAL": 'V', "MSE": 'M', "SEC": 'U', "PYL": 'O',
	"A": 'A', "C": 'C', "G": 'G', "U": 'U', "T": 'T', "I": 'I',
	"DA": 'A', "DC": 'C', "DG": 'G', "DT": 'T', "DU": 'U', "DI": 'I',
}

// sequence is the one-letter sequence of a chain's polymer residues, X
// for those without a code.
func (st *structure) sequence(chain string) string {
	var b strings.Builder
	for _, r := range st.residues() {
		if r.chain != chain || r.kind != aminoAcid && r.kind != nucleotide {
			continue
		}
		if c, ok := oneLetter[r.name]; ok {
			b.WriteByte(c)
		} else {
			b.WriteByte('X')
		}
	}
	return b.String()
}

// numResidues counts the structure's residues.
func (st *structure) numResidues() int { return len(st.residues()) }

// chains returns the ids of the structure's polymer chains, in file order.
func (st *structure) chains() []string {
	var ids []string
	for _, a := range st.Atoms {
		if !a.Het && !slices.Contains(ids, a.Chain) {
			ids = append(ids, a.Chain)
		}
	}
	return ids
}

// summary describes the structure as "info" does.
func (st *structure) summary() string {
	ch := st.chains()
	return fmt.Sprintf("%d atoms, %d bonds, %d residues, %d chains (%s)",
		len(st.Atoms), len(st.Bonds), st.numResidues(), len(ch), strings.Join(ch, ","))
}

// validate checks what the parsers and session files promise: finite
// coordinates and bonds between existing atoms.
func (st *structure) validate() error {
	for _, a := range st.Atoms {
		if !finite(a.X) || !finite(a.Y) || !finite(a.Z) {
			return fmt.Errorf("atom %s has a bad coordinate", a.Name)
		}
	}
	for _, b := range st.Bonds {
		if b[0] < 0 || b[1] < 0 || b[0] >= len(st.Atoms) || b[1] >= len(st.Atoms) || b[0] == b[1] {
			return fmt.Errorf("bond %d-%d joins atoms that do not exist", b[0]+1, b[1]+1)
		}
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// connect adds bonds between atoms closer than the sum of their covalent
// radii plus 0.4 Å, which is how ChimeraX connects atoms it has no template
// for. A grid keeps it linear in the number of atoms.
func (st *structure) connect() {
	const maxBond = 2*1.5 + 0.4
	points := make([]vec, len(st.Atoms))
	for i, a := range st.Atoms {
		points[i] = a.position()
	}
	st.Bonds = nil
	newPointGrid(points, maxBond).pairs(func(i, j int) {
		a, b := st.Atoms[i], st.Atoms[j]
		d2 := sq(a.X-b.X) + sq(a.Y-b.Y) + sq(a.Z-b.Z)
		limit := covalentRadius(a.Element) + covalentRadius(b.Element) + 0.4
		if d2 > 0.16 && d2 < limit*limit {
			st.Bonds = append(st.Bonds, [2]int{min(i, j), max(i, j)})
		}
	})
	slices.SortFunc(st.Bonds, func(p, q [2]int) int {
		if p[0] != q[0] {
			return p[0] - q[0]
		}
		return p[1] - q[1]
	})
}

// pointGrid sorts points into cubic cells, so that the points near one are
// found without looking at them all.
type pointGrid struct {
	size  float64
	cells map[[3]int][]int
}

// newPointGrid puts points into cells of the given size.
func newPointGrid(points []vec, size float64) *pointGrid {
	g := &pointGrid{size: size, cells: map[[3]int][]int{}}
	for i, p := range points {
		k := g.cell(p)
		g.cells[k] = append(g.cells[k], i)
	}
	return g
}

func (g *pointGrid) cell(p vec) [3]int {
	return [3]int{int(math.Floor(p[0] / g.size)), int(math.Floor(p[1] / g.size)), int(math.Floor(p[2] / g.size))}
}

// forward are the offsets of half the cells around a cell: with the cell
// itself, each pair of neighbouring cells once.
var forward = func() [][3]int {
	var out [][3]int
	for dx := -1; dx <= 1; dx++ {
		for dy := -1; dy <= 1; dy++ {
			for dz := -1; dz <= 1; dz++ {
				if d := [3]int{dx, dy, dz}; d[0] > 0 || d[0] == 0 && (d[1] > 0 || d[1] == 0 && d[2] > 0) {
					out = append(out, d)
				}
			}
		}
	}
	return out
}()

// pairs calls f once for each pair of points in the same or neighbouring
// cells, in no particular order.
func (g *pointGrid) pairs(f func(i, j int)) {
	for k, in := range g.cells {
		for a, i := range in {
			for _, j := range in[a+1:] {
				f(i, j)
			}
		}
		for _, d := range forward {
			for _, j := range g.cells[[3]int{k[0] + d[0], k[1] + d[1], k[2] + d[2]}] {
				for _, i := range in {
					f(i, j)
				}
			}
		}
	}
}

// near calls f with the index of every point within the cell size of p
// (and some a little farther), in a fixed order.
func (g *pointGrid) near(p vec, f func(i int)) {
	k := g.cell(p)
	for dx := -1; dx <= 1; dx++ {
		for dy := -1; dy <= 1; dy++ {
			for dz := -1; dz <= 1; dz++ {
				for _, i := range g.cells[[3]int{k[0] + dx, k[1] + dy, k[2] + dz}] {
					f(i)
				}
			}
		}
	}
}

func sq(f float64) float64 { return f * f }

func covalentRadius(element string) float64 {
	switch element {
	case "H":
		return 0.32
	case "C":
		return 0.76
	case "N":
		return 0.71
	case "O":
		return 0.66
	case "S":
		return 1.05
	case "P":
		return 1.07
	}
	return 1.5 // metals and the rest: generous, and the grid's upper bound
}

// normalizeElement writes an element symbol as "C", "Fe".
func normalizeElement(e string) string {
	e = strings.TrimSpace(e)
	if e == "" {
		return ""
	}
	return strings.ToUpper(e[:1]) + strings.ToLower(e[1:])
}

// dataFormat is a file format open can read.
type dataFormat struct {
	name      string   // as ChimeraX names it
	nicknames []string // for "format"
	suffixes  []string
	parse     func(io.Reader) ([]*structure, []string, error) // nil for sessions
}

var formats = []*dataFormat{
	{"PDB", []string{"pdb"}, []string{".pdb", ".ent", ".pdb1"}, parsePDB},
	{"mmCIF", []string{"mmcif", "cif"}, []string{".cif", ".mmcif"}, parseMMCIF},
	{"MDL SDfile", []string{"sdf", "mol"}, []string{".sdf", ".sd", ".mol"}, parseSDF},
	{"Mol2", []string{"mol2"}, []string{".mol2"}, parseMol2},
	{"ChimeraX session", []string{"session", "cxs"}, []string{".cxs"}, nil},
}

// formatBySuffix returns the format of a file name (a ".gz" suffix is looked
// through), and the suffix it went by.
func formatBySuffix(name string) (*dataFormat, string) {
	lower := strings.ToLower(strings.TrimSuffix(strings.ToLower(name), ".gz"))
	dot := strings.LastIndexByte(lower, '.')
	if dot < 0 || strings.ContainsRune(lower[dot:], '/') {
		return nil, ""
	}
	suffix := lower[dot:]
	for _, f := range formats {
		if slices.Contains(f.suffixes, suffix) {
			return f, suffix
		}
	}
	return nil, suffix
}

// formatByName returns the format a "format" keyword names.
func formatByName(name string) *dataFormat {
	for _, f := range formats {
		if slices.Contains(f.nicknames, strings.ToLower(name)) || strings.EqualFold(f.name, name) {
			return f
		}
	}
	return nil
}

// readStructures parses r, gunzipping it first if gzipped is set.
func readStructures(r io.Reader, f *dataFormat, gzipped bool) ([]*structure, []string, error) {
	if gzipped {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("not a gzip file: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	structures, warnings, err := f.parse(r)
	if err != nil {
		return nil, nil, err
	}
	for _, st := range structures {
		if err := st.validate(); err != nil {
			return nil, nil, err
		}
	}
	return structures, warnings, nil
}

// errNoStructures is returned by a parser that found no atoms.
var errNoStructures = errors.New("no structures found")

// maxLine bounds the length of a line of a structure file.
const maxLine = 1 << 20

// lineScanner returns a scanner for the lines of a text file.
func lineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	return sc
}

// scanErr turns a scanner's error into a parser error.
func scanErr(err error) error {
	if errors.Is(err, bufio.ErrTooLong) {
		return fmt.Errorf("line longer than %d bytes", maxLine)
	}
	return err
}

// field returns line[from:to], trimmed, with the line padded to length.
func field(line string, from, to int) string {
	if from >= len(line) {
		return ""
	}
	return strings.TrimSpace(line[from:min(to, len(line))])
}

// parseCoord parses a coordinate; NaN and infinities are not coordinates.
func parseCoord(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil && finite(f)
}
