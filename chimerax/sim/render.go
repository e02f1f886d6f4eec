package sim

import (
	"bufio"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"slices"
)

// maxRenderSize is the largest image side the simulated OpenGL renders, the
// GL_MAX_RENDERBUFFER_SIZE of ChimeraX's OSMesa.
const maxRenderSize = 16384

// windowSize is the default image size: the offscreen window's.
const windowSize = 256

// saveImage renders the open structures into an image file.
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
	img := render(s.structureModels(), w, h, c.int("supersample", 3), c.bool("transparentBackground", false))
	f, err := os.Create(path)
	if err != nil {
		return userErrorf("Cannot write %s: %s", path, pythonStrerror(err))
	}
	bw := bufio.NewWriter(f)
	if suffix == ".jpg" {
		err = jpeg.Encode(bw, img, &jpeg.Options{Quality: min(max(c.int("quality", 95), 1), 100)})
	} else {
		err = png.Encode(bw, img)
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

// render draws the atoms of models as shaded spheres coloured by element,
// looking down the z axis with an orthographic projection that fits them in a
// w x h image, on black or, with transparent, on nothing. It draws at
// supersample times the size (16 at most) and averages, using a smaller
// factor where that would need more than 16 million pixels.
func render(models []*model, w, h, supersample int, transparent bool) *image.NRGBA {
	ss := min(max(supersample, 1), 16)
	for ss > 1 && w*h*ss*ss > 1<<24 {
		ss--
	}
	W, H := w*ss, h*ss
	bg := color.NRGBA{A: 0xff}
	if transparent {
		bg = color.NRGBA{}
	}
	big := image.NewNRGBA(image.Rect(0, 0, W, H))
	for i := 0; i < len(big.Pix); i += 4 {
		big.Pix[i+3] = bg.A
	}

	var atoms []atom
	for _, m := range models {
		atoms = append(atoms, m.structure.Atoms...)
	}
	if len(atoms) > 0 {
		lo := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}
		hi := [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
		for _, a := range atoms {
			for i, v := range [3]float64{a.X, a.Y, a.Z} {
				lo[i], hi[i] = min(lo[i], v), max(hi[i], v)
			}
		}
		const margin = 2.0 // Å around the atoms
		scale := 0.95 * min(float64(W)/(hi[0]-lo[0]+2*margin), float64(H)/(hi[1]-lo[1]+2*margin))
		cx, cy := (lo[0]+hi[0])/2, (lo[1]+hi[1])/2
		// Painter's algorithm: the farthest atoms first.
		slices.SortStableFunc(atoms, func(a, b atom) int {
			switch {
			case a.Z < b.Z:
				return -1
			case a.Z > b.Z:
				return 1
			}
			return 0
		})
		for _, a := range atoms {
			x := float64(W)/2 + (a.X-cx)*scale
			y := float64(H)/2 - (a.Y-cy)*scale
			drawSphere(big, x, y, max(0.5*vdwRadius(a.Element)*scale, 0.75), elementColor(a.Element))
		}
	}
	if ss == 1 {
		return big
	}
	return downsample(big, ss)
}

// drawSphere draws a disc of radius r at x, y, shaded as a sphere lit from
// the viewer with a highlight to the upper left.
func drawSphere(img *image.NRGBA, x, y, r float64, c color.NRGBA) {
	b := img.Bounds()
	x0, x1 := max(int(math.Floor(x-r)), b.Min.X), min(int(math.Ceil(x+r)), b.Max.X-1)
	y0, y1 := max(int(math.Floor(y-r)), b.Min.Y), min(int(math.Ceil(y+r)), b.Max.Y-1)
	for py := y0; py <= y1; py++ {
		for px := x0; px <= x1; px++ {
			dx, dy := (float64(px)+0.5-x)/r, (float64(py)+0.5-y)/r
			d2 := dx*dx + dy*dy
			if d2 > 1 {
				continue
			}
			nz := math.Sqrt(1 - d2)
			diffuse := 0.25 + 0.75*nz
			// A highlight where the normal points at a light up and left.
			spec := math.Pow(max(0, (-dx*0.4-dy*0.4+nz*0.82)), 24) * 0.5
			shade := func(v uint8) uint8 {
				return uint8(min(255, float64(v)*diffuse+255*spec))
			}
			i := img.PixOffset(px, py)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = shade(c.R), shade(c.G), shade(c.B), 0xff
		}
	}
}

// downsample averages ss x ss blocks, weighting colours by alpha.
func downsample(big *image.NRGBA, ss int) *image.NRGBA {
	w, h := big.Bounds().Dx()/ss, big.Bounds().Dy()/ss
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	n := float64(ss * ss)
	for y := range h {
		for x := range w {
			var r, g, b, a float64
			for dy := range ss {
				for dx := range ss {
					i := big.PixOffset(x*ss+dx, y*ss+dy)
					alpha := float64(big.Pix[i+3])
					r += float64(big.Pix[i]) * alpha
					g += float64(big.Pix[i+1]) * alpha
					b += float64(big.Pix[i+2]) * alpha
					a += alpha
				}
			}
			o := out.PixOffset(x, y)
			if a > 0 {
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = uint8(r/a+0.5), uint8(g/a+0.5), uint8(b/a+0.5)
			}
			out.Pix[o+3] = uint8(a/n + 0.5)
		}
	}
	return out
}

// elementColor is ChimeraX's colour for an element (carbon in tan, as its
// "byhetero" scheme shows it).
func elementColor(element string) color.NRGBA {
	rgb := map[string][3]uint8{
		"C": {210, 180, 140}, "H": {255, 255, 255}, "N": {48, 80, 248}, "O": {255, 13, 13},
		"S": {255, 255, 48}, "P": {255, 128, 0}, "F": {144, 224, 80}, "Cl": {31, 240, 31},
		"Br": {166, 41, 41}, "I": {148, 0, 148}, "Fe": {224, 102, 51}, "Mg": {138, 255, 0},
		"Zn": {125, 128, 176}, "Ca": {61, 255, 0}, "Na": {171, 92, 242}, "K": {143, 64, 212},
		"Se": {255, 161, 0}, "Cu": {200, 128, 51}, "Mn": {156, 122, 199},
	}
	c, ok := rgb[element]
	if !ok {
		c = [3]uint8{255, 20, 147}
	}
	return color.NRGBA{c[0], c[1], c[2], 0xff}
}

// vdwRadius is an element's van der Waals radius in Å.
func vdwRadius(element string) float64 {
	switch element {
	case "H":
		return 1.1
	case "C":
		return 1.7
	case "N":
		return 1.55
	case "O":
		return 1.52
	case "F":
		return 1.47
	case "S", "P":
		return 1.8
	case "Cl":
		return 1.75
	}
	return 1.8
}
