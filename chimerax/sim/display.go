package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// This file is the commands that change how structures look: color, show,
// hide, style, cartoon, surface, transparency and set bgColor
// (std_commands/src/color.py, show.py, hide.py, style.py, cartoon.py,
// transparency.py, set.py).

// targets are what a command acts on, as the letters of ChimeraX's target
// option: a atoms, b bonds, c cartoons, s surfaces, m models, and the rest
// (p pseudobonds, f rings, l labels), which the simulator has none of.
type targets string

func (t targets) has(c byte) bool { return strings.IndexByte(string(t), c) >= 0 }

// whatTargets maps the words of the "what" argument to target letters.
var whatTargets = map[string]byte{
	"atoms": 'a', "bonds": 'b', "pseudobonds": 'p', "pbonds": 'p', "cartoons": 'c', "ribbons": 'c',
	"surfaces": 's', "models": 'm', "rings": 'f', "labels": 'l',
}

// targetsOf combines the target keyword and the what argument; def when
// neither is given (get_targets).
func targetsOf(c *call, def targets) (targets, error) {
	t, ok := c.args["target"].(string)
	what := c.strings("what")
	if !ok && what == nil {
		return def, nil
	}
	for _, ch := range t {
		if !strings.ContainsRune("acrsbmpflA", ch) {
			return "", userErrorf("Character '%c' is not an allowed target, must be one of acrsbmpfl", ch)
		}
	}
	if strings.ContainsRune(t, 'A') {
		t += "acsbmpfl"
	}
	if strings.ContainsRune(t, 'r') {
		t += "c"
	}
	for _, w := range what {
		if w == "All" {
			t += "acsbmpfl"
			continue
		}
		t += string(whatTargets[w])
	}
	return targets(t), nil
}

var (
	colorWhat = enumArg{"atoms", "cartoons", "ribbons", "surfaces", "bonds", "models", "pseudobonds", "rings", "labels", "All"}
	showWhat  = enumArg{"atoms", "bonds", "pseudobonds", "pbonds", "cartoons", "ribbons", "surfaces", "models"}
)

// opacity is the alpha a colouring sets: from the transparency keyword,
// else from a colour that gives its alpha, else -1 (keep each item's).
func opacity(c *call, color colorValue) int {
	switch {
	case c.has("transparency"):
		return min(255, max(0, int(2.56*(100-c.float("transparency", 0)))))
	case color.explicitAlpha:
		return int(color.rgba[3])
	}
	return -1
}

// paint returns old recoloured to c, keeping old's alpha unless alpha >= 0.
func paint(old, c rgba, alpha int) rgba {
	c[3] = old[3]
	if alpha >= 0 {
		c[3] = uint8(alpha)
	}
	return c
}

// cmdColor colours atoms, cartoons and surfaces: with a colour, or by one
// of the special colourings. It logs, as a status line, what it coloured.
func (s *simulator) cmdColor(c *call) (result, error) {
	sel, err := s.evaluate(c.spec("objects"))
	if err != nil {
		return result{}, err
	}
	tg, err := targetsOf(c, "acsbpf")
	if err != nil {
		return result{}, err
	}
	color, ok := c.args["color"].(colorValue)
	if !ok {
		s.status("Colored nothing")
		return result{}, nil
	}
	alpha := opacity(c, color)
	var items []string
	count := func(n int, what string) {
		if n > 0 {
			items = append(items, fmt.Sprintf("%d %s", n, what))
		}
	}
	if tg.has('a') {
		count(s.colorAtoms(sel, color, alpha, func(l *look) []rgba { return l.AtomColor }, false), "atoms")
	}
	if tg.has('s') { // ChimeraX counts surfaces even when there are none
		s.colorAtoms(sel, color, alpha, func(l *look) []rgba { return l.SurfaceColor }, true)
		n := 0
		for _, m := range s.structuresIn(sel) {
			if slices.Contains(m.look.SurfaceShown, true) {
				n++
			}
		}
		items = append(items, fmt.Sprintf("%d surfaces", n))
	}
	if tg.has('c') {
		count(s.colorRibbons(sel, color, alpha), "residues")
	}
	if len(items) == 0 {
		items = []string{"nothing"}
	}
	s.status("Colored " + commas(items, "and"))
	return result{}, nil
}

// colorAtoms colours the selected atoms (or their surface patches, with
// surfaces set) and returns how many it coloured.
func (s *simulator) colorAtoms(sel *selection, color colorValue, alpha int, colors func(*look) []rgba, surfaces bool) int {
	n := 0
	rng := rand.New(rand.NewPCG(1, 2)) // "random", the same each time
	s.eachAtom(sel, func(m *model, i int) {
		if surfaces && !m.look.SurfaceShown[i] {
			return
		}
		if to, ok := s.colorFor(color, m, m.structure.residueOf(i), i, rng); ok {
			cs := colors(m.look)
			cs[i] = paint(cs[i], to, alpha)
			n++
		}
	})
	return n
}

