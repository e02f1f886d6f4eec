package sim

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// This file is ChimeraX's atom specifiers (core/commands/atomspec.py and
// _atomspec.peg), the part the simulator understands:
//
//	#1  #1,3  #1-3  #1.2  #1.1-4  #!1  #*      models (#!1 without submodels)
//	/A  /A,B  /A-C                             chains
//	:10  :10-20  :10A  :10,12  :ala  :g*       residues by number or name
//	@CA  @ca,cb  @c*  @?                       atoms by name (* and ? match)
//	#1/A:10-20@CA  /A:10/B:20  :10@CA          those in hierarchy
//	protein  nucleic  ligand  solvent  ions    selectors, and element symbols
//	backbone  sidechain  all  sel              (C, N, Fe, ...)
//	a & b   a | b   ~a   (a)                   intersection, union, negation
//
// Parts written next to each other ("#1 #2", ":10 :20") are a union, and
// & and | group to the right without precedence, as in ChimeraX. Chain ids
// match exactly, or else regardless of case; residue and atom names match
// regardless of case. Nothing is ever selected, so "sel" is empty.

// atomSpec is a parsed atom specifier.
type atomSpec struct {
	text string // as written, for messages
	expr *specExpr
}

// specExpr is an operator over two specifiers, or a term.
type specExpr struct {
	op          byte // '&', '|', or 0 for a term
	left, right *specExpr
	not         bool       // a term negated with ~
	inner       *specExpr  // a parenthesized term
	selector    string     // a named selector
	items       []specItem // a hierarchy, its items joined
}

// specItem is one hierarchy item: models, then chains with their residues
// and atoms. A nil part matches everything at its level.
type specItem struct {
	text   string
	models *modelPart
	chains []chainPart
}

type modelPart struct {
	exact  bool        // #!: the models themselves, not their submodels
	levels [][]idRange // per level of the id, its ranges
}

type idRange struct{ lo, hi int } // hi -1: to the end ("*")

type chainPart struct {
	ids      []namePattern // nil: every chain
	residues []residuePart // nil: every residue
}

type residuePart struct {
	parts []residuePattern // nil: every residue
	atoms []namePattern    // nil: every atom
}

// namePattern is a name or a range of names, with * and ? wildcards.
type namePattern struct{ lo, hi string }

// residuePattern is a residue number range (with insertion codes) or a name.
type residuePattern struct {
	numeric        bool
	lo, hi         int
	loCode, hiCode string
	name           namePattern
}

// specError is a malformed specifier. ChimeraX reports it whether or not
// the argument was optional, since part of it was taken for a specifier.
type specError struct{ msg string }

func (e *specError) Error() string { return e.msg }

// selectors are the named selectors the simulator knows, besides element
// symbols.
var selectors = []string{"all", "sel", "protein", "nucleic", "ligand", "solvent", "ions", "backbone", "sidechain"}

// isSelector reports whether word names a selector.
func isSelector(word string) bool {
	if slices.Contains(selectors, word) {
		return true
	}
	_, element := elementRGB[word]
	return element || word == "X"
}

// startsSpec reports whether a token begins an atom specifier: a model
// (# followed by a model number, not a hex colour), chain, residue or atom
// part, an operator or parenthesis, or a selector name.
func startsSpec(word string) bool {
	if word == "" {
		return false
	}
	switch word[0] {
	case '/', ':', '@', '~', '(', ')', '&', '|':
		return true
	case '#':
		return isModelNumberAt(word, 1) || strings.HasPrefix(word, "#!") || strings.HasPrefix(word, "#*")
	}
	name, _, _ := strings.Cut(word, "&")
	name, _, _ = strings.Cut(name, "|")
	return isSelector(name)
}

// isModelNumberAt reports whether s[i:] starts with a model number as
// ChimeraX's grammar reads one: 1 to 5 digits not followed by a hex digit
// (so "#123456" and "#f00" are colours).
func isModelNumberAt(s string, i int) bool {
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i || j-i > 5 {
		return false
	}
	return j == len(s) || !isHex(s[j])
}

