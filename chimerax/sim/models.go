package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// model is an open model: an atomic structure, or a grouping model whose
// submodels are the structures of a multi-structure file.
type model struct {
	id        []int
	name      string
	structure *structure // nil for a grouping model
	look      *look      // how the structure is shown; nil for a grouping model
	hidden    bool       // "hide models"
}

// idString is the model's id without "#", e.g. "1.2".
func (m *model) idString() string {
	parts := make([]string, len(m.id))
	for i, n := range m.id {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ".")
}

// spec is the model's atom spec, e.g. "#1.2".
func (m *model) spec() string { return "#" + m.idString() }

// String is the model as ChimeraX's str() gives it in Python values.
func (m *model) String() string { return m.name + " " + m.spec() }

// class is the model's Python class name.
func (m *model) class() string {
	if m.structure == nil {
		return "Model"
	}
	return "AtomicStructure"
}

// within reports whether m is the model with id, or one of its submodels.
func (m *model) within(id []int) bool {
	return len(m.id) >= len(id) && slices.Equal(m.id[:len(id)], id)
}

// nextModelID returns the lowest top-level model id not in use, as ChimeraX
// assigns them.
func (s *simulator) nextModelID() int {
	used := map[int]bool{}
	for _, m := range s.models {
		used[m.id[0]] = true
	}
	n := 1
	for used[n] {
		n++
	}
	return n
}

// addStructures opens structures as new models: one model, or a grouping
// model named groupName with a submodel per structure. names gives each
// structure's model name. It returns the top-level model.
func (s *simulator) addStructures(groupName string, structures []*structure, names []string) *model {
	id := s.nextModelID()
	if len(structures) == 1 {
		m := &model{id: []int{id}, name: names[0], structure: structures[0], look: newLook(structures[0], id, s.scene.background)}
		s.addModels(m)
		return m
	}
	group := &model{id: []int{id}, name: groupName}
	s.addModels(group)
	for i, st := range structures {
		s.addModels(&model{id: []int{id, i + 1}, name: names[i], structure: st, look: newLook(st, id, s.scene.background)})
	}
	return group
}

// addModels adds models and keeps s.models sorted by id.
func (s *simulator) addModels(ms ...*model) {
	s.models = append(s.models, ms...)
	slices.SortFunc(s.models, func(a, b *model) int { return slices.Compare(a.id, b.id) })
}

// structureModels returns the models that hold atoms.
func (s *simulator) structureModels() []*model {
	var out []*model
	for _, m := range s.models {
		if m.structure != nil {
			out = append(out, m)
		}
	}
	return out
}

// closeModels closes the given models and their submodels.
func (s *simulator) closeModels(closing []*model) {
	s.models = slices.DeleteFunc(s.models, func(m *model) bool {
		for _, c := range closing {
			if m.within(c.id) {
				return true
			}
		}
		return false
	})
	s.resetSceneIfEmpty()
}

// modelNames gives the structures of a file their model names: the file's
// own name for a single structure, otherwise each structure's title, or the
// file name and its number.
func modelNames(fileName string, structures []*structure) []string {
	names := make([]string, len(structures))
	for i, st := range structures {
		switch {
		case len(structures) == 1:
			names[i] = fileName
		case st.Title != "":
			names[i] = st.Title
		default:
			names[i] = fmt.Sprintf("%s %d", fileName, i+1)
		}
	}
	return names
}