// colorRibbons colours the cartoons of residues with a selected atom and
// returns how many residues it coloured.
func (s *simulator) colorRibbons(sel *selection, color colorValue, alpha int) int {
	n := 0
	rng := rand.New(rand.NewPCG(3, 4))
	for _, m := range s.structuresIn(sel) {
		l := m.look
		for ri, on := range selectedResidues(m, sel) {
			if !on {
				continue
			}
			if to, ok := s.colorFor(color, m, ri, -1, rng); ok {
				l.RibbonColor[ri] = paint(l.RibbonColor[ri], to, alpha)
				n++
			}
		}
	}
	return n
}

// colorFor returns the colour a colouring gives atom i (of residue ri) of
// m, or with i -1 the cartoon of residue ri; false when it leaves it alone
// (byhetero leaves carbons, the element colourings leave cartoons,
// bynucleotide leaves what is not a nucleotide).
func (s *simulator) colorFor(color colorValue, m *model, ri, i int, rng *rand.Rand) (rgba, bool) {
	st := m.structure
	r := &st.residues()[ri]
	atom := i >= 0
	switch color.scheme {
	case "":
		return color.rgba, true
	case "byatom", "byelement":
		return elementColor(st.Atoms[max(i, 0)].Element), atom
	case "byhetero":
		return elementColor(st.Atoms[max(i, 0)].Element), atom && st.Atoms[i].Element != "C"
	case "bychain":
		return chainColor(r.chain), true
	case "bypolymer", "byidentity":
		return hashColor(st.sequence(r.chain)), true
	case "bymodel":
		return modelColor(m.id[0], s.scene.background), true
	case "bynucleotide":
		return nucleotideColor(r.name), r.kind == nucleotide
	case "fromatoms":
		return m.look.AtomColor[max(r.trace, 0)], !atom && r.trace >= 0
	case "fromcartoons", "fromribbons":
		return m.look.RibbonColor[ri], atom
	case "random":
		return rgba{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}, true
	}
	return rgba{}, false
}

// nucleotideColor is ChimeraX's colour of a nucleotide by its base
// (desaturated NDB colours).
func nucleotideColor(name string) rgba {
	base := strings.TrimPrefix(name, "D")
	switch base {
	case "A":
		return rgba{255, 64, 64, 255}
	case "T":
		return rgba{64, 64, 255, 255}
	case "G":
		return rgba{64, 255, 64, 255}
	case "C":
		return rgba{255, 255, 64, 255}
	case "U":
		return rgba{64, 255, 255, 255}
	case "I":
		return rgba{0, 100, 0, 255}
	}
	return rgba{128, 128, 128, 255}
}

// cmdShow and cmdHide show or hide atoms, cartoons, surfaces or models.
// With nothing said about what, they act on atoms, or on models when the
// specifier names no atoms.
func (s *simulator) cmdShow(c *call) (result, error) { return s.showHide(c, true) }
func (s *simulator) cmdHide(c *call) (result, error) { return s.showHide(c, false) }

func (s *simulator) showHide(c *call, show bool) (result, error) {
	sel, err := s.evaluate(c.spec("objects"))
	if err != nil {
		return result{}, err
	}
	def := targets("a")
	if sel.numAtoms() == 0 {
		def = "m"
	}
	tg, err := targetsOf(c, def)
	if err != nil {
		return result{}, err
	}
	// With only, what is not named is hidden, in each structure named.
	only := c.bool("only", false)
	for _, m := range s.structureModels() {
		mask := sel.atoms[m]
		if mask == nil {
			continue
		}
		l := m.look
		if tg.has('a') || show && tg.has('b') { // showing bonds shows their atoms
			setMasked(l.AtomShown, mask, show, only)
		}
		if tg.has('c') {
			ribbons := ribbonable(m.structure, selectedResidues(m, sel))
			setMasked(l.RibbonShown, ribbons, show, only)
		}
		if tg.has('s') {
			setMasked(l.SurfaceShown, surfaceable(m.structure, mask), show, only)
		}
	}
	if tg.has('m') {
		for _, m := range s.models {
			switch {
			case sel.models[m]:
				m.hidden = !show
			case only && show:
				m.hidden = true
			}
		}
		if show { // a shown model's parents are shown
			for _, m := range sel.modelList(s.models) {
				for _, o := range s.models {
					if m.within(o.id) {
						o.hidden = false
					}
				}
			}
		}
	}
	return result{}, nil
}

