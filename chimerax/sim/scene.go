package sim

import (
	"math"
	"slices"
)

// This file is the scene the simulator draws: how each structure is shown
// (per atom: shown or not, colour, style; per residue: cartoon shown or
// not and its colour; per model: shown or not), the background colour and
// the camera. Commands change it as they change ChimeraX's, and save
// renders it (render.go).

// vec is a point or a direction, in Å.
type vec [3]float64

func (a vec) add(b vec) vec       { return vec{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func (a vec) sub(b vec) vec       { return vec{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func (a vec) scale(f float64) vec { return vec{a[0] * f, a[1] * f, a[2] * f} }
func (a vec) dot(b vec) float64   { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func (a vec) norm() float64       { return math.Sqrt(a.dot(a)) }
func (a vec) unit() vec           { return a.scale(1 / a.norm()) }
func (a atom) position() vec      { return vec{a.X, a.Y, a.Z} }

// mat is a rotation: its rows are the screen's axes (x right, y up, z
// toward the viewer) in scene coordinates, so m.apply(p) is p in screen
// directions.
type mat [3]vec

func identity() mat { return mat{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}} }

func (m mat) apply(v vec) vec { return vec{m[0].dot(v), m[1].dot(v), m[2].dot(v)} }

// then returns the rotation m followed by n.
func (m mat) then(n mat) mat {
	var out mat
	for i := range 3 {
		for j := range 3 {
			out[i][j] = n[i][0]*m[0][j] + n[i][1]*m[1][j] + n[i][2]*m[2][j]
		}
	}
	return out
}

// rotation is the rotation by degrees about axis, counterclockwise looking
// down the axis toward the origin (right-handed, as ChimeraX turns).
func rotation(axis vec, degrees float64) mat {
	u := axis.unit()
	s, c := math.Sincos(degrees * math.Pi / 180)
	t := 1 - c
	x, y, z := u[0], u[1], u[2]
	return mat{
		{t*x*x + c, t*x*y - s*z, t*x*z + s*y},
		{t*x*y + s*z, t*y*y + c, t*y*z - s*x},
		{t*x*z - s*y, t*y*z + s*x, t*z*z + c},
	}
}

// atomStyle is how an atom is drawn.
type atomStyle uint8

const (
	styleStick  atomStyle = iota // a small ball joined to its bonds
	styleSphere                  // a van der Waals sphere
	styleBall                    // a ball a quarter of the sphere, with its bonds
)

// look is how a structure model is shown. Colours carry transparency in
// their alpha.
type look struct {
	AtomShown   []bool      `json:"atom_shown"`
	AtomColor   []rgba      `json:"atom_color"`
	AtomStyle   []atomStyle `json:"atom_style"`
	RibbonShown []bool      `json:"ribbon_shown"` // per residue
	RibbonColor []rgba      `json:"ribbon_color"`
	// The molecular surface, by the atoms it covers.
	SurfaceShown []bool `json:"surface_shown"`
	SurfaceColor []rgba `json:"surface_color"`
}

// fits reports whether l has an entry for each atom and residue of st, as
// a look read from a session file must.
func (l *look) fits(st *structure) bool {
	n, nr := len(st.Atoms), len(st.residues())
	for _, k := range l.AtomStyle {
		if k > styleBall {
			return false
		}
	}
	return len(l.AtomShown) == n && len(l.AtomColor) == n && len(l.AtomStyle) == n &&
		len(l.SurfaceShown) == n && len(l.SurfaceColor) == n &&
		len(l.RibbonShown) == nr && len(l.RibbonColor) == nr
}

// camera is where the scene is seen from: ChimeraX's perspective camera,
// with its 30° horizontal field of view.
type camera struct {
	Rot      mat     `json:"rotation"` // scene to screen directions
	Center   vec     `json:"center"`   // the point seen at the middle of the image, and the centre of rotation
	Distance float64 `json:"distance"` // from the camera to Center
}

// fieldOfView is the camera's horizontal field of view, in degrees.
const fieldOfView = 30

// scene is the view shared by all models.
type scene struct {
	cam        camera
	background rgba
	placed     bool // the camera has been placed on the models (ChimeraX's initial view)
}

func newScene() scene {
	return scene{cam: camera{Rot: identity(), Distance: 50}, background: rgba{0, 0, 0, 255}}
}

// newLook is the look ChimeraX's auto-styling gives a structure just opened
// as model id (Structure.apply_auto_styling): carbons in the model's
// colour, other atoms by element; a structure without polymer chains, or
// with 10 polymer residues or fewer, as sticks; a bigger one as cartoon,
// with its ligands, metals and ions and the residues within 3.6 Å of a
// ligand as sticks (metals and lone ions as spheres), and no hydrogens on
// carbon.
func newLook(st *structure, id int, background rgba) *look {
	n := len(st.Atoms)
	residues := st.residues()
	l := &look{
		AtomShown:    make([]bool, n),
		AtomColor:    make([]rgba, n),
		AtomStyle:    make([]atomStyle, n),
		RibbonShown:  make([]bool, len(residues)),
		RibbonColor:  make([]rgba, len(residues)),
		SurfaceShown: make([]bool, n),
		SurfaceColor: make([]rgba, n),
	}
	model := modelColor(id, background)
	for i, a := range st.Atoms {
		l.AtomShown[i] = true
		l.AtomColor[i] = model
		if a.Element != "C" {
			l.AtomColor[i] = elementColor(a.Element)
		}
	}
	for r := range residues {
		l.RibbonColor[r] = model
	}
	ribbonable := 0
	for _, r := range residues {
		if r.kind == aminoAcid || r.kind == nucleotide {
			ribbonable++
		}
	}
	if ribbonable <= 10 {
		return l
	}
	var ligandAtoms []int
	show := make([]bool, len(residues))
	for ri, r := range residues {
		switch {
		case r.kind == aminoAcid || r.kind == nucleotide:
			l.RibbonShown[ri] = true
		case r.kind == ligand:
			show[ri] = true
			ligandAtoms = append(ligandAtoms, r.atoms...)
		case r.kind == ion:
			show[ri] = true
			l.AtomStyle[r.atoms[0]] = styleSphere
		}
		for _, i := range r.atoms {
			if isMetal(st.Atoms[i].Element) {
				show[ri] = true
				l.AtomStyle[i] = styleSphere
			}
		}
	}
	// Residues near a ligand.
	const near = 3.6
	ligandPoints := make([]vec, len(ligandAtoms))
	for k, i := range ligandAtoms {
		ligandPoints[k] = st.Atoms[i].position()
	}
	grid := newPointGrid(ligandPoints, near)
	lo, hi := boundingBox(ligandPoints)
	for i, a := range st.Atoms {
		p, ri := a.position(), st.residueOf(i)
		if show[ri] || !within(p, lo.sub(vec{near, near, near}), hi.add(vec{near, near, near})) {
			continue
		}
		grid.near(p, func(k int) {
			show[ri] = show[ri] || p.sub(ligandPoints[k]).norm() <= near
		})
	}
	bondedToCarbon := hydrogensOnCarbon(st)
	for i := range st.Atoms {
		l.AtomShown[i] = show[st.residueOf(i)] && !bondedToCarbon[i]
	}
	return l
}

// hydrogensOnCarbon marks the hydrogens bonded to a carbon.
func hydrogensOnCarbon(st *structure) []bool {
	out := make([]bool, len(st.Atoms))
	for _, b := range st.Bonds {
		a1, a2 := st.Atoms[b[0]], st.Atoms[b[1]]
		switch {
		case a1.Element == "H" && a2.Element == "C":
			out[b[0]] = true
		case a2.Element == "H" && a1.Element == "C":
			out[b[1]] = true
		}
	}
	return out
}

// isMetal reports whether an element is a metal, as ChimeraX's is_metal.
func isMetal(element string) bool {
	switch element {
	case "", "X", "H", "He", "B", "C", "N", "O", "F", "Ne", "Si", "P", "S", "Cl", "Ar", "As", "Se",
		"Br", "Kr", "Te", "I", "Xe", "At", "Rn":
		return false
	}
	return true
}

// shown reports whether model m and every model above it are shown.
func (s *simulator) shown(m *model) bool {
	for _, o := range s.models {
		if o.hidden && m.within(o.id) {
			return false
		}
	}
	return true
}

// bounds returns the centre and radius of a sphere around what is shown of
// the atoms selected: atoms shown, surfaces, and the trace atoms of residues
// shown as cartoon. ok is false when none of it is shown.
func (s *simulator) bounds(sel *selection) (center vec, radius float64, ok bool) {
	var points []vec
	var radii []float64
	for _, m := range s.structureModels() {
		mask := sel.atoms[m]
		if mask == nil || !s.shown(m) {
			continue
		}
		st, l := m.structure, m.look
		for i, a := range st.Atoms {
			if !mask[i] {
				continue
			}
			r := &st.residues()[st.residueOf(i)]
			switch {
			case l.SurfaceShown[i]:
				points, radii = append(points, a.position()), append(radii, vdwRadius(a.Element))
			case l.AtomShown[i]:
				points, radii = append(points, a.position()), append(radii, atomRadius(a, l.AtomStyle[i]))
			case i == r.trace && l.RibbonShown[st.residueOf(i)]:
				points, radii = append(points, a.position()), append(radii, ribbonRadius)
			}
		}
	}
	if len(points) == 0 {
		return vec{}, 0, false
	}
	lo, hi := boundingBox(points)
	center = lo.add(hi).scale(0.5)
	for i, p := range points {
		radius = max(radius, p.sub(center).norm()+radii[i])
	}
	return center, radius, true
}

// boundingBox returns the corners of the box around points; an empty box
// (lo above hi) for none.
func boundingBox(points []vec) (lo, hi vec) {
	inf := math.Inf(1)
	lo, hi = vec{inf, inf, inf}, vec{-inf, -inf, -inf}
	for _, p := range points {
		for k := range 3 {
			lo[k], hi[k] = min(lo[k], p[k]), max(hi[k], p[k])
		}
	}
	return lo, hi
}

// within reports whether p is in the box from lo to hi.
func within(p, lo, hi vec) bool {
	return p[0] >= lo[0] && p[0] <= hi[0] && p[1] >= lo[1] && p[1] <= hi[1] && p[2] >= lo[2] && p[2] <= hi[2]
}

// viewAll places the camera so that the sphere (center, radius) fills the
// window less pad (a fraction of its width) on each side, as ChimeraX's
// view_all does, keeping the direction it looks in.
func (cam *camera) viewAll(center vec, radius, pad float64) {
	cam.Center = center
	cam.Distance = radius / math.Sin(fieldOfView/2*math.Pi/180) / (1 - 2*min(max(pad, 0), 0.45))
}

// defaultPad is the pad of the initial view and of view.
const defaultPad = 0.05

// placeCamera gives the scene its initial view if it has none: when models
// are opened where there were none, ChimeraX looks at them down the scene's
// -z axis (initial_camera_view).
func (s *simulator) placeCamera() {
	if s.scene.placed {
		return
	}
	if c, r, ok := s.bounds(s.selectAll()); ok {
		s.scene.cam.Rot = identity()
		s.scene.cam.viewAll(c, r, defaultPad)
		s.scene.placed = true
	}
}

// resetSceneIfEmpty forgets the view when the last model closes, so that
// the next opened is looked at.
func (s *simulator) resetSceneIfEmpty() {
	if len(s.models) == 0 {
		s.scene.placed = false
	}
}

// eachAtom calls f for each selected atom of each structure model, in
// model order.
func (s *simulator) eachAtom(sel *selection, f func(m *model, i int)) {
	for _, m := range s.structureModels() {
		mask := sel.atoms[m]
		for i, on := range mask {
			if on {
				f(m, i)
			}
		}
	}
}

// selectedResidues returns, for a structure model, which residues have a
// selected atom.
func selectedResidues(m *model, sel *selection) []bool {
	st := m.structure
	out := make([]bool, len(st.residues()))
	for i, on := range sel.atoms[m] {
		if on {
			out[st.residueOf(i)] = true
		}
	}
	return out
}

// structuresIn returns the structure models with a selected atom.
func (s *simulator) structuresIn(sel *selection) []*model {
	return slices.DeleteFunc(s.structureModels(), func(m *model) bool {
		return !slices.Contains(sel.atoms[m], true)
	})
}
