package sim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// commandTable returns the commands the simulator knows as release r has
// them, in registration order, which decides what an abbreviation means ("c"
// is camera, "cl" clip, "clo" close).
func commandTable(r release) *command {
	restStart := []keyword{{"port", intArg}, {"ssl", boolArg}, {"json", boolArg}}
	if r.restLog {
		restStart = append(restStart, keyword{"log", boolArg})
	}
	noop := func(name string) *command {
		return &command{name: name, args: argSpec{any: true}, run: (*simulator).cmdNoop}
	}
	unsupported := func(name string) *command {
		return &command{name: name, args: argSpec{any: true}, run: (*simulator).cmdUnsupported}
	}
	return &command{subs: []*command{
		noop("2dlabels"),
		unsupported("alias"),
		noop("align"),
		noop("camera"),
		noop("cartoon"),
		unsupported("cd"),
		noop("clip"),
		{
			name: "close", args: argSpec{names: []string{"models"}, join: true}, run: (*simulator).cmdClose,
			subs: []*command{{name: "session", run: (*simulator).cmdCloseSession}},
		},
		noop("cofr"),
		noop("color"),
		noop("contacts"),
		unsupported("devel"),
		noop("distance"),
		{name: "exit", run: (*simulator).cmdExit},
		noop("graphics"),
		noop("hbonds"),
		noop("hide"),
		{
			name: "info", args: argSpec{names: []string{"models"}, join: true}, run: (*simulator).cmdInfo,
			subs: []*command{{
				name: "models",
				args: argSpec{names: []string{"atoms"}, join: true, keywords: []keyword{
					{"type", stringArg}, {"attribute", stringArg},
				}},
				run: (*simulator).cmdInfoModels,
			}},
		},
		noop("label"),
		noop("lighting"),
		{
			name: "log", args: argSpec{any: true}, run: (*simulator).cmdNoop,
			subs: []*command{
				noop("clear"),
				noop("hide"),
				{name: "save", args: argSpec{any: true}, run: (*simulator).cmdLogSave},
				{name: "show", run: (*simulator).cmdLogShow},
			},
		},
		noop("matchmaker"),
		noop("material"),
		noop("measure"),
		unsupported("meeting"),
		noop("move"),
		{
			name: "open",
			args: argSpec{names: []string{"names"}, required: 1, repeat: true, keywords: []keyword{
				{"format", stringArg}, {"fromDatabase", stringArg}, {"name", stringArg},
				{"combine", boolArg}, {"ignoreCache", boolArg}, {"coordsets", boolArg},
				{"maxModels", intArg}, {"autoStyle", boolArg},
				{"dataFormat", stringArg}, {"newTab", boolArg}, // web fetch's own keywords
			}},
			run: (*simulator).cmdOpen,
		},
		unsupported("pip"),
		{name: "quit", run: (*simulator).cmdExit},
		noop("rainbow"),
		{name: "remotecontrol", subs: []*command{
			{name: "rest", subs: []*command{
				{
					name: "start",
					args: argSpec{keywords: restStart},
					run:  (*simulator).cmdRESTStart,
				},
				{name: "stop", args: argSpec{keywords: []keyword{{"quiet", boolArg}}}, run: (*simulator).cmdRESTStop},
				{name: "port", run: (*simulator).cmdRESTPort},
			}},
			unsupported("xmlrpc"),
		}},
		unsupported("runscript"),
		{
			name: "save",
			args: argSpec{names: []string{"fileName"}, required: 1, keywords: []keyword{
				{"format", stringArg}, {"width", intArg}, {"height", intArg}, {"supersample", intArg},
				{"pixelSize", floatArg}, {"transparentBackground", boolArg}, {"quality", intArg},
				{"models", stringArg}, {"relModel", stringArg}, {"includeMaps", boolArg},
				{"compress", stringArg}, {"allCoordsets", boolArg}, {"displayedOnly", boolArg},
			}},
			run: (*simulator).cmdSave,
		},
		noop("select"),
		noop("set"),
		unsupported("shell"),
		noop("show"),
		noop("size"),
		noop("style"),
		noop("surface"),
		unsupported("toolshed"),
		noop("transparency"),
		noop("turn"),
		{name: "version", args: argSpec{names: []string{"format"}}, run: (*simulator).cmdVersion},
		noop("view"),
		noop("wait"),
		noop("windowsize"),
		noop("zoom"),
	}}
}

// firstPos is a command's first positional argument (a model spec), or "".
func (c *call) firstPos() string {
	if len(c.pos) > 0 {
		return c.pos[0]
	}
	return ""
}

