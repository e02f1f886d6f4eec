package sim

import (
	"slices"
	"testing"
)

// atomsOf returns the look and atom indices of tiny.pdb by name.
func tinyLook(t *testing.T) (*simulator, *look, map[string]int) {
	t.Helper()
	s, _ := newTestSimulator(t)
	run(t, s, "open "+tinyPDB(t))
	m := s.models[0]
	index := map[string]int{}
	for i, a := range m.structure.Atoms {
		index[a.ResName+"@"+a.Name] = i
	}
	return s, m.look, index
}

func TestAutoStyle(t *testing.T) {
	_, l, at := tinyLook(t)
	// 3 residues: too few for a cartoon, so sticks; carbons tan, others by element.
	if slices.Contains(l.RibbonShown, true) || !l.AtomShown[at["ALA@CA"]] {
		t.Errorf("a 3-residue chain: cartoon %v, atoms %v; want sticks", l.RibbonShown, l.AtomShown)
	}
	if l.AtomColor[at["ALA@CA"]] != (rgba{210, 180, 140, 255}) || l.AtomColor[at["ALA@N"]] != elementColor("N") {
		t.Errorf("colours %v and %v, want tan carbons and blue nitrogens", l.AtomColor[at["ALA@CA"]], l.AtomColor[at["ALA@N"]])
	}

	s, _ := newTestSimulator(t)
	run(t, s, "open "+abs(t, "1hpv.pdb"))
	m := s.models[0]
	st, l := m.structure, m.look
	ligandShown, proteinHidden := false, 0
	for i, a := range st.Atoms {
		switch k := st.residues()[st.residueOf(i)].kind; {
		case k == ligand && l.AtomShown[i]:
			ligandShown = true
		case k == aminoAcid && !l.AtomShown[i]:
			proteinHidden++
		}
		if a.Element == "H" && l.AtomShown[i] {
			t.Fatalf("hydrogen %s shown", a.Name)
		}
	}
	if !ligandShown || proteinHidden < len(st.Atoms)/2 || !l.RibbonShown[0] {
		t.Errorf("1hpv: ligand shown %v, %d protein atoms hidden, cartoon %v; want a cartoon with the ligand", ligandShown, proteinHidden, l.RibbonShown[0])
	}
}

func TestDisplayCommands(t *testing.T) {
	s, l, at := tinyLook(t)
	ca, n, c1, o1, water := at["ALA@CA"], at["ALA@N"], at["LIG@C1"], at["LIG@O1"], at["HOH@O"]
	steps := []struct {
		command string
		check   func() bool
	}{
		{"color red", func() bool { return l.AtomColor[ca] == rgba{255, 0, 0, 255} && l.AtomColor[n] == rgba{255, 0, 0, 255} }},
		{"color byhetero", func() bool { return l.AtomColor[ca] == rgba{255, 0, 0, 255} && l.AtomColor[n] == elementColor("N") }},
		{"color ligand blue transparency 50", func() bool { return l.AtomColor[c1] == rgba{0, 0, 255, 128} && l.AtomColor[ca][3] == 255 }},
		{"color ligand yellow", func() bool { return l.AtomColor[c1] == rgba{255, 255, 0, 128} }}, // keeps its transparency
		{"color #1 #00ff0080 target a", func() bool { return l.AtomColor[ca] == rgba{0, 255, 0, 128} }},
		{"color :1 bychain", func() bool { return l.AtomColor[ca] == rgba{123, 104, 238, 128} }}, // chain A's colour, its transparency kept
		{"hide atoms", func() bool { return !slices.Contains(l.AtomShown, true) }},
		{"show :1@CA", func() bool { return l.AtomShown[ca] && !l.AtomShown[n] }},
		{"show ligand only", func() bool { return l.AtomShown[c1] && l.AtomShown[o1] && !l.AtomShown[ca] }},
		{"show", func() bool { return !slices.Contains(l.AtomShown, false) }},
		{"hide solvent", func() bool { return !l.AtomShown[water] && l.AtomShown[ca] }},
		{"style ligand sphere", func() bool { return l.AtomStyle[c1] == styleSphere && l.AtomStyle[ca] == styleStick }},
		{"style ball", func() bool { return l.AtomStyle[c1] == styleBall && l.AtomStyle[ca] == styleBall }},
		{"cartoon", func() bool { return l.RibbonShown[0] && l.RibbonShown[2] && !l.RibbonShown[3] }}, // not the ligand
		{"cartoon hide :2", func() bool { return l.RibbonShown[0] && !l.RibbonShown[1] }},
		{"hide cartoons", func() bool { return !slices.Contains(l.RibbonShown, true) }},
		{"surface", func() bool { return l.SurfaceShown[ca] && !l.SurfaceShown[water] }},
		{"transparency 40", func() bool { return l.SurfaceColor[ca][3] == 153 && l.AtomColor[n][3] == 128 }}, // surfaces only
		{"transparency :1 70 atoms", func() bool { return l.AtomColor[n][3] == 76 && l.AtomColor[c1][3] == 128 }},
		{"surface hide", func() bool { return !slices.Contains(l.SurfaceShown, true) }},
		{"hide #1 models", func() bool { return s.models[0].hidden }},
		{"show #1 models", func() bool { return !s.models[0].hidden }},
		{"set bgColor white", func() bool { return s.scene.background == rgba{255, 255, 255, 255} }},
	}
	for _, step := range steps {
		run(t, s, step.command)
		if !step.check() {
			t.Errorf("after %q the look is not as it should be", step.command)
		}
	}
}

