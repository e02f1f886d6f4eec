package sim

import (
	"fmt"
	"strconv"
	"strings"
)

// This file is the commands that report: info, info models, info chains,
// info residues (list_info/src/cmd.py and util.py) and measure center
// (std_commands/src/measure_center.py), logging what ChimeraX logs, one
// message each, and giving ChimeraX's JSON values when the REST server
// asks for JSON.

// cmdInfo reports models as ChimeraX's "info" does: as JSON when the REST
// server asks for it, and otherwise as one note.
func (s *simulator) cmdInfo(c *call) (result, error) {
	sel, err := s.evaluate(c.spec("models"))
	if err != nil {
		return result{}, err
	}
	models := sel.modelList(s.models)
	if c.json {
		infos := make([]any, len(models))
		for i, m := range models {
			info := pyObject{
				{"spec", m.spec()}, {"name", m.name}, {"shown", !m.hidden},
				{"num triangles", 0}, {"num instances", 1}, {"num selected instances", 0},
			}
			if st := m.structure; st != nil {
				info = append(info,
					pyField{"num atoms", len(st.Atoms)}, pyField{"num_bonds", len(st.Bonds)},
					pyField{"num residues", st.numResidues()}, pyField{"chains", st.chains()},
					pyField{"num coordsets", 1}, pyField{"pseudobond groups", []any{}})
			}
			infos[i] = info
		}
		return result{json: pyJSON(infos)}, nil
	}
	lines := []string{fmt.Sprintf("%d models", len(models))}
	for _, m := range models {
		line := fmt.Sprintf("#%s, %s, %s", m.idString(), m.name, map[bool]string{false: "shown", true: "hidden"}[m.hidden])
		if m.structure != nil {
			line += "\n" + m.structure.summary()
		}
		lines = append(lines, line)
	}
	s.log(levelNote, strings.Join(lines, "\n"))
	return result{}, nil
}

// attributeReport is one line of info models, chains or residues: the
// item's spec, whether it has the attribute and its value.
type attributeReport struct {
	spec    string
	value   any
	present bool
}

// cmdInfoModels reports one attribute of each model named, as
// "model id #1 type AtomicStructure name 1abc", all in one note.
func (s *simulator) cmdInfoModels(c *call) (result, error) {
	sel, err := s.evaluate(c.spec("atoms"))
	if err != nil {
		return result{}, err
	}
	typ := c.str("type", "")
	attr := c.str("attribute", "name")
	var lines []string
	var infos []any
	for _, m := range sel.modelList(s.models) {
		if typ != "" && !strings.EqualFold(typ, m.class()) {
			continue
		}
		value, present := modelAttribute(m, attr)
		text := "[undefined]"
		if present {
			text = attributeString(value)
		}
		lines = append(lines, fmt.Sprintf("model id %s type %s %s %s", m.spec(), m.class(), attr, text))
		infos = append(infos, pyObject{
			{"spec", m.spec()}, {"class", m.class()}, {"attribute", attr},
			{"present", present}, {"value", value},
		})
	}
	s.log(levelNote, strings.Join(lines, "\n"))
	return jsonList(c, infos), nil
}

// jsonList is a command's result whose JSON value is a list.
func jsonList(c *call, items []any) result {
	if !c.json {
		return result{}
	}
	if items == nil {
		items = []any{}
	}
	return result{json: pyJSON(items)}
}

// cmdInfoChains reports one attribute (by default chain_id) of each polymer
// chain with a named atom, as "chain id /A chain_id A", all in one note.
// Chains ChimeraX's chain lacks the attribute of are left out, as ChimeraX
// does.
func (s *simulator) cmdInfoChains(c *call) (result, error) {
	sel, err := s.evaluate(c.spec("atoms"))
	if err != nil {
		return result{}, err
	}
	attr := c.str("attribute", "chain_id")
	var lines []string
	var infos []any
	for _, m := range s.structuresIn(sel) {
		st := m.structure
		marked := selectedResidues(m, sel)
		for _, chain := range st.chains() {
			var residues []any
			picked, kind := false, otherResidue
			for ri, r := range st.residues() {
				if r.chain == chain && (r.kind == aminoAcid || r.kind == nucleotide) {
					residues = append(residues, s.residueSpec(m, &r))
					picked = picked || marked[ri]
					kind = r.kind
				}
			}
			if !picked {
				continue
			}
			spec := s.structureSpec(m) + chainSpec(chain)
			value, present := chainAttribute(st, chain, attr)
			if present {
				lines = append(lines, fmt.Sprintf("chain id %s %s %s", spec, attr, attributeString(value)))
			}
			polymer := map[residueKind]string{aminoAcid: "protein", nucleotide: "nucleic"}[kind]
			infos = append(infos, pyObject{
				{"spec", spec}, {"attribute", attr}, {"sequence", st.sequence(chain)},
				{"residues", residues}, {"polymer type", polymer}, {"present", present}, {"value", value},
			})
		}
	}
	s.log(levelNote, strings.Join(lines, "\n"))
	return jsonList(c, infos), nil
}

// chainAttribute returns an attribute of a chain, for the few the
// simulator knows.
func chainAttribute(st *structure, chain, attr string) (any, bool) {
	switch attr {
	case "chain_id":
		return chain, true
	case "characters":
		return st.sequence(chain), true
	case "num_residues", "num_existing_residues":
		return len(st.sequence(chain)), true
	}
	return nil, false
}