func (s *simulator) cmdNoop(*call) (result, error) { return result{}, nil }

func (s *simulator) cmdUnsupported(c *call) (result, error) {
	return result{}, userErrorf("%s: not supported by the chimerad simulator", c.name)
}

func (s *simulator) cmdExit(*call) (result, error) {
	s.status("Exiting ...")
	return result{}, errExit
}

func (s *simulator) cmdVersion(c *call) (result, error) {
	format := ""
	if len(c.pos) > 0 {
		for _, f := range []string{"verbose", "bundles", "packages"} {
			if strings.HasPrefix(f, strings.ToLower(c.pos[0])) {
				format = f
				break
			}
		}
		if format == "" {
			return result{}, userErrorf("Invalid \"format\" argument: Should be one of 'bundles', 'packages', or 'verbose'")
		}
	}
	s.logVersion(format)
	return result{}, nil
}

func (s *simulator) cmdLogSave(*call) (result, error) {
	s.log(levelWarning, "no log tool to save")
	return result{}, nil
}

// cmdLogShow fails as ChimeraX's does in nogui mode, where there is no log
// tool to show: with an AttributeError, a bug rather than a UserError.
func (s *simulator) cmdLogShow(*call) (result, error) {
	return result{}, &commandError{class: "AttributeError", msg: "'NoneType' object has no attribute 'show'"}
}

func (s *simulator) cmdOpen(c *call) (result, error) {
	var web, files bool // whether the names include URLs, and other names
	for _, arg := range c.pos {
		_, _, ok := webName(arg, c.str("fromDatabase", ""))
		web, files = web || ok, files || !ok
	}
	if !web {
		// Without a URL these keywords are not open's: ChimeraX takes them
		// for more file names, and finds no such file.
		for _, kw := range []string{"dataFormat", "newTab"} {
			if _, ok := c.kw[kw]; ok {
				return result{}, userErrorf("No such file/path: %s", kw)
			}
		}
	}
	var format *dataFormat
	if name := c.str("format", ""); name != "" && files {
		if format = formatByName(name); format == nil {
			return result{}, userErrorf("Unknown data format: %q", name)
		}
	}
	var opened []*model
	for _, arg := range c.pos {
		var ms []*model
		var err error
		if db, ident, ok := webName(arg, c.str("fromDatabase", "")); ok {
			ms, err = s.openURL(db, ident, c)
		} else {
			ms, err = s.openOne(arg, format, c)
		}
		if err != nil {
			return result{}, err
		}
		opened = append(opened, ms...)
	}
	specs := make([]string, len(opened))
	python := make([]any, len(opened))
	for i, m := range opened {
		specs[i] = m.spec()
		python[i] = modelValue(m.String())
	}
	return result{json: pyJSON(pyObject{{"model specs", specs}}), python: python}, nil
}

// databases are the names open knows for "from" and "db:id"; the simulator
// fetches only from pdb (and URLs: see webfetch.go).
var databases = []string{"pdb", "alphafold", "afdb", "emdb", "eds", "pdbe", "pdbj", "rcsb",
	"uniprot", "pubchem", "smiles", "cod", "esmfold", "redo", "pdbredo", "modbase"}

// openOne opens one name given to open: a file, a session, or a database id.
func (s *simulator) openOne(arg string, format *dataFormat, c *call) ([]*model, error) {
	db, id := c.str("fromDatabase", ""), arg
	if prefix, rest, ok := strings.Cut(arg, ":"); ok && db == "" && slices.Contains(databases, strings.ToLower(prefix)) {
		db, id = prefix, rest
	}
	path := expandPath(arg)
	if db == "" && looksLikePDBID(arg) && !exists(path) {
		db = "pdb"
	}
	if db != "" {
		return s.fetch(db, id, format, c)
	}

	paths := []string{path}
	if strings.ContainsAny(path, "*?[") {
		matches, err := filepath.Glob(path)
		if err != nil || len(matches) == 0 {
			return nil, userErrorf("No such file/path: %s", arg)
		}
		paths = matches
	}
	var opened []*model
	for _, p := range paths {
		ms, err := s.openFile(p, arg, format, c)
		if err != nil {
			return nil, err
		}
		opened = append(opened, ms...)
	}
	return opened, nil
}

// scriptSuffixes are the suffixes of files ChimeraX runs when it opens them.
var scriptSuffixes = []string{".py", ".pyc", ".pyo", ".pyw", ".cxc", ".ipynb"}

