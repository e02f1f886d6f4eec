package sim

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkRender draws 1hpv.pdb (a 2-chain protein with a ligand, 1,500
// atoms) as it opens: cartoon and the ligand's sticks.
func BenchmarkRender(b *testing.B) {
	for _, size := range []struct {
		name string
		w, h int
	}{{"256x256", windowSize, windowSize}, {"800x600", 800, 600}} {
		b.Run(size.name, func(b *testing.B) {
			s := benchSimulator(b, "")
			for b.Loop() {
				s.render(size.w, size.h, 3, false)
			}
		})
	}
	b.Run("800x600-spheres", func(b *testing.B) {
		s := benchSimulator(b, "show atoms; style sphere")
		for b.Loop() {
			s.render(800, 600, 3, false)
		}
	})
}

// BenchmarkSaveImage is a snapshot as chimerad takes it by default: render
// and write an 800x600 PNG.
func BenchmarkSaveImage(b *testing.B) {
	s := benchSimulator(b, "")
	path := filepath.Join(b.TempDir(), "x.png")
	for b.Loop() {
		if _, err := s.runText("save "+path+" width 800 height 600 supersample 3", fromREST, false, true); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSimulator(b *testing.B, commands string) *simulator {
	b.Helper()
	k, _ := knobsFromEnv(func(string) string { return "" })
	s := newSimulator(options{offscreen: true, eventLoop: true, version: -1}, k, nil, discard{}, discard{})
	text := "open " + filepath.Join(testdata, "1hpv.pdb")
	if commands != "" {
		text += "; " + commands
	}
	if _, err := s.runText(text, fromREST, false, true); err != nil {
		b.Fatal(err)
	}
	return s
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// snapshot saves the scene as a PNG file and returns its bytes.
func snapshot(t *testing.T, s *simulator, size string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snapshot.png")
	run(t, s, "save "+path+" "+size)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestRenderFollowsScene runs commands that change the scene, each of
// which must change the picture, and commands that put a scene back, which
// must give its bytes again.
func TestRenderFollowsScene(t *testing.T) {
	s, _ := newTestSimulator(t)
	run(t, s, "open "+abs(t, "1hpv.pdb"))
	const size = "width 160 height 120 supersample 2"
	first := snapshot(t, s, size)
	if again := snapshot(t, s, size); !bytes.Equal(first, again) {
		t.Fatal("two snapshots of the same scene differ")
	}
	pictures := map[string][]byte{"": first}
	steps := []struct {
		command string
		sameAs  string // a command after which the scene was the same; "" for a new scene
	}{
		{command: "color blue"},
		{command: "hide atoms"}, // the ligand goes
		{command: "show :25-30"},
		{command: "style sphere"},
		{command: "style ball"},
		{command: "cartoon hide"},
		{command: "cartoon", sameAs: "style ball"},
		{command: "color bychain"},
		{command: "color byelement"},
		{command: "color #1/A:10-20 red"},
		{command: "color #1/B red target c"},
		{command: "turn y 90"},
		{command: "turn x 30 2"},
		{command: "roll"},
		{command: "move x 3"},
		{command: "move y -2 2"},
		{command: "zoom 1.5"},
		{command: "view"},
		{command: "view orient"},
		{command: "view /A:25"},
		{command: "view"},
		{command: "set bgColor white"},
		{command: "transparency 60 target c"},
		{command: "transparency 0 target c", sameAs: "set bgColor white"},
		{command: "surface"},
		{command: "transparency 50"}, // surfaces, by default
		{command: "color #1 gold target s"},
		{command: "hide surfaces"},
		{command: "hide #1 models"},
		{command: "show #1 models", sameAs: "hide surfaces"},
		{command: "open " + abs(t, "1hpv.pdb")}, // #2 over #1, in its own colour
		{command: "close #2", sameAs: "hide surfaces"},
		{command: "close"},
		{command: "open " + abs(t, "3al1.cif")},
	}
	prev := first
	for _, step := range steps {
		run(t, s, step.command)
		got := snapshot(t, s, size)
		switch {
		case step.sameAs != "" && !bytes.Equal(got, pictures[step.sameAs]):
			t.Errorf("after %q the picture differs from that after %q, whose scene it restores", step.command, step.sameAs)
		case step.sameAs == "" && bytes.Equal(got, prev):
			t.Errorf("%q did not change the picture", step.command)
		}
		pictures[step.command] = got
		prev = got
	}
}

// TestRenderColors checks pixels: the background colour, and that a
// colour command colours what is drawn.
func TestRenderColors(t *testing.T) {
	s, _ := newTestSimulator(t)
	run(t, s, "open "+abs(t, "1hpv.pdb"))
	const size = "width 100 height 100 supersample 1"
	count := func(img image.Image, pred func(r, g, b uint32) bool) int {
		n := 0
		for y := range 100 {
			for x := range 100 {
				r, g, b, _ := img.At(x, y).RGBA()
				if pred(r>>8, g>>8, b>>8) {
					n++
				}
			}
		}
		return n
	}
	bluish := func(r, g, b uint32) bool { return b > r+40 && b > g+40 }
	if n := count(decodePNG(t, snapshot(t, s, size)), bluish); n > 20 {
		t.Errorf("%d blue pixels before color blue, want next to none: it opens tan", n)
	}
	run(t, s, "color blue")
	if n := count(decodePNG(t, snapshot(t, s, size)), bluish); n < 300 {
		t.Errorf("%d blue pixels after color blue, want the cartoon blue", n)
	}
	run(t, s, "set bgColor white")
	img := decodePNG(t, snapshot(t, s, size))
	if r, g, b, _ := img.At(0, 0).RGBA(); r>>8 != 255 || g>>8 != 255 || b>>8 != 255 {
		t.Errorf("corner after set bgColor white = %d,%d,%d, want white", r>>8, g>>8, b>>8)
	}
	run(t, s, "set bgColor #102030")
	img = decodePNG(t, snapshot(t, s, size))
	if r, g, b, _ := img.At(0, 0).RGBA(); r>>8 != 0x10 || g>>8 != 0x20 || b>>8 != 0x30 {
		t.Errorf("corner after set bgColor #102030 = %d,%d,%d", r>>8, g>>8, b>>8)
	}
}

// TestRenderSessionRestores checks that a session brings back the scene:
// the same bytes.
func TestRenderSessionRestores(t *testing.T) {
	s, _ := newTestSimulator(t)
	run(t, s, "open "+abs(t, "1hpv.pdb")+"; color bychain; turn y 40; show :50; set bgColor gray; surface #1/A; transparency 40")
	const size = "width 80 height 60"
	want := snapshot(t, s, size)
	path := filepath.Join(t.TempDir(), "s.cxs")
	run(t, s, "save "+path)
	run(t, s, "close session; open "+abs(t, "pept.pdb"))
	run(t, s, "open "+path)
	if got := snapshot(t, s, size); !bytes.Equal(got, want) {
		t.Error("the scene restored from a session draws differently")
	}
}

// TestRenderDeterministic draws the same scene in two simulators.
func TestRenderDeterministic(t *testing.T) {
	var pictures [][]byte
	for range 2 {
		s, _ := newTestSimulator(t)
		run(t, s, "open "+abs(t, "1hpv.pdb")+"; show atoms; style ball; turn x 20; surface /B; transparency 70")
		pictures = append(pictures, snapshot(t, s, "width 300 height 200 supersample 3"))
	}
	if !bytes.Equal(pictures[0], pictures[1]) {
		t.Error("the same scene drawn twice gives different bytes")
	}
}
