package sim

import (
	"bufio"
	"cmp"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"runtime"
	"slices"
	"sync"
)

// This file draws the scene (scene.go) as ChimeraX's offscreen renderer
// would, in software: a perspective camera, atoms as spheres, bonds as
// cylinders coloured half by each atom, cartoons as a tube along the
// backbone trace (through CA, or P, atoms), surfaces as the van der Waals
// spheres of their atoms, a key light from the upper left with a
// highlight, depth cueing toward the background, and transparency as one
// layer over the opaque scene. It is deterministic: the same scene gives
// the same pixels.

// maxRenderSize is the largest image side the simulated OpenGL renders, the
// GL_MAX_RENDERBUFFER_SIZE of ChimeraX's OSMesa.
const maxRenderSize = 16384

// windowSize is the default image size: the offscreen window's.
const windowSize = 256

// maxRenderPixels bounds the supersampled image, for time and memory:
// supersampling is lowered to stay within it (an 800 x 600 snapshot asked
// for at 3x is drawn at 2x), never below 1x.
const maxRenderPixels = 1 << 22

// Sizes in Å of what is drawn.
const (
	bondRadius   = 0.2  // sticks, and the atoms at their ends
	ballScale    = 0.25 // ball style: a ball this fraction of the atom's radius
	ribbonRadius = 0.6  // the cartoon's tube
)

// saveImage renders the scene into an image file.
func (s *simulator) saveImage(path, suffix string, c *call) error {
	if !s.opts.offscreen {
		return &commandError{class: "LimitationError", msg: "Unable to save images because OpenGL rendering is not available"}
	}
	w, h := c.int("width", 0), c.int("height", 0)
	switch {
	case w == 0 && h == 0:
		w, h = windowSize, windowSize
	case w == 0:
		w = h // the window is square
	case h == 0:
		h = w
	}
	if w < 0 || h < 0 {
		return userErrorf("Image size %d x %d must be positive", w, h)
	}
	if w > maxRenderSize || h > maxRenderSize {
		return userErrorf("Image size %d x %d too large, exceeds maximum OpenGL render buffer size %d", w, h, maxRenderSize)
	}
	img := s.render(w, h, c.int("supersample", 3), c.bool("transparentBackground", false))
	f, err := os.Create(path)
	if err != nil {
		return userErrorf("Cannot write %s: %s", path, pythonStrerror(err))
	}
	bw := bufio.NewWriter(f)
	if suffix == ".jpg" {
		err = jpeg.Encode(bw, img, &jpeg.Options{Quality: min(max(c.int("quality", 95), 1), 100)})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(bw, img)
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return userErrorf("Cannot write %s: %v", path, err)
	}
	return nil
}

// primitive is a sphere, or a cylinder from a to b, to draw.
type primitive struct {
	a, b     vec     // centre, or the cylinder's ends, in scene coordinates
	radius   float64 // Å
	ca, cb   rgba    // colour; of each half, for a cylinder
	cylinder bool
	overhang float64 // how far, as a fraction of its length, a cylinder goes on past its ends
	near     float64 // distance of its nearest point from the camera, for ordering
}

// render draws the scene in a w x h image, at supersample times the size
// (at most 16, and less where that would exceed maxRenderPixels) averaged
// down, on the background colour or, with transparent, on nothing.
func (s *simulator) render(w, h, supersample int, transparent bool) *image.NRGBA {
	ss := min(max(supersample, 1), 16)
	for ss > 1 && w*h*ss*ss > maxRenderPixels {
		ss--
	}
	bg := s.scene.background
	if transparent {
		bg[3] = 0
	}
	r := newRaster(w*ss, h*ss, s.scene.cam, bg)
	opaque, clear := s.primitives(r)
	if center, radius, ok := s.bounds(s.selectAll()); ok {
		d := r.cam.Rot.apply(center.sub(r.cam.Center))
		mid := r.cam.Distance - d[2]
		r.front, r.back = mid-radius, mid+radius
	}
	// Front to back, so that hidden fragments fail the depth test early.
	slices.SortStableFunc(opaque, func(p, q primitive) int { return cmp.Compare(p.near, q.near) })
	r.drawAll(opaque, r.opaque)
	if len(clear) > 0 {
		// Fragments behind the opaque scene fail at once.
		r.clear = &layer{pix: make([]uint8, len(r.opaque.pix)), depth: slices.Clone(r.opaque.depth), normal: make([]int8, len(r.opaque.normal))}
		r.drawAll(clear, r.clear)
		r.composite()
	}
	if ss == 1 {
		return r.image()
	}
	return r.downsample(ss, !transparent)
}