// openFile opens a local file; arg is the name as the user gave it.
func (s *simulator) openFile(path, arg string, format *dataFormat, c *call) ([]*model, error) {
	base := filepath.Base(path)
	if format == nil {
		var suffix string
		format, suffix = formatBySuffix(base)
		switch {
		case format != nil:
		case suffix == "" && !exists(path):
			return nil, userErrorf("No such file/path: %s", arg)
		case suffix == "":
			return nil, userErrorf("Cannot determine format for '%s'", arg)
		case slices.Contains(scriptSuffixes, suffix):
			return nil, userErrorf("open: running %s files is not supported by the chimerad simulator", suffix)
		default:
			return nil, userErrorf("Unrecognized file suffix '%s'", suffix)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, userErrorf("No such file/path: %s", arg)
		}
		return nil, userErrorf("Could not open %s: %s", arg, pythonStrerror(err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, userErrorf("Could not open %s: Is a directory", arg)
	}
	if format.parse == nil {
		return s.openSession(f, arg, c.bool("combine", false))
	}
	structures, warnings, err := readStructures(f, format, strings.HasSuffix(strings.ToLower(base), ".gz"))
	if err != nil {
		return nil, s.readError(format, base, err)
	}
	return []*model{s.addOpened(base, structures, warnings, c)}, nil
}

// readError turns a parser's error into the UserError open reports.
func (s *simulator) readError(format *dataFormat, name string, err error) error {
	if errors.Is(err, errNoStructures) {
		return userErrorf("No structures found in %s", name)
	}
	return userErrorf("Error reading %s file %s: %v", format.name, name, err)
}

// addOpened adds what a file held as models, logs its warnings and a summary
// note, and returns the top-level model. The "name" keyword renames it.
func (s *simulator) addOpened(fileName string, structures []*structure, warnings []string, c *call) *model {
	names := modelNames(fileName, structures)
	group := fileName
	if n := c.str("name", ""); n != "" {
		group = n
		if len(names) == 1 {
			names[0] = n
		}
	}
	for _, w := range warnings {
		s.log(levelWarning, w)
	}
	m := s.addStructures(group, structures, names)
	if len(structures) == 1 {
		s.log(levelNote, fmt.Sprintf("Opened %s as %s: %s", m.name, m.spec(), structures[0].summary()))
	} else {
		var atoms, bonds, residues int
		for _, st := range structures {
			atoms, bonds, residues = atoms+len(st.Atoms), bonds+len(st.Bonds), residues+st.numResidues()
		}
		s.log(levelNote, fmt.Sprintf("Opened %s as %s, %d structures (%s.1-%d) with %d atoms, %d bonds, %d residues in all",
			m.name, m.spec(), len(structures), m.spec(), len(structures), atoms, bonds, residues))
	}
	return m
}

// looksLikePDBID reports whether a bare name is a PDB id, which open fetches
// when no file of that name exists: 4 characters starting with a digit, or
// the 8-character extended form.
func looksLikePDBID(name string) bool {
	if (len(name) != 4 && len(name) != 8) || name[0] < '0' || name[0] > '9' {
		return false
	}
	for _, c := range []byte(name) {
		if !isLetter(c) && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// fetch opens a structure from a database. Only the PDB is known, and its
// files come from the CHIMERAX_SIM_FETCH_CACHE directory, never the network.
func (s *simulator) fetch(db, id string, format *dataFormat, c *call) ([]*model, error) {
	if !strings.EqualFold(db, "pdb") {
		return nil, userErrorf("open: fetching from %s is not supported by the chimerad simulator", db)
	}
	if len(id) != 4 && len(id) != 8 {
		return nil, userErrorf("PDB identifiers are either 4 or 8 characters long, got %q", id)
	}
	id = strings.ToLower(id)
	suffixes := []string{".cif", ".pdb"}
	what := "compressed mmCIF"
	switch {
	case format == nil || format.name == "mmCIF":
	case format.name == "PDB":
		suffixes = []string{".pdb", ".cif"}
		what = "PDB"
	default:
		return nil, userErrorf("Format '%s' not supported for database 'pdb'", format.name)
	}
	url := "http://files.rcsb.org/download/" + id + suffixes[0]
	var f *os.File
	if dir := s.knobs.fetchCache; dir != "" {
		for _, suffix := range suffixes {
			var err error
			if f, err = os.Open(filepath.Join(dir, id+suffix)); err == nil {
				break
			}
		}
	}
	if f == nil {
		return nil, userErrorf("Fetching url %s failed:\nHTTP Error 404: Not Found", url)
	}
	defer f.Close()
	fileFormat, _ := formatBySuffix(f.Name())
	structures, warnings, err := readStructures(f, fileFormat, false)
	if err != nil {
		return nil, s.readError(fileFormat, id, err)
	}
	s.log(levelNote, fmt.Sprintf("Summary of feedback from opening %s fetched from pdb\n---\nnotes | Fetching %s %s from %s",
		id, what, id, url))
	return []*model{s.addOpened(id, structures, warnings, c)}, nil
}

func (s *simulator) cmdClose(c *call) (result, error) {
	models, err := s.selectModels(c.firstPos())
	if err != nil {
		return result{}, err
	}
	s.closeModels(models)
	return result{}, nil
}

func (s *simulator) cmdCloseSession(*call) (result, error) {
	s.models = nil
	return result{}, nil
}

// cmdInfo reports models as ChimeraX's "info" does: as JSON when the REST
// server asks for it, and otherwise as one note.
func (s *simulator) cmdInfo(c *call) (result, error) {
	models, err := s.selectModels(c.firstPos())
	if err != nil {
		return result{}, err
	}
	if c.json {
		infos := make([]any, len(models))
		for i, m := range models {
			info := pyObject{
				{"spec", m.spec()}, {"name", m.name}, {"shown", true},
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
		line := fmt.Sprintf("#%s, %s, shown", m.idString(), m.name)
		if m.structure != nil {
			line += "\n" + m.structure.summary()
		}
		lines = append(lines, line)
	}
	s.log(levelNote, strings.Join(lines, "\n"))
	return result{}, nil
}

// cmdInfoModels reports one attribute of each model, a note per model, and
// as JSON when the REST server asks for it.
func (s *simulator) cmdInfoModels(c *call) (result, error) {
	models, err := s.selectModels(c.firstPos())
	if err != nil {
		return result{}, err
	}
	typ := c.str("type", "")
	attr := c.str("attribute", "name")
	var infos []any
	for _, m := range models {
		if typ != "" && !strings.EqualFold(typ, m.class()) {
			continue
		}
		value, present := modelAttribute(m, attr)
		text := "[undefined]"
		if present {
			text = attributeString(value)
		}
		s.log(levelNote, fmt.Sprintf("model id %s type %s %s %s", m.spec(), m.class(), attr, text))
		infos = append(infos, pyObject{
			{"spec", m.spec()}, {"class", m.class()}, {"attribute", attr},
			{"present", present}, {"value", value},
		})
	}
	if !c.json {
		return result{}, nil
	}
	if infos == nil {
		infos = []any{}
	}
	return result{json: pyJSON(infos)}, nil
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
		return true, true
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

// saveFormats are the suffixes save writes, by format name.
var saveFormats = map[string]string{
	"png": ".png", "jpeg": ".jpg", "jpg": ".jpg", "pdb": ".pdb", "session": ".cxs", "cxs": ".cxs",
}

// cmdSave saves an image (.png, .jpg), a PDB file or a session (.cxs), by
// the format keyword or else the file's suffix.
func (s *simulator) cmdSave(c *call) (result, error) {
	arg := c.pos[0]
	path := expandPath(arg)
	suffix := strings.ToLower(filepath.Ext(path))
	if name := c.str("format", ""); name != "" {
		var ok bool
		if suffix, ok = saveFormats[strings.ToLower(name)]; !ok {
			return result{}, userErrorf("Unknown data format: %q", name)
		}
	}
	if suffix == ".jpeg" {
		suffix = ".jpg"
	}
	if !slices.Contains([]string{".png", ".jpg", ".pdb", ".cxs"}, suffix) {
		if suffix == "" {
			return result{}, userErrorf("Cannot determine format for '%s'", arg)
		}
		return result{}, userErrorf("Unrecognized file suffix '%s'", suffix)
	}
	if dir := filepath.Dir(path); !isDir(dir) {
		return result{}, userErrorf("Directory \"%s\" does not exist", dir)
	}
	var err error
	switch suffix {
	case ".png", ".jpg":
		err = s.saveImage(path, suffix, c)
	case ".pdb":
		err = s.savePDB(path, c)
	case ".cxs":
		err = s.saveSession(path, c.str("compress", "gzip") != "none")
	}
	return result{}, err
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// expandPath expands a leading "~" and environment variables, as ChimeraX
// does for file names.
func expandPath(p string) string {
	p = os.Expand(p, func(name string) string {
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		return "$" + name // Python's expandvars leaves unknown variables alone
	})
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home := os.Getenv("HOME"); home != "" {
			p = home + p[1:]
		}
	}
	return p
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