// specTokens is how many tokens from the start of tokens make up an atom
// specifier: those that look like one, and a word after an operator.
func specTokens(tokens []token) int {
	n := 0
	afterOperator := false
	for _, t := range tokens {
		if t.quoted || !(startsSpec(t.value) || afterOperator && t.value != "") {
			break
		}
		n++
		last := t.value[len(t.value)-1]
		afterOperator = last == '&' || last == '|' || last == '~' || last == '('
	}
	return n
}

// parseSpec parses an atom specifier written as text.
func parseSpec(text string) (*atomSpec, error) {
	p := &specParser{text: text}
	p.skipSpace()
	if p.done() {
		return nil, &specError{"empty atom specifier"}
	}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if !p.done() {
		return nil, p.errorf("invalid atom specifier")
	}
	return &atomSpec{text: text, expr: e}, nil
}

// specParser is a recursive-descent parser of atom specifiers.
type specParser struct {
	text string
	i    int
}

func (p *specParser) done() bool { return p.i >= len(p.text) }

func (p *specParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.text[p.i]
}

func (p *specParser) skipSpace() {
	for !p.done() && isSpace(p.text[p.i]) {
		p.i++
	}
}

func (p *specParser) errorf(format string, args ...any) error {
	return &specError{fmt.Sprintf(format, args...)}
}

// expr := term [('&' | '|') expr]
func (p *specParser) expr() (*specExpr, error) {
	left, err := p.term()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if op := p.peek(); op == '&' || op == '|' {
		p.i++
		p.skipSpace()
		if p.done() {
			return nil, p.errorf("invalid atom specifier")
		}
		right, err := p.expr()
		if err != nil {
			return nil, err
		}
		return &specExpr{op: op, left: left, right: right}, nil
	}
	return left, nil
}

// term := '~' term | '(' expr ')' | selector | item {item}
func (p *specParser) term() (*specExpr, error) {
	p.skipSpace()
	switch c := p.peek(); {
	case c == '~':
		p.i++
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		return &specExpr{not: true, inner: t}, nil
	case c == '(':
		p.i++
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.peek() != ')' {
			return nil, p.errorf("invalid atom specifier")
		}
		p.i++
		return &specExpr{inner: e}, nil
	case isLetter(c) || c == '_':
		start := p.i
		for !p.done() && (isLetter(p.peek()) || isDigit(p.peek()) || strings.IndexByte("_+-", p.peek()) >= 0) {
			p.i++
		}
		name := p.text[start:p.i]
		if !isSelector(name) {
			return nil, p.errorf("%q is not a selector name", name)
		}
		return &specExpr{selector: name}, nil
	}
	var items []specItem
	for {
		p.skipSpace()
		if c := p.peek(); c != '#' && c != '/' && c != ':' && c != '@' {
			break
		}
		item, err := p.item()
		if err != nil {
			return nil, err
		}
		items = append(items, item)
	}
	if len(items) == 0 {
		return nil, p.errorf("invalid atom specifier")
	}
	return &specExpr{items: items}, nil
}

// item := ['#' models] {'/' chains {residues}} | {residues} | atoms
func (p *specParser) item() (specItem, error) {
	start := p.i
	var item specItem
	if p.peek() == '#' {
		p.i++
		m, err := p.models()
		if err != nil {
			return item, err
		}
		item.models = m
	}
	for p.peek() == '/' {
		p.i++
		ids, err := p.names("chain")
		if err != nil {
			return item, err
		}
		c := chainPart{ids: ids}
		if c.residues, err = p.residues(); err != nil {
			return item, err
		}
		item.chains = append(item.chains, c)
	}
	if item.chains == nil && (p.peek() == ':' || p.peek() == '@') {
		residues, err := p.residues()
		if err != nil {
			return item, err
		}
		item.chains = []chainPart{{residues: residues}}
	}
	if c := p.peek(); c != 0 && !isSpace(c) && strings.IndexByte("&|)", c) < 0 {
		return item, p.errorf("invalid atom specifier")
	}
	item.text = p.text[start:p.i]
	return item, nil
}

// models := ['!'] level {'.' level}; level := range {',' range}
func (p *specParser) models() (*modelPart, error) {
	m := &modelPart{}
	if p.peek() == '!' {
		p.i++
		m.exact = true
	}
	for {
		var level []idRange
		for {
			r, err := p.idRange()
			if err != nil {
				return nil, err
			}
			level = append(level, r)
			if p.peek() != ',' {
				break
			}
			p.i++
		}
		m.levels = append(m.levels, level)
		if p.peek() != '.' {
			return m, nil
		}
		p.i++
	}
}