// primitives lists what the shown models draw, split into opaque and
// transparent.
func (s *simulator) primitives(r *raster) (opaque, clear []primitive) {
	add := func(p primitive) {
		if p.ca[3] == 0 && (!p.cylinder || p.cb[3] == 0) || !r.cull(&p) {
			return // fully transparent, or behind the camera
		}
		if p.ca[3] < 255 || p.cylinder && p.cb[3] < 255 {
			clear = append(clear, p)
		} else {
			opaque = append(opaque, p)
		}
	}
	for _, m := range s.structureModels() {
		if !s.shown(m) {
			continue
		}
		st, l := m.structure, m.look
		drawn := atomsDrawn(st, l)
		for i, a := range st.Atoms {
			if drawn[i] {
				add(primitive{a: a.position(), radius: atomRadius(a, l.AtomStyle[i]), ca: l.AtomColor[i]})
			}
			if l.SurfaceShown[i] {
				add(primitive{a: a.position(), radius: vdwRadius(a.Element), ca: l.SurfaceColor[i]})
			}
		}
		for _, b := range st.Bonds {
			i, j := b[0], b[1]
			if !drawn[i] || !drawn[j] || l.AtomStyle[i] == styleSphere && l.AtomStyle[j] == styleSphere {
				continue
			}
			add(primitive{a: st.Atoms[i].position(), b: st.Atoms[j].position(), radius: bondRadius,
				ca: l.AtomColor[i], cb: l.AtomColor[j], cylinder: true})
		}
		for _, p := range ribbonTube(st, l) {
			add(p)
		}
	}
	return opaque, clear
}

// atomsDrawn marks the atoms drawn: those shown, except the backbone atoms
// of residues drawn as cartoon, which the cartoon stands for (the CA stays,
// to join the side chain to it).
func atomsDrawn(st *structure, l *look) []bool {
	drawn := slices.Clone(l.AtomShown)
	for ri, r := range st.residues() {
		if !l.RibbonShown[ri] {
			continue
		}
		for _, i := range r.atoms {
			name := st.Atoms[i].Name
			if r.kind == aminoAcid && (name != "CA" && slices.Contains(proteinBackbone, name) || name == "H") ||
				r.kind == nucleotide && name != "C4'" && slices.Contains(nucleicBackbone, name) {
				drawn[i] = false
			}
		}
	}
	return drawn
}

// ribbonTube returns the cartoon of a structure as a tube along a
// Catmull-Rom spline through the trace atoms of each run of consecutive
// residues shown as cartoon, each residue's colour on its half of the
// tube on either side.
func ribbonTube(st *structure, l *look) []primitive {
	var out []primitive
	residues := st.residues()
	var run []int // residue indices
	flush := func() {
		if len(run) >= 2 {
			out = append(out, tube(st, l, run)...)
		}
		run = run[:0]
	}
	for ri, r := range residues {
		if !l.RibbonShown[ri] || r.trace < 0 {
			flush()
			continue
		}
		if len(run) > 0 {
			prev := &residues[run[len(run)-1]]
			gap := st.Atoms[prev.trace].position().sub(st.Atoms[r.trace].position()).norm()
			maxGap := 4.5 // Å between CA atoms
			if r.kind == nucleotide {
				maxGap = 8
			}
			if prev.chain != r.chain || prev.kind != r.kind || gap > maxGap {
				flush()
			}
		}
		run = append(run, ri)
	}
	flush()
	return out
}

// tubeSteps is how many cylinders join two residues of a tube.
const tubeSteps = 6

// tube is the spline through one run of residues, as cylinders, capped by
// a sphere at each end.
func tube(st *structure, l *look, run []int) []primitive {
	points := make([]vec, len(run))
	for k, ri := range run {
		points[k] = st.Atoms[st.residues()[ri].trace].position()
	}
	at := func(k int) vec { return points[min(max(k, 0), len(points)-1)] }
	color := func(k int) rgba { return l.RibbonColor[run[k]] }
	out := []primitive{
		{a: points[0], radius: ribbonRadius, ca: color(0)},
		{a: points[len(points)-1], radius: ribbonRadius, ca: color(len(points) - 1)},
	}
	for k := 0; k < len(points)-1; k++ {
		p0, p1, p2, p3 := at(k-1), at(k), at(k+1), at(k+2)
		prev := p1
		for j := 1; j <= tubeSteps; j++ {
			p := catmullRom(p0, p1, p2, p3, float64(j)/tubeSteps)
			c := color(k) // each residue colours its half of the tube on either side
			if 2*j > tubeSteps {
				c = color(k + 1)
			}
			// Overlapping a little, the pieces close the gaps at bends.
			out = append(out, primitive{a: prev, b: p, radius: ribbonRadius, ca: c, cb: c, cylinder: true, overhang: 0.25})
			prev = p
		}
	}
	return out
}

