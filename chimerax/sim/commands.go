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
	restStart := []param{{name: "port", typ: intArg{}}, {name: "ssl", typ: boolArg{}}, {name: "json", typ: boolArg{}}}
	if r.restLog {
		restStart = append(restStart, param{name: "log", typ: boolArg{}})
	}
	noop := func(name string) *command {
		return &command{name: name, args: argSpec{any: true}, run: (*simulator).cmdNoop}
	}
	unsupported := func(name string) *command {
		return &command{name: name, args: argSpec{any: true}, run: (*simulator).cmdUnsupported}
	}
	// Arguments: p(name, type) is a parameter; opt(...) a list of them.
	p := func(name string, t argType) param { return param{name: name, typ: t} }
	opt := func(ps ...param) []param { return ps }
	var (
		str, integer, number, boolean = stringArg{}, intArg{}, floatArg{}, boolArg{}
		positive                      = floatArg{positive: true}
		one                           = 1
		count                         = intArg{min: &one}
		motion                        = opt(p("center", str), p("coordinateSystem", str), p("rock", count),
			p("wobble", count), p("wobbleAspect", number), p("models", modelsArg), p("atoms", atomsArg))
	)
	return &command{subs: []*command{
		noop("2dlabels"),
		unsupported("alias"),
		noop("align"),
		noop("camera"),
		{
			name: "cartoon", run: (*simulator).cmdCartoon,
			args: argSpec{pos: opt(p("atoms", atomsArg)), keywords: opt(p("smooth", str), p("suppressBackboneDisplay", boolean))},
			subs: []*command{
				{name: "hide", run: (*simulator).cmdCartoonHide, args: argSpec{pos: opt(p("atoms", atomsArg))}},
				noop("style"),
				noop("tether"),
			},
		},
		unsupported("cd"),
		noop("clip"),
		{
			name: "close", args: argSpec{pos: opt(p("models", modelsArg))}, run: (*simulator).cmdClose,
			subs: []*command{{name: "session", run: (*simulator).cmdCloseSession}},
		},
		noop("cofr"),
		{
			name: "color", run: (*simulator).cmdColor,
			args: argSpec{
				pos:      opt(p("objects", objectsArg), p("color", colorArg{schemes: true}), p("what", listArg{colorWhat})),
				required: 1,
				keywords: opt(p("target", str), p("transparency", number), p("halfbond", boolean)),
			},
		},
		noop("contacts"),
		unsupported("devel"),
		noop("distance"),
		{name: "exit", run: (*simulator).cmdExit},
		noop("graphics"),
		noop("hbonds"),
		{
			name: "hide", run: (*simulator).cmdHide,
			args: argSpec{pos: opt(p("objects", objectsArg), p("what", listArg{showWhat})), keywords: opt(p("target", str))},
		},
		{
			name: "info", args: argSpec{pos: opt(p("models", modelsArg))}, run: (*simulator).cmdInfo,
			subs: []*command{
				{
					name: "models", run: (*simulator).cmdInfoModels,
					args: argSpec{pos: opt(p("atoms", atomsArg)), keywords: opt(p("type", str), p("attribute", str))},
				},
				{
					name: "chains", run: (*simulator).cmdInfoChains,
					args: argSpec{pos: opt(p("atoms", atomsArg)), keywords: opt(p("attribute", str))},
				},
				{
					name: "residues", run: (*simulator).cmdInfoResidues,
					args: argSpec{pos: opt(p("atoms", atomsArg)), keywords: opt(p("attribute", str))},
				},
			},
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
		{
			name: "measure", args: argSpec{any: true}, run: (*simulator).cmdNoop,
			subs: []*command{{
				name: "center", run: (*simulator).cmdMeasureCenter,
				args: argSpec{
					pos: opt(p("objects", specArg{what: "an objects specifier"})), required: 1,
					keywords: opt(p("level", number), p("mark", boolean), p("color", colorArg{}), p("radius", number),
						p("name", str), p("modelId", str)),
				},
			}},
		},
		unsupported("meeting"),
		{
			name: "move", run: (*simulator).cmdMove,
			args: argSpec{pos: opt(p("axis", axisArg{}), p("distance", number), p("frames", count)), required: 1, keywords: motion},
		},
		{
			name: "open",
			args: argSpec{
				pos: []param{{name: "names", typ: str, repeat: true}}, required: 1,
				keywords: opt(p("format", str), p("fromDatabase", str), p("name", str),
					p("combine", boolean), p("ignoreCache", boolean), p("coordsets", boolean),
					p("maxModels", integer), p("autoStyle", boolean),
					p("dataFormat", str), p("newTab", boolean)), // web fetch's own keywords
			},
			run: (*simulator).cmdOpen,
		},
		unsupported("pip"),
		{name: "quit", run: (*simulator).cmdExit},
		noop("rainbow"),
		{name: "remotecontrol", subs: []*command{
			{name: "rest", subs: []*command{
				{name: "start", args: argSpec{keywords: restStart}, run: (*simulator).cmdRESTStart},
				{name: "stop", args: argSpec{keywords: opt(p("quiet", boolean))}, run: (*simulator).cmdRESTStop},
				{name: "port", run: (*simulator).cmdRESTPort},
			}},
			unsupported("xmlrpc"),
		}},
		{
			name: "roll", run: (*simulator).cmdRoll,
			args: argSpec{pos: opt(p("axis", axisArg{}), p("angle", number), p("frames", framesArg{})), keywords: motion},
		},
		unsupported("runscript"),
		{
			name: "save",
			args: argSpec{
				pos: opt(p("fileName", str)), required: 1,
				keywords: opt(p("format", str), p("width", integer), p("height", integer), p("supersample", integer),
					p("pixelSize", number), p("transparentBackground", boolean), p("quality", integer),
					p("models", modelsArg), p("relModel", str), p("includeMaps", boolean),
					p("compress", str), p("allCoordsets", boolean), p("displayedOnly", boolean)),
			},
			run: (*simulator).cmdSave,
		},
		noop("select"),
		{
			name: "set", run: (*simulator).cmdSet,
			args: argSpec{keywords: opt(p("bgColor", colorArg{}), p("silhouettes", boolean), p("silhouetteWidth", number),
				p("silhouetteColor", colorArg{}), p("silhouetteDepthJump", number), p("selectionColor", colorArg{}),
				p("selectionWidth", number), p("subdivision", number), p("maxFrameRate", number))},
		},
		unsupported("shell"),
		{
			name: "show", run: (*simulator).cmdShow,
			args: argSpec{pos: opt(p("objects", objectsArg), p("what", listArg{showWhat})),
				keywords: opt(p("target", str), p("only", noArg{}))},
		},
		noop("size"),
		{
			name: "style", run: (*simulator).cmdStyle,
			args: argSpec{pos: opt(p("objects", objectsArg), p("atomStyle", enumArg{"sphere", "ball", "stick"})), required: 1,
				keywords: opt(p("dashes", integer), p("ringFill", enumArg{"on", "off", "thick", "thin"}))},
		},
		{
			name: "surface", run: (*simulator).cmdSurface,
			args: argSpec{pos: opt(p("atoms", atomsArg)), keywords: opt(p("enclose", atomsArg),
				p("include", atomsArg), p("probeRadius", positive), p("gridSpacing", positive), p("resolution", number),
				p("level", number), p("color", colorArg{}), p("transparency", number), p("visiblePatches", count),
				p("sharpBoundaries", boolean), p("nthread", count), p("replace", boolean), p("update", boolean))},
			subs: []*command{
				{name: "hide", run: (*simulator).cmdSurfaceHide, args: argSpec{pos: opt(p("atoms", atomsArg))}},
				{name: "close", run: (*simulator).cmdSurfaceHide, args: argSpec{pos: opt(p("atoms", atomsArg))}},
			},
		},
		unsupported("toolshed"),
		{
			name: "transparency", run: (*simulator).cmdTransparency,
			args: argSpec{
				pos:      opt(p("objects", objectsArg), p("percent", number), p("what", listArg{colorWhat})),
				required: 2, keywords: opt(p("target", str)),
			},
		},
		{
			name: "turn", run: (*simulator).cmdTurn,
			args: argSpec{pos: opt(p("axis", axisArg{}), p("angle", number), p("frames", framesArg{})), keywords: motion},
		},
		{name: "version", args: argSpec{pos: opt(p("format", str))}, run: (*simulator).cmdVersion},
		{
			name: "view", run: (*simulator).cmdView,
			args: argSpec{pos: opt(p("objects", specArg{what: "an objects specifier"}), p("frames", count)),
				keywords: opt(p("clip", boolean), p("cofr", boolean), p("orient", noArg{}), p("pad", number),
					p("zalign", objectsArg), p("inFrontOf", atomsArg))},
		},
		noop("wait"),
		noop("windowsize"),
		{
			name: "zoom", run: (*simulator).cmdZoom,
			args: argSpec{pos: opt(p("factor", positive), p("frames", count)), keywords: opt(p("pixelSize", positive))},
		},
	}}
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
	if arg, ok := c.args["format"].(string); ok {
		for _, f := range []string{"verbose", "bundles", "packages"} {
			if strings.HasPrefix(f, strings.ToLower(arg)) {
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
	names := c.strings("names")
	for _, arg := range names {
		_, _, ok := webName(arg, c.str("fromDatabase", ""))
		web, files = web || ok, files || !ok
	}
	if !web {
		// Without a URL these keywords are not open's: ChimeraX takes them
		// for more file names, and finds no such file.
		for _, kw := range []string{"dataFormat", "newTab"} {
			if c.has(kw) {
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
	for _, arg := range names {
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
	s.placeCamera()
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

// cmdClose closes the models named, and their submodels.
func (s *simulator) cmdClose(c *call) (result, error) {
	sel, err := s.evaluate(c.spec("models"))
	if err != nil {
		return result{}, err
	}
	s.closeModels(sel.modelList(s.models))
	return result{}, nil
}

// cmdCloseSession closes every model and resets the scene.
func (s *simulator) cmdCloseSession(*call) (result, error) {
	s.models = nil
	s.scene = newScene()
	return result{}, nil
}

// saveFormats are the suffixes save writes, by format name.
var saveFormats = map[string]string{
	"png": ".png", "jpeg": ".jpg", "jpg": ".jpg", "pdb": ".pdb", "session": ".cxs", "cxs": ".cxs",
}

// cmdSave saves an image (.png, .jpg), a PDB file or a session (.cxs), by
// the format keyword or else the file's suffix.
func (s *simulator) cmdSave(c *call) (result, error) {
	arg := c.str("fileName", "")
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
