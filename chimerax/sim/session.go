package sim

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// A session file (.cxs) of the simulator is JSON, gzipped unless saved with
// "compress none", holding the open models and their atoms. It is not
// ChimeraX's format, which the simulator cannot read.

// sessionFormat marks a simulator session file.
const sessionFormat = "chimerad ChimeraX simulator session"

// maxSession bounds a session file's uncompressed size.
const maxSession = 1 << 30

type sessionFile struct {
	Format   string         `json:"format"`
	Version  int            `json:"version"`
	ChimeraX string         `json:"chimerax_version"`
	Models   []sessionModel `json:"models"`
	// The view; absent from version 1 files.
	Camera     *camera `json:"camera,omitempty"`
	Background *rgba   `json:"background,omitempty"`
}

type sessionModel struct {
	ID        []int      `json:"id"`
	Name      string     `json:"name"`
	Structure *structure `json:"structure,omitempty"`
	Hidden    bool       `json:"hidden,omitempty"`
	Look      *look      `json:"look,omitempty"`
}

// saveSession writes the open models to path.
func (s *simulator) saveSession(path string, compress bool) error {
	sf := sessionFile{Format: sessionFormat, Version: 2, ChimeraX: s.release.version, Models: []sessionModel{},
		Camera: &s.scene.cam, Background: &s.scene.background}
	for _, m := range s.models {
		sf.Models = append(sf.Models, sessionModel{ID: m.id, Name: m.name, Structure: m.structure, Hidden: m.hidden, Look: m.look})
	}
	f, err := os.Create(path)
	if err != nil {
		return userErrorf("Cannot write %s: %s", path, pythonStrerror(err))
	}
	bw := bufio.NewWriter(f)
	var w io.Writer = bw
	var zw *gzip.Writer
	if compress {
		zw = gzip.NewWriter(bw)
		w = zw
	}
	err = json.NewEncoder(w).Encode(sf)
	if zw != nil && err == nil {
		err = zw.Close()
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

// openSession restores a session file's models, replacing the open ones
// unless combine is set, in which case they get new top-level ids. It returns
// the top-level models.
func (s *simulator) openSession(r io.Reader, name string, combine bool) ([]*model, error) {
	sf, err := readSession(r)
	if err != nil {
		return nil, userErrorf("Cannot open session %s: %v", name, err)
	}
	models := make([]*model, len(sf.Models))
	for i, sm := range sf.Models {
		models[i] = &model{id: slices.Clone(sm.ID), name: sm.Name, structure: sm.Structure, hidden: sm.Hidden}
		switch {
		case sm.Structure != nil && sm.Look != nil:
			models[i].look = sm.Look
		case sm.Structure != nil: // a version 1 file
			models[i].look = newLook(sm.Structure, sm.ID[0], s.scene.background)
		}
	}
	if combine {
		renumber := map[int]int{}
		next := s.nextModelID()
		for _, m := range models {
			if _, ok := renumber[m.id[0]]; !ok {
				renumber[m.id[0]] = next
				next++
				for slices.ContainsFunc(s.models, func(o *model) bool { return o.id[0] == next }) {
					next++
				}
			}
			m.id[0] = renumber[m.id[0]]
		}
	} else {
		s.models = nil
		s.scene = newScene()
		if sf.Camera != nil {
			s.scene.cam, s.scene.background, s.scene.placed = *sf.Camera, *sf.Background, true
		}
	}
	s.addModels(models...)
	s.placeCamera()
	var top []*model
	for _, m := range models {
		if len(m.id) == 1 {
			top = append(top, m)
		}
	}
	return top, nil
}

// readSession decodes and checks a session file.
func readSession(r io.Reader) (*sessionFile, error) {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(18); bytes.HasPrefix(head, []byte("# ChimeraX Session")) {
		return nil, errors.New("sessions saved by ChimeraX cannot be read by the chimerad simulator")
	}
	var in io.Reader = br
	if head, _ := br.Peek(2); bytes.Equal(head, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		in = zr
	}
	var sf sessionFile
	if err := json.NewDecoder(io.LimitReader(in, maxSession)).Decode(&sf); err != nil || sf.Format != sessionFormat {
		return nil, errors.New("not a ChimeraX session file")
	}
	seen := map[string]bool{}
	for _, sm := range sf.Models {
		if len(sm.ID) == 0 || slices.ContainsFunc(sm.ID, func(n int) bool { return n <= 0 }) {
			return nil, fmt.Errorf("bad model id %v", sm.ID)
		}
		key := fmt.Sprint(sm.ID)
		if seen[key] {
			return nil, fmt.Errorf("model id %v used twice", sm.ID)
		}
		seen[key] = true
		if len(sm.ID) > 1 && !seen[fmt.Sprint(sm.ID[:len(sm.ID)-1])] {
			return nil, fmt.Errorf("model %v has no parent model", sm.ID)
		}
		if sm.Structure != nil {
			if err := sm.Structure.validate(); err != nil {
				return nil, err
			}
			if sm.Look != nil && !sm.Look.fits(sm.Structure) {
				return nil, fmt.Errorf("model %v: its look does not fit its atoms", sm.ID)
			}
		}
	}
	if sf.Camera != nil && sf.Background == nil || sf.Camera == nil && sf.Background != nil {
		return nil, errors.New("a view without its background, or the reverse")
	}
	if sf.Camera != nil && !(sf.Camera.Distance > 0) {
		return nil, errors.New("a camera at a distance that is not positive")
	}
	return &sf, nil
}