// catmullRom interpolates between p1 (t=0) and p2 (t=1).
func catmullRom(p0, p1, p2, p3 vec, t float64) vec {
	t2, t3 := t*t, t*t*t
	var out vec
	for i := range 3 {
		out[i] = 0.5 * (2*p1[i] + (p2[i]-p0[i])*t + (2*p0[i]-5*p1[i]+4*p2[i]-p3[i])*t2 + (3*p1[i]-p0[i]-3*p2[i]+p3[i])*t3)
	}
	return out
}

// atomRadius is the radius an atom is drawn with in its style.
func atomRadius(a atom, style atomStyle) float64 {
	switch style {
	case styleSphere:
		return vdwRadius(a.Element)
	case styleBall:
		return ballScale * vdwRadius(a.Element)
	}
	return bondRadius
}

// vdwRadius is an element's van der Waals radius in Å.
func vdwRadius(element string) float64 {
	switch element {
	case "H":
		return 1.1
	case "C":
		return 1.7
	case "N":
		return 1.625
	case "O":
		return 1.48
	case "F":
		return 1.47
	case "S":
		return 1.782
	case "P":
		return 1.871
	case "Cl":
		return 1.75
	}
	return 1.8
}

// raster is the image being drawn: the opaque scene and, while
// transparent things are drawn, the layer of their nearest fragments.
type raster struct {
	w, h        int
	cam         camera
	focal       float64 // pixels per Å at a distance of 1 Å
	bg          rgba
	front, back float64 // the depths the depth cue runs between
	opaque      *layer
	clear       *layer // nil until needed
}

// layer is a depth-tested image. Fragments are shaded once the layer is
// drawn (deferred shading), so that hidden ones cost little.
type layer struct {
	pix    []uint8   // NRGBA: the colour of the nearest fragment, then shaded
	depth  []float32 // of the nearest fragment; MaxFloat32 where none
	normal []int8    // its surface normal, each component times 127
}

func newLayer(n int) *layer {
	l := &layer{pix: make([]uint8, 4*n), depth: make([]float32, n), normal: make([]int8, 3*n)}
	fill(l.depth, math.MaxFloat32)
	return l
}

func newRaster(w, h int, cam camera, bg rgba) *raster {
	r := &raster{
		w: w, h: h, cam: cam, bg: bg,
		focal:  float64(w) / 2 / math.Tan(fieldOfView/2*math.Pi/180),
		opaque: newLayer(w * h),
		front:  cam.Distance - 1, back: cam.Distance + 1,
	}
	copy(r.opaque.pix, bg[:])
	for n := 4; n < len(r.opaque.pix); n *= 2 {
		copy(r.opaque.pix[n:], r.opaque.pix[:n])
	}
	return r
}

// fill sets every element of s to v.
func fill[T any](s []T, v T) {
	if len(s) == 0 {
		return
	}
	s[0] = v
	for n := 1; n < len(s); n *= 2 {
		copy(s[n:], s[:n])
	}
}

// inBands runs f on horizontal bands of the image, one per CPU, at once.
// Each pixel belongs to one band, and each band draws in the same order,
// so the image does not depend on how many there are.
func (r *raster) inBands(f func(y0, y1 int)) {
	n := min(runtime.GOMAXPROCS(0), 8, r.h)
	var wg sync.WaitGroup
	for b := range n {
		wg.Go(func() { f(r.h*b/n, r.h*(b+1)/n) })
	}
	wg.Wait()
}

// drawAll draws primitives into a layer and shades it.
func (r *raster) drawAll(prims []primitive, l *layer) {
	r.inBands(func(y0, y1 int) {
		for i := range prims {
			if prims[i].cylinder {
				r.drawCylinder(&prims[i], l, y0, y1)
			} else {
				r.drawSphere(&prims[i], l, y0, y1)
			}
		}
		r.shadeRows(l, y0, y1)
	})
}

// near is how close to the camera a point may be drawn.
const near = 0.5

// project maps a point to pixel coordinates and its distance in front of
// the camera.
func (r *raster) project(p vec) (x, y, depth float64) {
	q := r.cam.Rot.apply(p.sub(r.cam.Center))
	depth = r.cam.Distance - q[2]
	d := max(depth, near)
	return float64(r.w)/2 + r.focal*q[0]/d, float64(r.h)/2 - r.focal*q[1]/d, depth
}