func TestMotionCommands(t *testing.T) {
	s, _, _ := tinyLook(t)
	cam := &s.scene.cam
	start := *cam
	run(t, s, "turn y 90")
	if got := cam.Rot.apply(vec{1, 0, 0}); got.sub(vec{0, 0, -1}).norm() > 1e-9 {
		t.Errorf("turn y 90 takes the x axis to %v, want (0, 0, -1)", got)
	}
	run(t, s, "turn y -90")
	if cam.Rot.apply(vec{1, 0, 0}).sub(vec{1, 0, 0}).norm() > 1e-9 {
		t.Error("turn y 90 then -90 does not come back")
	}
	run(t, s, "turn x 10 3") // 3 frames of 10°
	if got := cam.Rot.apply(vec{0, 1, 0}); got.sub(vec{0, cos(30), sin(30)}).norm() > 1e-9 {
		t.Errorf("turn x 10 3 takes y to %v, want 30° around x", got)
	}
	run(t, s, "view orient")
	if cam.Rot != identity() {
		t.Errorf("view orient left rotation %v", cam.Rot)
	}
	run(t, s, "roll")
	if got := cam.Rot.apply(vec{1, 0, 0}); got.sub(vec{cos(1), 0, -sin(1)}).norm() > 1e-9 {
		t.Errorf("roll turned x to %v, want 1° around y", got)
	}
	run(t, s, "view orient; move x 2")
	if got := cam.Center.sub(start.Center); got.sub(vec{-2, 0, 0}).norm() > 1e-9 {
		t.Errorf("move x 2 moved the camera's centre by %v, want (-2, 0, 0)", got)
	}
	d := cam.Distance
	run(t, s, "zoom 2")
	if cam.Distance != d/2 {
		t.Errorf("zoom 2: distance %v, want %v", cam.Distance, d/2)
	}
	run(t, s, "view")
	if cam.Center != start.Center || cam.Distance != start.Distance {
		t.Errorf("view looks at %v from %v, want %v from %v as at first", cam.Center, cam.Distance, start.Center, start.Distance)
	}
	run(t, s, "view :10")
	if cam.Center.sub(vec{1, 10, 0}).norm() > 1e-9 || cam.Distance >= start.Distance {
		t.Errorf("view :10 looks at %v from %v, want the ligand's centre (1, 10, 0) and closer", cam.Center, cam.Distance)
	}
	for _, tt := range []struct{ command, want string }{
		{"view :99", "No objects specified."},
		{"turn y 90 models #1", "turn: the models option is not supported by the chimerad simulator"},
	} {
		if _, msg := runErr(t, s, tt.command); msg != tt.want {
			t.Errorf("%s: %q, want %q", tt.command, msg, tt.want)
		}
	}
}

// "only" hides what is not named in the structures named, not in others;
// target r means cartoons.
func TestShowOnlyAndTargets(t *testing.T) {
	s, l1, at := tinyLook(t)
	run(t, s, "open "+tinyPDB(t))
	l2 := s.models[1].look
	run(t, s, "show; show #1:10 only")
	if l1.AtomShown[at["ALA@CA"]] || !l1.AtomShown[at["LIG@C1"]] || slices.Contains(l2.AtomShown, false) {
		t.Errorf("show #1:10 only: #1 %v, #2 %v; want only #1's ligand shown there and #2 untouched", l1.AtomShown, l2.AtomShown)
	}
	before := l1.AtomColor[at["ALA@CA"]]
	run(t, s, "color #1 red target r")
	if l1.RibbonColor[0] != (rgba{255, 0, 0, 255}) || l1.AtomColor[at["ALA@CA"]] != before {
		t.Errorf("color target r: cartoon %v, atom %v; want the cartoon red, the atom as it was", l1.RibbonColor[0], l1.AtomColor[at["ALA@CA"]])
	}
}

// Models opened where there were none are looked at afresh, down -z.
func TestInitialView(t *testing.T) {
	s, _, _ := tinyLook(t)
	first := s.scene.cam
	run(t, s, "turn y 50; zoom 3; open "+tinyPDB(t))
	if s.scene.cam == first {
		t.Fatal("opening a second model moved the camera back")
	}
	run(t, s, "close; open "+tinyPDB(t))
	if s.scene.cam != first {
		t.Errorf("after close and open, camera %+v, want the initial view %+v", s.scene.cam, first)
	}
}

func cos(deg float64) float64 { return rotation(vec{0, 0, 1}, deg)[0][0] }
func sin(deg float64) float64 { return rotation(vec{0, 0, 1}, deg)[1][0] }
