package sim

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// parseMMCIF reads the _atom_site table of the first data block of an mmCIF
// file, one structure per pdbx_PDB_model_num. Like ChimeraX it prefers the
// author's chain ids, residue numbers and names, merges alternate locations,
// and connects atoms by distance.
func parseMMCIF(r io.Reader) ([]*structure, []string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	table, err := cifAtomSite(string(data))
	if err != nil {
		return nil, nil, err
	}
	if table == nil || len(table.rows) == 0 {
		return nil, nil, errNoStructures
	}
	col := func(names ...string) int {
		for _, n := range names {
			for i, t := range table.tags {
				if strings.EqualFold(t, "_atom_site."+n) {
					return i
				}
			}
		}
		return -1
	}
	var (
		cx, cy, cz = col("Cartn_x"), col("Cartn_y"), col("Cartn_z")
		cGroup     = col("group_PDB")
		cElement   = col("type_symbol")
		cName      = col("auth_atom_id", "label_atom_id")
		cAlt       = col("label_alt_id")
		cResName   = col("auth_comp_id", "label_comp_id")
		cChain     = col("auth_asym_id", "label_asym_id")
		cSeq       = col("auth_seq_id", "label_seq_id")
		cLabelSeq  = col("label_seq_id")
		cICode     = col("pdbx_PDB_ins_code")
		cModel     = col("pdbx_PDB_model_num")
	)
	if cx < 0 || cy < 0 || cz < 0 {
		return nil, nil, errors.New("_atom_site has no Cartn_x, Cartn_y and Cartn_z")
	}
	get := func(row []cifValue, c int) string {
		if c < 0 || row[c].missing() {
			return ""
		}
		return row[c].text
	}
	var (
		structures []*structure
		byModel    = map[string]*structure{}
		seen       = map[string]bool{}
		warnings   []string
	)
	for n, row := range table.rows {
		x, okx := parseCoord(get(row, cx))
		y, oky := parseCoord(get(row, cy))
		z, okz := parseCoord(get(row, cz))
		if !okx || !oky || !okz {
			if len(warnings) < 5 {
				warnings = append(warnings, fmt.Sprintf("Ignored atom_site row %d with bad coordinates", n+1))
			}
			continue
		}
		a := atom{
			Name:    get(row, cName),
			Element: normalizeElement(get(row, cElement)),
			ResName: get(row, cResName),
			Chain:   get(row, cChain),
			ICode:   get(row, cICode),
			X:       x, Y: y, Z: z,
		}
		if cGroup >= 0 {
			a.Het = get(row, cGroup) == "HETATM"
		} else {
			a.Het = get(row, cLabelSeq) == "" // no polymer sequence position
		}
		a.ResSeq, _ = strconv.Atoi(get(row, cSeq))
		if a.Element == "" {
			a.Element = elementFromAtomName(fmt.Sprintf("%-4s", " "+a.Name))
		}
		model := get(row, cModel)
		if alt := get(row, cAlt); alt != "" {
			key := fmt.Sprintf("%s|%s|%d|%s|%s|%s", model, a.Chain, a.ResSeq, a.ICode, a.ResName, a.Name)
			if seen[key] {
				continue
			}
			seen[key] = true
		}
		st := byModel[model]
		if st == nil {
			st = &structure{}
			byModel[model] = st
			structures = append(structures, st)
		}
		st.Atoms = append(st.Atoms, a)
	}
	if len(structures) == 0 {
		return nil, nil, errNoStructures
	}
	for _, st := range structures {
		st.connect()
	}
	return structures, warnings, nil
}

// cifValue is a CIF data value; "?" (unknown) and "." (not applicable) are
// missing unless quoted.
type cifValue struct {
	text   string
	quoted bool
}

func (v cifValue) missing() bool { return !v.quoted && (v.text == "?" || v.text == ".") }

// cifTable is a category's tags and rows.
type cifTable struct {
	tags []string
	rows [][]cifValue
}