// cull sets p.near and reports whether p may be seen: in front of the
// camera.
func (r *raster) cull(p *primitive) bool {
	_, _, d := r.project(p.a)
	if p.cylinder {
		_, _, d2 := r.project(p.b)
		d = min(d, d2)
	}
	p.near = d - p.radius
	return d > near+p.radius
}

// drawSphere draws the rows y0 to y1 (excluded) of a sphere.
func (r *raster) drawSphere(p *primitive, l *layer, y0, y1 int) {
	x, y, d := r.project(p.a)
	rad := r.focal * p.radius / d
	bx0, bx1 := max(int(math.Floor(x-rad)), 0), min(int(math.Ceil(x+rad)), r.w-1)
	by0, by1 := max(int(math.Floor(y-rad)), y0), min(int(math.Ceil(y+rad)), y1-1)
	inv := 1 / rad
	for py := by0; py <= by1; py++ {
		dy := (float64(py) + 0.5 - y) * inv
		for px := bx0; px <= bx1; px++ {
			dx := (float64(px) + 0.5 - x) * inv
			d2 := dx*dx + dy*dy
			if d2 > 1 {
				continue
			}
			nz := math.Sqrt(1 - d2)
			if i, depth := py*r.w+px, d-p.radius*nz; float32(depth) < l.depth[i] {
				l.put(i, depth, vec{dx, -dy, nz}, p.ca)
			}
		}
	}
}

// drawCylinder draws the rows y0 to y1 (excluded) of a cylinder.
func (r *raster) drawCylinder(p *primitive, l *layer, y0, y1 int) {
	x0, y0p, d0 := r.project(p.a)
	x1, y1p, d1 := r.project(p.b)
	r0, r1 := r.focal*p.radius/d0, r.focal*p.radius/d1
	sx, sy := x1-x0, y1p-y0p
	length2 := sx*sx + sy*sy
	if length2 < 1e-9 {
		return // seen end-on: the spheres at its ends show
	}
	length := math.Sqrt(length2)
	nx, ny := -sy/length, sx/length // unit normal to the axis in the image
	// The surface normal across the cylinder turns from across (in the
	// image plane, perpendicular to the axis) through out (perpendicular
	// to the axis, toward the viewer).
	axis := r.cam.Rot.apply(p.b.sub(p.a)).unit()
	across := vec{nx, -ny, 0}
	out := vec{axis[1]*across[2] - axis[2]*across[1], axis[2]*across[0] - axis[0]*across[2], axis[0]*across[1] - axis[1]*across[0]}
	if out[2] < 0 {
		out = out.scale(-1)
	}
	pad := max(r0, r1)
	tlo, thi := -p.overhang, 1+p.overhang
	bx0, bx1 := max(int(math.Floor(min(x0, x1)-pad-p.overhang*math.Abs(sx))), 0), min(int(math.Ceil(max(x0, x1)+pad+p.overhang*math.Abs(sx))), r.w-1)
	by0 := max(int(math.Floor(min(y0p, y1p)-pad-p.overhang*math.Abs(sy))), y0)
	by1 := min(int(math.Ceil(max(y0p, y1p)+pad+p.overhang*math.Abs(sy))), y1-1)
	for py := by0; py <= by1; py++ {
		fy := float64(py) + 0.5 - y0p
		// The row's pixels within the cylinder's span along its axis, and
		// within its widest radius of the axis.
		xlo, xhi := float64(bx0), float64(bx1)
		clip := func(k, base, lo, hi float64) { // keep lo <= fx*k + base <= hi
			if k == 0 {
				if base < lo || base > hi {
					xlo, xhi = 1, 0
				}
				return
			}
			a, b := (lo-base)/k+x0-0.5, (hi-base)/k+x0-0.5
			xlo, xhi = max(xlo, min(a, b)), min(xhi, max(a, b))
		}
		clip(sx/length2, fy*sy/length2, tlo, thi)
		clip(nx, fy*ny, -pad, pad)
		for px := int(math.Floor(xlo)); px <= int(math.Ceil(xhi)); px++ {
			fx := float64(px) + 0.5 - x0
			t := (fx*sx + fy*sy) / length2
			if t < tlo || t > thi {
				continue
			}
			rad := r0 + (r1-r0)*min(max(t, 0), 1)
			u := (fx*nx + fy*ny) / rad // signed distance from the axis, in radii
			if u*u > 1 {
				continue
			}
			v := math.Sqrt(1 - u*u)
			i, depth := py*r.w+px, d0+(d1-d0)*t-p.radius*v*out[2]
			if float32(depth) >= l.depth[i] {
				continue
			}
			c := p.ca
			if t > 0.5 {
				c = p.cb
			}
			l.put(i, depth, across.scale(u).add(out.scale(v)), c)
		}
	}
}

