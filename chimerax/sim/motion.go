package sim

import (
	"fmt"
	"math"
)

// This file is the commands that move the camera: turn, roll, move, zoom
// and view (std_commands/src/turn.py, roll.py, move.py, zoom.py, view.py).
// ChimeraX draws frames only when it has a display to update; the
// simulator applies a motion of N frames at once, and a motion "forever"
// (roll) as its first frame.

// unsupportedKeywords fails a command given keywords the simulator accepts
// but cannot honour.
func unsupportedKeywords(c *call, names ...string) error {
	for _, n := range names {
		if c.has(n) {
			return &commandError{class: "LimitationError", msg: fmt.Sprintf("%s: the %s option is not supported by the chimerad simulator", c.name, n)}
		}
	}
	return nil
}

// motionKeywords are the keywords of turn, roll and move that move models
// or atoms rather than the camera, which the simulator cannot do.
var motionKeywords = []string{"models", "atoms", "coordinateSystem", "center", "rock", "wobble", "wobbleAspect"}

// frames is how many frames of a motion to apply: the frames argument, 1
// when absent, and 1 for "forever" (-1).
func frames(c *call) int {
	return max(c.int("frames", 1), 1)
}

// cmdTurn rotates the scene about a screen axis (default y) through the
// centre of rotation by angle degrees (default 90) per frame.
func (s *simulator) cmdTurn(c *call) (result, error) { return s.turn(c, 90) }

// cmdRoll is turn with an angle of 1 degree per frame, forever.
func (s *simulator) cmdRoll(c *call) (result, error) { return s.turn(c, 1) }

func (s *simulator) turn(c *call, angle float64) (result, error) {
	if err := unsupportedKeywords(c, motionKeywords...); err != nil {
		return result{}, err
	}
	axis, ok := c.args["axis"].(vec)
	if !ok {
		axis = vec{0, 1, 0}
	}
	total := c.float("angle", angle) * float64(frames(c))
	cam := &s.scene.cam
	cam.Rot = cam.Rot.then(rotation(axis, total))
	return result{}, nil
}

// cmdMove shifts the scene along a screen axis by distance Å (default 1)
// per frame; positive z is toward the viewer.
func (s *simulator) cmdMove(c *call) (result, error) {
	if err := unsupportedKeywords(c, motionKeywords...); err != nil {
		return result{}, err
	}
	axis := c.args["axis"].(vec)
	d := 1.0
	if c.has("distance") {
		d, axis = c.float("distance", 0), axis.unit()
	}
	d *= float64(frames(c))
	cam := &s.scene.cam
	// The models move by d along the axis: the camera, by -d.
	inScene := transpose(cam.Rot).apply(axis)
	cam.Center = cam.Center.sub(inScene.scale(d))
	return result{}, nil
}

// transpose is the inverse of a rotation.
func transpose(m mat) mat {
	return mat{{m[0][0], m[1][0], m[2][0]}, {m[0][1], m[1][1], m[2][1]}, {m[0][2], m[1][2], m[2][2]}}
}

// cmdZoom makes the scene look factor times bigger by moving the camera
// toward the centre of rotation. With pixelSize, it zooms to that size in
// Å of a pixel at the centre of rotation; with neither, it reports the
// pixel size.
func (s *simulator) cmdZoom(c *call) (result, error) {
	cam := &s.scene.cam
	factor, ok := c.args["factor"].(float64)
	if p, given := c.args["pixelSize"].(float64); given {
		f := s.pixelSize() / p
		if ok {
			f *= factor
		}
		factor, ok = f, true
	}
	if !ok {
		msg := fmt.Sprintf("Pixel size at center of rotation is %.3g", s.pixelSize())
		s.status(msg)
		s.log(levelNote, msg)
		return result{}, nil
	}
	cam.Distance /= factor
	return result{}, nil
}

// pixelSize is the size in Å of a pixel of the window at the centre of
// rotation.
func (s *simulator) pixelSize() float64 {
	return 2 * s.scene.cam.Distance * math.Tan(fieldOfView/2*math.Pi/180) / windowSize
}

// cmdView makes what is named (by default everything shown) fill the
// window. With orient it first turns the scene back to its initial
// orientation, looking down the scene's -z axis.
func (s *simulator) cmdView(c *call) (result, error) {
	if err := unsupportedKeywords(c, "zalign", "inFrontOf"); err != nil {
		return result{}, err
	}
	cam := &s.scene.cam
	if c.bool("orient", false) {
		cam.Rot = identity()
	}
	spec := c.spec("objects")
	sel, err := s.evaluate(spec)
	if err != nil {
		return result{}, err
	}
	if spec != nil && sel.empty() {
		return result{}, userErrorf("No objects specified.")
	}
	center, radius, ok := s.bounds(sel)
	switch {
	case !ok && spec != nil:
		return result{}, userErrorf("No displayed objects specified.")
	case !ok:
		return result{}, nil
	}
	cam.viewAll(center, radius, c.float("pad", defaultPad))
	s.scene.placed = true
	return result{}, nil
}