// cifAtomSite finds the _atom_site category of the first data block, as a
// loop or as single items (a one-atom file). It returns nil if there is none.
func cifAtomSite(text string) (*cifTable, error) {
	tok := cifTokenizer{text: text}
	var single *cifTable // _atom_site given as tag-value pairs
	blocks := 0
	for {
		t, err := tok.next()
		if err != nil {
			return nil, err
		}
		if t == nil {
			return single, nil
		}
		word := strings.ToLower(t.text)
		switch {
		case t.quoted:
			return nil, fmt.Errorf("line %d: value %q without a tag", tok.line, t.text)
		case strings.HasPrefix(word, "data_"):
			blocks++
			if blocks > 1 {
				return single, nil
			}
		case word == "loop_":
			table, err := tok.loop()
			if err != nil {
				return nil, err
			}
			if len(table.tags) > 0 && isAtomSiteTag(table.tags[0]) {
				return table, nil
			}
		case strings.HasPrefix(word, "_"):
			v, err := tok.next()
			if err != nil {
				return nil, err
			}
			if v == nil || (!v.quoted && isCIFKeyword(v.text)) {
				return nil, fmt.Errorf("line %d: tag %s has no value", tok.line, t.text)
			}
			if isAtomSiteTag(t.text) {
				if single == nil {
					single = &cifTable{rows: [][]cifValue{nil}}
				}
				single.tags = append(single.tags, t.text)
				single.rows[0] = append(single.rows[0], *v)
			}
		case strings.HasPrefix(word, "save_"), word == "global_", word == "stop_":
		default:
			return nil, fmt.Errorf("line %d: value %q without a tag", tok.line, t.text)
		}
	}
}

func isAtomSiteTag(tag string) bool {
	return strings.HasPrefix(strings.ToLower(tag), "_atom_site.")
}

// isCIFKeyword reports whether an unquoted token is a tag or reserved word.
func isCIFKeyword(s string) bool {
	w := strings.ToLower(s)
	return strings.HasPrefix(w, "_") || strings.HasPrefix(w, "data_") || strings.HasPrefix(w, "save_") ||
		w == "loop_" || w == "global_" || w == "stop_"
}

// cifTokenizer splits CIF text into tokens: bare words, 'quoted' and
// "quoted" strings (closed by a quote followed by whitespace), and text fields
// between lines starting with ";". Comments run from "#" to the end of line.
type cifTokenizer struct {
	text    string
	pos     int
	line    int
	pending *cifValue // a token read ahead by loop
}

// next returns the next token, or nil at the end of the text.
func (t *cifTokenizer) next() (*cifValue, error) {
	if p := t.pending; p != nil {
		t.pending = nil
		return p, nil
	}
	if t.line == 0 {
		t.line = 1
	}
	s := t.text
	for t.pos < len(s) {
		c := s[t.pos]
		atLineStart := t.pos == 0 || s[t.pos-1] == '\n'
		switch {
		case c == '\n':
			t.line++
			t.pos++
		case c == ' ' || c == '\t' || c == '\r':
			t.pos++
		case c == '#':
			for t.pos < len(s) && s[t.pos] != '\n' {
				t.pos++
			}
		case c == ';' && atLineStart:
			start := t.pos + 1
			end := strings.Index(s[start:], "\n;")
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated text field", t.line)
			}
			value := s[start : start+end]
			t.line += strings.Count(value, "\n") + 1
			t.pos = start + end + 2
			return &cifValue{text: strings.TrimSuffix(value, "\r"), quoted: true}, nil
		case c == '\'' || c == '"':
			for i := t.pos + 1; i < len(s) && s[i] != '\n'; i++ {
				if s[i] == c && (i+1 == len(s) || isSpace(s[i+1])) {
					v := &cifValue{text: s[t.pos+1 : i], quoted: true}
					t.pos = i + 1
					return v, nil
				}
			}
			return nil, fmt.Errorf("line %d: unterminated quoted string", t.line)
		default:
			start := t.pos
			for t.pos < len(s) && !isSpace(s[t.pos]) {
				t.pos++
			}
			return &cifValue{text: s[start:t.pos]}, nil
		}
	}
	return nil, nil
}

// loop reads a loop's tags and values, after "loop_".
func (t *cifTokenizer) loop() (*cifTable, error) {
	table := &cifTable{}
	var values []cifValue
	for {
		v, err := t.next()
		if err != nil {
			return nil, err
		}
		if v == nil {
			break
		}
		if !v.quoted && isCIFKeyword(v.text) {
			if strings.HasPrefix(v.text, "_") && len(values) == 0 {
				table.tags = append(table.tags, v.text)
				continue
			}
			t.pending = v
			break
		}
		if len(table.tags) == 0 {
			return nil, fmt.Errorf("line %d: loop_ without tags", t.line)
		}
		values = append(values, *v)
	}
	if len(table.tags) == 0 {
		return nil, fmt.Errorf("line %d: empty loop_", t.line)
	}
	if len(values)%len(table.tags) != 0 {
		return nil, fmt.Errorf("line %d: loop of %s has %d values, not a multiple of its %d tags",
			t.line, table.tags[0], len(values), len(table.tags))
	}
	for i := 0; i < len(values); i += len(table.tags) {
		table.rows = append(table.rows, values[i:i+len(table.tags)])
	}
	return table, nil
}
