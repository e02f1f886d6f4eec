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
		m := &model{id: []int{id}, name: names[0], structure: structures[0]}
		s.addModels(m)
		return m
	}
	group := &model{id: []int{id}, name: groupName}
	s.addModels(group)
	for i, st := range structures {
		s.addModels(&model{id: []int{id, i + 1}, name: names[i], structure: st})
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
}

// selectModels returns the open models an atom spec names, sorted by id. An
// empty spec or "all" names every model. The simulator understands model
// specs ("#1", "#1.2", "#1-3,5", "#1.1-4", "#!1" for the model without its
// submodels, several separated by spaces); any chain, residue or atom part
// after them ("/A:12@CA") is ignored. "sel" names nothing, as nothing is ever
// selected.
func (s *simulator) selectModels(spec string) ([]*model, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "all" {
		return slices.Clone(s.models), nil
	}
	if spec == "sel" {
		return nil, nil
	}
	var out []*model
	for _, part := range strings.Fields(spec) {
		matches, err := s.matchModelSpec(part)
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	slices.SortFunc(out, func(a, b *model) int { return slices.Compare(a.id, b.id) })
	return out, nil
}

// matchModelSpec returns the models one "#..." part of a spec names.
func (s *simulator) matchModelSpec(part string) ([]*model, error) {
	hier, ok := strings.CutPrefix(part, "#")
	if !ok {
		return nil, userErrorf("Invalid atom specifier %q: the chimerad simulator understands model specs such as #1 and #1.2", part)
	}
	exact := false
	if h, ok := strings.CutPrefix(hier, "!"); ok {
		hier, exact = h, true
	}
	if i := strings.IndexAny(hier, "/:@&|~"); i >= 0 {
		hier = hier[:i]
	}
	var levels [][][2]int // per level, the id ranges
	for _, level := range strings.Split(hier, ".") {
		var ranges [][2]int
		for _, r := range strings.Split(level, ",") {
			lo, hi, isRange := strings.Cut(r, "-")
			a, err1 := strconv.Atoi(lo)
			b, err2 := a, error(nil)
			if isRange {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || a < 0 || b < a {
				return nil, userErrorf("Invalid atom specifier %q", part)
			}
			ranges = append(ranges, [2]int{a, b})
		}
		levels = append(levels, ranges)
	}
	var out []*model
	for _, m := range s.models {
		if len(m.id) < len(levels) || (exact && len(m.id) != len(levels)) {
			continue
		}
		match := true
		for i, ranges := range levels {
			if !slices.ContainsFunc(ranges, func(r [2]int) bool { return m.id[i] >= r[0] && m.id[i] <= r[1] }) {
				match = false
				break
			}
		}
		if match {
			out = append(out, m)
		}
	}
	return out, nil
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