// cmdInfoResidues reports one attribute (by default name) of each residue
// with a named atom, as "residue id /A:1 name PRO index 0" (the index is
// the residue's place in its chain, for chain residues only), all in one
// note.
func (s *simulator) cmdInfoResidues(c *call) (result, error) {
	sel, err := s.evaluate(c.spec("atoms"))
	if err != nil {
		return result{}, err
	}
	attr := c.str("attribute", "name")
	var lines []string
	var infos []any
	for _, m := range s.structuresIn(sel) {
		st := m.structure
		index := map[string]int{} // the next index in each chain
		for ri, on := range selectedResidues(m, sel) {
			r := &st.residues()[ri]
			inChain := r.kind == aminoAcid || r.kind == nucleotide
			i := index[r.chain]
			if inChain {
				index[r.chain]++
			}
			if !on {
				continue
			}
			spec := s.residueSpec(m, r)
			value, present := residueAttribute(m, ri, attr)
			if present {
				line := fmt.Sprintf("residue id %s %s %s", spec, attr, attributeString(value))
				if inChain {
					line += " index " + strconv.Itoa(i)
				}
				lines = append(lines, line)
			}
			infos = append(infos, pyObject{{"spec", spec}, {"attribute", attr}, {"present", present}, {"value", value}})
		}
	}
	s.log(levelNote, strings.Join(lines, "\n"))
	return jsonList(c, infos), nil
}

// residueAttribute returns an attribute of residue ri of a structure model,
// for the few the simulator knows.
func residueAttribute(m *model, ri int, attr string) (any, bool) {
	r := &m.structure.residues()[ri]
	switch attr {
	case "name":
		return r.name, true
	case "number":
		return r.seq, true
	case "chain_id":
		return r.chain, true
	case "insertion_code":
		return r.icode, true
	case "num_atoms":
		return len(r.atoms), true
	case "ribbon_display":
		return m.look.RibbonShown[ri], true
	case "ribbon_color":
		c := m.look.RibbonColor[ri]
		return []any{int(c[0]), int(c[1]), int(c[2]), int(c[3])}, true
	case "polymer_type":
		return map[residueKind]int{aminoAcid: 1, nucleotide: 2}[r.kind], true
	}
	return nil, false
}

// structureSpec is how a residue or chain spec names its structure: "#1",
// or nothing when only one structure is open (Residue.string).
func (s *simulator) structureSpec(m *model) string {
	if len(s.structureModels()) == 1 {
		return ""
	}
	return m.spec()
}

// chainSpec is a chain id in a spec: "/A", "/?" for a blank id.
func chainSpec(id string) string {
	if strings.TrimSpace(id) == "" {
		return "/?"
	}
	return "/" + id
}

// residueSpec is a residue's atom spec: "/A:10", "#1/A:10A".
func (s *simulator) residueSpec(m *model, r *residue) string {
	return s.structureSpec(m) + chainSpec(r.chain) + ":" + strconv.Itoa(r.seq) + r.icode
}

// cmdMeasureCenter logs the centre of mass of the atoms named (all of
// them, shown or not): "Center of mass of N atoms = (x, y, z)".
func (s *simulator) cmdMeasureCenter(c *call) (result, error) {
	if err := unsupportedKeywords(c, "mark", "level"); err != nil {
		return result{}, err
	}
	sel, err := s.evaluate(c.spec("objects"))
	if err != nil {
		return result{}, err
	}
	var sum vec
	var mass float64
	n := 0
	s.eachAtom(sel, func(m *model, i int) {
		a := m.structure.Atoms[i]
		w := elementMass(a.Element)
		sum, mass, n = sum.add(a.position().scale(w)), mass+w, n+1
	})
	if n == 0 {
		return result{}, userErrorf("No volume or atoms or surfaces specified")
	}
	center := sum.scale(1 / mass)
	msg := fmt.Sprintf("Center of mass of %d atoms = (%.2f, %.2f, %.2f)", n, center[0], center[1], center[2])
	s.status(msg)
	s.log(levelNote, msg)
	return result{}, nil
}

// elementMasses are standard atomic weights; an element not listed weighs
// as carbon.
var elementMasses = map[string]float64{
	"H": 1.008, "C": 12.011, "N": 14.007, "O": 15.999, "F": 18.998, "Na": 22.990, "Mg": 24.305,
	"P": 30.974, "S": 32.06, "Cl": 35.45, "K": 39.098, "Ca": 40.078, "Mn": 54.938, "Fe": 55.845,
	"Co": 58.933, "Ni": 58.693, "Cu": 63.546, "Zn": 65.38, "Se": 78.971, "Br": 79.904, "I": 126.904,
}

func elementMass(element string) float64 {
	if w, ok := elementMasses[element]; ok {
		return w
	}
	return 12.011
}

// modelAttribute returns a model's Python attribute, for the few the
// simulator knows.
func modelAttribute(m *model, attr string) (any, bool) {
	switch attr {
	case "name":
		return m.name, true
	case "id":
		id := make([]any, len(m.id))
		for i, n := range m.id {
			id[i] = n
		}
		return id, true
	case "id_string":
		return m.idString(), true
	case "atomspec":
		return m.spec(), true
	case "display", "visible":
		return !m.hidden, true
	case "num_atoms", "num_bonds", "num_residues", "num_chains":
		st := m.structure
		if st == nil {
			return nil, false
		}
		return map[string]int{
			"num_atoms": len(st.Atoms), "num_bonds": len(st.Bonds),
			"num_residues": st.numResidues(), "num_chains": len(st.chains()),
		}[attr], true
	}
	return nil, false
}

// attributeString formats an attribute value as "info" does: sequences
// comma-separated, strings with spaces in double quotes.
func attributeString(v any) string {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case bool:
		s = map[bool]string{true: "True", false: "False"}[v]
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = fmt.Sprint(e)
		}
		s = strings.Join(parts, ",")
	default:
		s = fmt.Sprint(v)
	}
	if !strings.ContainsAny(s, " \t") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