// put stores a fragment, to be shaded later, at pixel i.
func (l *layer) put(i int, depth float64, normal vec, c rgba) {
	l.depth[i] = float32(depth)
	copy(l.pix[4*i:4*i+4], c[:])
	n := l.normal[3*i : 3*i+3]
	n[0], n[1], n[2] = int8(normal[0]*127), int8(normal[1]*127), int8(normal[2]*127)
}

// The light: a key light from the upper left in front, some ambient light,
// and a highlight.
var (
	lightDir = vec{-0.45, 0.55, 0.7}.unit()
	halfway  = lightDir.add(vec{0, 0, 1}).unit()
)

// shadeRows lights the fragments of rows y0 to y1 (excluded) of a layer,
// and fades them toward the background with depth, as ChimeraX's depth
// cue does over the back half of the scene.
func (r *raster) shadeRows(l *layer, y0, y1 int) {
	cueScale := 0.0
	if r.back > r.front {
		cueScale = 2 / (r.back - r.front)
	}
	for i := y0 * r.w; i < y1*r.w; i++ {
		if l.depth[i] == math.MaxFloat32 || l == r.clear && l.depth[i] >= r.opaque.depth[i] {
			continue // nothing drawn here
		}
		nv := l.normal[3*i : 3*i+3]
		n := vec{float64(nv[0]) / 127, float64(nv[1]) / 127, float64(nv[2]) / 127}
		diffuse := 0.3 + 0.7*max(0, n.dot(lightDir))
		h := max(0, n.dot(halfway))
		h *= h
		h *= h
		h *= h
		h *= h // ^16
		spec := 0.3 * 255 * h
		cue := min(max((float64(l.depth[i])-r.front)*cueScale-1, 0), 1)
		px := l.pix[4*i : 4*i+3]
		for k := range 3 {
			v := float64(px[k])*diffuse + spec
			px[k] = uint8(min(v*(1-cue)+float64(r.bg[k])*cue, 255))
		}
	}
}

// composite lays the transparent layer over the opaque one.
func (r *raster) composite() {
	o, t := r.opaque, r.clear
	for i := range o.depth {
		if t.depth[i] >= o.depth[i] {
			continue
		}
		a := uint32(t.pix[4*i+3])
		for k := range 3 {
			front, back := uint32(t.pix[4*i+k]), uint32(o.pix[4*i+k])
			o.pix[4*i+k] = uint8((front*a + back*(255-a) + 127) / 255)
		}
		// Over a transparent background the layer adds its own coverage.
		if ba := uint32(o.pix[4*i+3]); ba < 255 {
			o.pix[4*i+3] = uint8(a + ba*(255-a)/255)
		}
	}
}

// image wraps the raster's pixels as an image.
func (r *raster) image() *image.NRGBA {
	return &image.NRGBA{Pix: r.opaque.pix, Stride: 4 * r.w, Rect: image.Rect(0, 0, r.w, r.h)}
}

// downsample averages ss x ss blocks of the raster, weighting colours by
// alpha unless every pixel is opaque.
func (r *raster) downsample(ss int, opaque bool) *image.NRGBA {
	big := r.image()
	w, h := r.w/ss, r.h/ss
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	n := uint32(ss * ss)
	rows := func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			for x := range w {
				var cr, cg, cb, ca uint32
				for dy := range ss {
					row := big.Pix[(y*ss+dy)*big.Stride+x*ss*4:]
					for dx := 0; dx < 4*ss; dx += 4 {
						if opaque {
							cr, cg, cb = cr+uint32(row[dx]), cg+uint32(row[dx+1]), cb+uint32(row[dx+2])
							continue
						}
						alpha := uint32(row[dx+3])
						cr += uint32(row[dx]) * alpha
						cg += uint32(row[dx+1]) * alpha
						cb += uint32(row[dx+2]) * alpha
						ca += alpha
					}
				}
				o := out.PixOffset(x, y)
				switch {
				case opaque:
					out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = uint8((cr+n/2)/n), uint8((cg+n/2)/n), uint8((cb+n/2)/n), 255
				case ca > 0:
					out.Pix[o], out.Pix[o+1], out.Pix[o+2] = uint8((cr+ca/2)/ca), uint8((cg+ca/2)/ca), uint8((cb+ca/2)/ca)
					out.Pix[o+3] = uint8((ca + n/2) / n)
				}
			}
		}
	}
	r.inBands(func(y0, y1 int) { rows(y0/ss, y1/ss) })
	return out
}