// setMasked sets the flags mask selects to on; with only, it sets the
// others to !on.
func setMasked(flags, mask []bool, on, only bool) {
	for i := range flags {
		switch {
		case i < len(mask) && mask[i]:
			flags[i] = on
		case only:
			flags[i] = !on
		}
	}
}

// ribbonable keeps, of the residues marked, those a cartoon can show.
func ribbonable(st *structure, marked []bool) []bool {
	out := make([]bool, len(marked))
	for i, on := range marked {
		k := st.residues()[i].kind
		out[i] = on && (k == aminoAcid || k == nucleotide)
	}
	return out
}

// surfaceable keeps, of the atoms marked, those a molecular surface
// encloses: not solvent, not ions.
func surfaceable(st *structure, marked []bool) []bool {
	out := make([]bool, len(st.Atoms))
	for i := range out {
		k := st.residues()[st.residueOf(i)].kind
		out[i] = i < len(marked) && marked[i] && k != water && k != ion
	}
	return out
}

// cmdStyle sets the atoms' style: sphere, ball or stick.
func (s *simulator) cmdStyle(c *call) (result, error) {
	sel, err := s.evaluate(c.spec("objects"))
	if err != nil {
		return result{}, err
	}
	name, ok := c.args["atomStyle"].(string)
	if !ok {
		return result{}, nil
	}
	style := map[string]atomStyle{"sphere": styleSphere, "ball": styleBall, "stick": styleStick}[name]
	n := 0
	s.eachAtom(sel, func(m *model, i int) {
		m.look.AtomStyle[i] = style
		n++
	})
	s.status(fmt.Sprintf("Changed %d atom styles", n))
	return result{}, nil
}

// cmdCartoon shows cartoons for the residues of the atoms named;
// cmdCartoonHide hides them.
func (s *simulator) cmdCartoon(c *call) (result, error)     { return s.cartoon(c, true) }
func (s *simulator) cmdCartoonHide(c *call) (result, error) { return s.cartoon(c, false) }

func (s *simulator) cartoon(c *call, show bool) (result, error) {
	sel, err := s.evaluate(c.spec("atoms"))
	if err != nil {
		return result{}, err
	}
	for _, m := range s.structuresIn(sel) {
		setMasked(m.look.RibbonShown, ribbonable(m.structure, selectedResidues(m, sel)), show, false)
	}
	return result{}, nil
}

// cmdSurface shows a molecular surface over the atoms named (not solvent,
// not ions), coloured as they are; "surface hide" hides it. The simulator
// draws a surface as the atoms' van der Waals spheres.
func (s *simulator) cmdSurface(c *call) (result, error)     { return s.surface(c, true) }
func (s *simulator) cmdSurfaceHide(c *call) (result, error) { return s.surface(c, false) }

func (s *simulator) surface(c *call, show bool) (result, error) {
	sel, err := s.evaluate(c.spec("atoms"))
	if err != nil {
		return result{}, err
	}
	for _, m := range s.structuresIn(sel) {
		l := m.look
		for i, on := range surfaceable(m.structure, sel.atoms[m]) {
			if !on {
				continue
			}
			if show && !l.SurfaceShown[i] {
				l.SurfaceColor[i] = l.AtomColor[i].opaque()
			}
			l.SurfaceShown[i] = show
		}
	}
	return result{}, nil
}

// cmdTransparency sets how transparent surfaces (by default), atoms or
// cartoons are, 0 (opaque) to 100 percent.
func (s *simulator) cmdTransparency(c *call) (result, error) {
	sel, err := s.evaluate(c.spec("objects"))
	if err != nil {
		return result{}, err
	}
	tg, err := targetsOf(c, "s")
	if err != nil {
		return result{}, err
	}
	alpha := uint8(min(255, max(0, int(2.56*(100-c.float("percent", 0))))))
	s.eachAtom(sel, func(m *model, i int) {
		if tg.has('a') {
			m.look.AtomColor[i][3] = alpha
		}
		if tg.has('s') {
			m.look.SurfaceColor[i][3] = alpha
		}
	})
	if tg.has('c') {
		for _, m := range s.structuresIn(sel) {
			for ri, on := range selectedResidues(m, sel) {
				if on {
					m.look.RibbonColor[ri][3] = alpha
				}
			}
		}
	}
	return result{}, nil
}

// cmdSet sets the background colour; its other settings are accepted and
// change nothing the simulator draws.
func (s *simulator) cmdSet(c *call) (result, error) {
	if bg, ok := c.args["bgColor"].(colorValue); ok {
		s.scene.background = bg.rgba.opaque()
	}
	return result{}, nil
}