// idRange := number ['-' (number | 'end' | '*')] | '*'
func (p *specParser) idRange() (idRange, error) {
	if p.peek() == '*' {
		p.i++
		return idRange{1, -1}, nil
	}
	lo, ok := p.number()
	if !ok {
		return idRange{}, p.errorf("invalid atom specifier")
	}
	if p.peek() != '-' {
		return idRange{lo, lo}, nil
	}
	p.i++
	switch {
	case strings.HasPrefix(p.text[p.i:], "end"):
		p.i += 3
		return idRange{lo, -1}, nil
	case p.peek() == '*':
		p.i++
		return idRange{lo, -1}, nil
	}
	hi, ok := p.number()
	if !ok || hi < lo {
		return idRange{}, p.errorf("invalid atom specifier")
	}
	return idRange{lo, hi}, nil
}

// number reads a model number: 1 to 5 digits not followed by a hex digit.
func (p *specParser) number() (int, bool) {
	if !isModelNumberAt(p.text, p.i) {
		return 0, false
	}
	start := p.i
	for !p.done() && isDigit(p.peek()) {
		p.i++
	}
	n, err := strconv.Atoi(p.text[start:p.i])
	return n, err == nil
}

// residues := {':' parts ['@' atoms]} | '@' atoms
func (p *specParser) residues() ([]residuePart, error) {
	var out []residuePart
	for p.peek() == ':' {
		p.i++
		words, err := p.names("residue")
		if err != nil {
			return nil, err
		}
		r := residuePart{}
		for _, w := range words {
			r.parts = append(r.parts, residuePatternOf(w))
		}
		if p.peek() == '@' {
			p.i++
			if r.atoms, err = p.names("atom"); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	if out == nil && p.peek() == '@' {
		p.i++
		atoms, err := p.names("atom")
		if err != nil {
			return nil, err
		}
		out = []residuePart{{atoms: atoms}}
	}
	return out, nil
}

// names := name ['-' name] {',' name ['-' name]}, names made of letters,
// digits, _ ' " * and ?.
func (p *specParser) names(what string) ([]namePattern, error) {
	var out []namePattern
	word := func() string {
		start := p.i
		for !p.done() && (isLetter(p.peek()) || isDigit(p.peek()) || strings.IndexByte("_'\"*?", p.peek()) >= 0) {
			p.i++
		}
		return p.text[start:p.i]
	}
	for {
		lo := word()
		if lo == "" {
			return nil, p.errorf("invalid atom specifier")
		}
		n := namePattern{lo: lo, hi: lo}
		if p.peek() == '-' && what != "atom" {
			p.i++
			if n.hi = word(); n.hi == "" {
				return nil, p.errorf("invalid atom specifier")
			}
		}
		out = append(out, n)
		if p.peek() != ',' {
			return out, nil
		}
		p.i++
	}
}

// residuePatternOf reads a residue part: a number range such as 10-20 or
// 10A, or a name.
func residuePatternOf(n namePattern) residuePattern {
	lo, loCode, ok1 := residueNumber(n.lo)
	hi, hiCode, ok2 := residueNumber(n.hi)
	if ok1 && ok2 {
		return residuePattern{numeric: true, lo: lo, hi: hi, loCode: loCode, hiCode: hiCode}
	}
	return residuePattern{name: n}
}

// residueNumber reads a residue number with an optional insertion code.
func residueNumber(s string) (int, string, bool) {
	code := ""
	if len(s) > 1 && isLetter(s[len(s)-1]) {
		s, code = s[:len(s)-1], s[len(s)-1:]
	}
	n, err := strconv.Atoi(s)
	return n, code, err == nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// selection is what a specifier names: atoms of structures, by model, and
// models.
type selection struct {
	atoms  map[*model][]bool
	models map[*model]bool
}

func newSelection() *selection {
	return &selection{atoms: map[*model][]bool{}, models: map[*model]bool{}}
}

// mask returns the selected atoms of m, creating an empty mask.
func (sel *selection) mask(m *model) []bool {
	mask, ok := sel.atoms[m]
	if !ok {
		mask = make([]bool, len(m.structure.Atoms))
		sel.atoms[m] = mask
	}
	return mask
}

// numAtoms counts the selected atoms.
func (sel *selection) numAtoms() int {
	n := 0
	for _, mask := range sel.atoms {
		for _, on := range mask {
			if on {
				n++
			}
		}
	}
	return n
}

// empty reports whether nothing is selected.
func (sel *selection) empty() bool { return len(sel.models) == 0 && sel.numAtoms() == 0 }

// modelList returns the selected models, sorted by id.
func (sel *selection) modelList(all []*model) []*model {
	var out []*model
	for _, m := range all {
		if sel.models[m] {
			out = append(out, m)
		}
	}
	return out
}

// selectAll returns everything open.
func (s *simulator) selectAll() *selection {
	sel := newSelection()
	for _, m := range s.models {
		sel.models[m] = true
		if m.structure != nil {
			mask := sel.mask(m)
			for i := range mask {
				mask[i] = true
			}
		}
	}
	return sel
}

// evaluate returns what spec names among the open models; a nil spec names
// everything. A model part that names no open model is an error (ChimeraX
// itself just names nothing there).
func (s *simulator) evaluate(spec *atomSpec) (*selection, error) {
	if spec == nil {
		return s.selectAll(), nil
	}
	return s.eval(spec.expr)
}

func (s *simulator) eval(e *specExpr) (*selection, error) {
	switch {
	case e.op != 0:
		a, err := s.eval(e.left)
		if err != nil {
			return nil, err
		}
		b, err := s.eval(e.right)
		if err != nil {
			return nil, err
		}
		return s.combine(a, b, e.op), nil
	case e.inner != nil:
		in, err := s.eval(e.inner)
		if err != nil || !e.not {
			return in, err
		}
		return s.invert(in), nil
	case e.selector != "":
		return s.evalSelector(e.selector), nil
	}
	sel := newSelection()
	for _, item := range e.items {
		if err := s.evalItem(item, sel); err != nil {
			return nil, err
		}
	}
	return sel, nil
}

// combine intersects ('&') or unites ('|') two selections.
func (s *simulator) combine(a, b *selection, op byte) *selection {
	out := newSelection()
	for _, m := range s.models {
		if op == '&' && a.models[m] && b.models[m] || op == '|' && (a.models[m] || b.models[m]) {
			out.models[m] = true
		}
		ma, okA := a.atoms[m]
		mb, okB := b.atoms[m]
		if !okA && !okB {
			continue
		}
		mask := out.mask(m)
		for i := range mask {
			x, y := okA && ma[i], okB && mb[i]
			mask[i] = op == '&' && x && y || op == '|' && (x || y)
		}
	}
	return out
}

// invert selects what in does not.
func (s *simulator) invert(in *selection) *selection {
	out := newSelection()
	for _, m := range s.models {
		out.models[m] = !in.models[m]
		if m.structure == nil {
			continue
		}
		mask, old := out.mask(m), in.atoms[m]
		for i := range mask {
			mask[i] = old == nil || !old[i]
			out.models[m] = out.models[m] || mask[i]
		}
	}
	return out
}

// evalSelector selects what a named selector names.
func (s *simulator) evalSelector(name string) *selection {
	if name == "all" {
		return s.selectAll()
	}
	sel := newSelection()
	if name == "sel" {
		return sel
	}
	for _, m := range s.structureModels() {
		st := m.structure
		var mask []bool
		for i, a := range st.Atoms {
			if !atomIs(st, i, a, name) {
				continue
			}
			if mask == nil {
				mask = sel.mask(m)
				sel.models[m] = true
			}
			mask[i] = true
		}
	}
	return sel
}

// atomIs reports whether atom i (a) of st is what selector name selects.
func atomIs(st *structure, i int, a atom, name string) bool {
	r := &st.residues()[st.residueOf(i)]
	switch name {
	case "protein":
		return r.kind == aminoAcid
	case "nucleic":
		return r.kind == nucleotide
	case "solvent":
		return r.kind == water
	case "ions":
		return r.kind == ion
	case "ligand":
		return r.kind == ligand
	case "backbone":
		return r.kind == aminoAcid && slices.Contains(proteinBackbone, a.Name) ||
			r.kind == nucleotide && slices.Contains(nucleicBackbone, a.Name)
	case "sidechain":
		return r.kind == aminoAcid && !slices.Contains(proteinBackbone, a.Name) || a.Name == "CA"
	}
	return a.Element == name // an element symbol
}

// evalItem adds what one hierarchy item names to sel.
func (s *simulator) evalItem(item specItem, sel *selection) error {
	models := s.models
	if item.models != nil {
		models = nil
		for _, m := range s.models {
			if item.models.matches(m) {
				models = append(models, m)
			}
		}
		if len(models) == 0 {
			return userErrorf("No models specified by %q", item.text)
		}
	}
	for _, m := range models {
		if item.chains == nil {
			sel.models[m] = true
			if m.structure != nil {
				mask := sel.mask(m)
				for i := range mask {
					mask[i] = true
				}
			}
			continue
		}
		if m.structure == nil {
			continue
		}
		st := m.structure
		var mask []bool
		for i, a := range st.Atoms {
			if !item.matchesAtom(st, i, a) {
				continue
			}
			if mask == nil {
				mask = sel.mask(m)
				sel.models[m] = true
			}
			mask[i] = true
		}
	}
	return nil
}

// matches reports whether the model part names m.
func (mp *modelPart) matches(m *model) bool {
	if len(m.id) < len(mp.levels) || mp.exact && len(m.id) != len(mp.levels) {
		return false
	}
	for i, level := range mp.levels {
		if !slices.ContainsFunc(level, func(r idRange) bool {
			return m.id[i] >= r.lo && (r.hi < 0 || m.id[i] <= r.hi)
		}) {
			return false
		}
	}
	return true
}

// matchesAtom reports whether the item's chain, residue and atom parts name
// atom i (a) of st.
func (item *specItem) matchesAtom(st *structure, i int, a atom) bool {
	for _, c := range item.chains {
		if c.ids != nil && !matchChain(st, c.ids, a.Chain) {
			continue
		}
		if c.residues == nil {
			return true
		}
		for _, r := range c.residues {
			if r.matches(a) {
				return true
			}
		}
	}
	return false
}

// matchChain reports whether chain id matches one of ids: exactly, or
// regardless of case when no chain of st matches exactly.
func matchChain(st *structure, ids []namePattern, id string) bool {
	exact := false
	for _, c := range st.chainIDs() {
		if slices.ContainsFunc(ids, func(n namePattern) bool { return n.match(c, false) }) {
			exact = true
			break
		}
	}
	return slices.ContainsFunc(ids, func(n namePattern) bool { return n.match(id, !exact) })
}

// matches reports whether a residue part names atom a.
func (r *residuePart) matches(a atom) bool {
	if r.parts != nil && !slices.ContainsFunc(r.parts, func(p residuePattern) bool { return p.matches(a) }) {
		return false
	}
	return r.atoms == nil || slices.ContainsFunc(r.atoms, func(n namePattern) bool { return n.match(a.Name, true) })
}

// matches reports whether a residue pattern names the residue of atom a.
// A number without an insertion code includes its insertion codes.
func (p residuePattern) matches(a atom) bool {
	if !p.numeric {
		return p.name.match(a.ResName, true)
	}
	hiCode := p.hiCode
	if hiCode == "" {
		hiCode = "\xff"
	}
	before := func(seq1 int, code1 string, seq2 int, code2 string) bool { // (seq1, code1) <= (seq2, code2)
		return seq1 < seq2 || seq1 == seq2 && strings.ToUpper(code1) <= strings.ToUpper(code2)
	}
	return before(p.lo, p.loCode, a.ResSeq, a.ICode) && before(a.ResSeq, a.ICode, p.hi, hiCode)
}

// match reports whether name matches the pattern: equal (or, for a range,
// between its ends), with * and ? as wildcards.
func (n namePattern) match(name string, foldCase bool) bool {
	fold := func(s string) string {
		if foldCase {
			return strings.ToUpper(s)
		}
		return s
	}
	if n.lo != n.hi {
		return fold(name) >= fold(n.lo) && fold(name) <= fold(n.hi)
	}
	if strings.ContainsAny(n.lo, "*?") {
		ok, err := path.Match(fold(n.lo), fold(name))
		return ok && err == nil
	}
	return fold(name) == fold(n.lo)
}
