package chimerax

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrRefused: the policy refused a command line. The wrapped text names the
// refused command and why; it quotes only the client's own text, so it is safe
// to show to the client.
var ErrRefused = errors.New("chimerax: command refused")

// Policy decides which ChimeraX command lines a session's owner may run.
//
// Check reads a line the way ChimeraX's command parser does
// (core/commands/cli.py), but more strictly: whatever ChimeraX would read
// differently, or differently between versions, is refused rather than
// guessed at. The rules:
//
//   - Commands are separated by ';' outside quoted text; empty commands are
//     dropped. Tokens are separated by spaces, tabs, CR and LF. ChimeraX's
//     REST server reads a line break as a space, so "view\nrunscript x" is
//     one command there but two to a reader expecting script lines: a line
//     break between two tokens of one command is refused as ambiguous. Line
//     breaks next to ';' or at either end of the line are fine.
//   - A token starting with a double or single quote runs to the next quote
//     of the same kind, which must be followed by whitespace or the end of
//     the line. Refused as malformed: an unbalanced quote; a closing quote
//     directly followed by ';' (ChimeraX releases disagree on where that
//     token ends) or by any other character; a quote inside an unquoted
//     word; a line break inside quotes.
//   - A command whose first character is '#' is a comment running to the end
//     of the whole line, across ';' and newlines, as in ChimeraX. It and
//     everything after it are dropped from the result, so none of it is sent.
//   - Refused anywhere in the line: control characters other than tab, LF and
//     CR (NUL included); backslashes (ChimeraX expands Python escapes such as
//     \x3b in quoted text); non-ASCII spaces and invisible format characters
//     (ChimeraX's Python tokenizer splits words on Unicode spaces); invalid
//     UTF-8; lines over 64 KiB.
//   - The first word of each command must be on Allow exactly: ChimeraX
//     command names are lowercase and case-sensitive, so "VIEW" is not
//     "view". A word that abbreviates a never-allowed command or one of the
//     commands whose arguments Check parses itself (open, save, info) is
//     refused even if listed, because ChimeraX completes prefixes ("runs"
//     runs runscript). Words in neverAllow are refused whatever Allow says.
//   - Arguments of every command may not contain "__" (Python attribute
//     names), '{' or '}' (Python format fields), or mix '_' with non-ASCII
//     letters (ChimeraX capitalizes after '_' with Unicode rules when it
//     matches keywords). Outside open and save, no argument may abbreviate
//     the saveFile keyword (s, sav, save_f, saveFile...: info, hbonds and
//     contacts write files with it, distance save likewise).
//   - info may not be followed by an abbreviation of notify (network
//     callbacks); color may not be followed by an abbreviation of image (reads
//     an image file); label arguments may not abbreviate font (a font file
//     path).
//   - open takes exactly one source and the keywords format, name, from and
//     fromDatabase, spelled in full. The source is a PDB id (1abc, 8-character
//     00001abc, pdb_00001abc, each optionally as pdb:ID) or a file (see
//     below). PDB opens are rewritten to
//     "open ID from pdb", so ChimeraX never looks for a local file of that
//     name. format is pdb or mmcif for ids, and must match the suffix for files.
//   - save takes exactly one file with suffix .png, .jpg, .cxs, .pdb or .cif,
//     and the keywords width and height (1 to 4096), supersample (1 to 4),
//     transparentBackground (true or false), all for images only, and format
//     (png, jpeg, session, pdb or mmcif, matching the suffix).
//
// Files for open and save are checked without touching the file system: no
// '~' or '$' (ChimeraX expands both), no wildcards (open expands them), no
// ':' (URLs and database prefixes), no ".." and no hidden names; relative
// names are taken relative to the session directory; after filepath.Clean
// the path must lie inside it. open takes .pdb, .ent, .cif, .mmcif, .sdf,
// .mol and .mol2, each optionally .gz, and .cxs session files; the command
// sent names the cleaned absolute path. Symbolic links are not resolved:
// chimerad creates none in session directories, and nothing else may.
//
// Session files (.cxs) are allowed because in a session directory they are
// ChimeraX's own output (chimerad's checkpoints, or save); opening an
// untrusted .cxs is a risk (PROTOCOL.md §4), so no other way of putting
// files into a session directory may accept that suffix.
type Policy struct {
	// Allow lists the command words that may start a command, in full: each
	// must be a whole, registered ChimeraX command name, because ChimeraX
	// completes any word it does not know to the first registered command
	// it prefixes. Multi-word names are not supported. Words in neverAllow
	// stay refused even when listed. A nil Allow allows nothing.
	Allow []string
}

// DefaultAllow is the default allow-list (commands.allow): commands that
// change or report what is displayed, plus open and save under Check's
// stricter grammar.
var DefaultAllow = []string{
	"view", "color", "style", "cartoon", "show", "hide", "select", "label",
	"surface", "lighting", "material", "graphics", "camera", "turn", "move",
	"zoom", "clip", "measure", "info", "close", "open", "save",
	"transparency", "set", "distance", "hbonds", "contacts", "align",
	"matchmaker",
}

// neverAllow are the commands refused even when on an allow-list, with the
// reason. Each runs code, reaches the network or host files, or ends or
// reconfigures the process.
var neverAllow = map[string]string{
	"alias":         "defines commands, and aliases outlive close session",
	"alphafold":     "fetches from and runs on network services",
	"blastprotein":  "queries network services",
	"boltz":         "installs and runs external code",
	"buttonpanel":   "binds commands",
	"cd":            "changes the working directory",
	"debug":         "developer tooling",
	"devel":         "builds and installs bundles",
	"esmfold":       "queries network services",
	"exit":          "ends the process",
	"functionkey":   "binds commands",
	"help":          "opens URLs and files in a browser",
	"log":           "log save writes files, and log show crashes nogui ChimeraX",
	"meeting":       "starts a network server",
	"modeller":      "runs network and external jobs",
	"movie":         "writes files and runs an encoder",
	"openfold":      "installs and runs external code",
	"perframe":      "runs arbitrary commands later",
	"pip":           "installs Python packages",
	"python":        "runs Python",
	"quit":          "ends the process",
	"remotecontrol": "starts and stops network servers",
	"runscript":     "runs Python and command scripts",
	"shell":         "runs Python",
	"snapshot":      "writes files",
	"stop":          "ends the program in UCSF Chimera, so kept out",
	"system":        "runs host commands",
	"toolshed":      "installs bundles",
	"ui":            "starts tools such as the Python shell",
	"vseries":       "writes files",
	"webcapture":    "fetches URLs",
}

// neverAllowWords are neverAllow's keys in order, for deterministic errors.
var neverAllowWords = slices.Sorted(maps.Keys(neverAllow))

// guardedWords are allowed commands whose arguments Check parses itself; a
// word that abbreviates one would reach it unchecked.
var guardedWords = []string{"info", "open", "save"}

// knownCommands are whole registered ChimeraX command names (DefaultAllow
// as declared), exempt from the abbreviation rule: "open" is a registered
// command of its own, not an abbreviation of openfold.
var knownCommands = slices.Clone(DefaultAllow)

// maxCommandLine bounds a command line, as ChimeraX's REST request line is
// bounded.
const maxCommandLine = 64 << 10

// Image limits for save.
const (
	maxImageSide   = 4096
	maxSupersample = 4
)

// Check tokenizes line with ChimeraX's rules, splits it into commands and
// returns the commands, each as its normalized text, if every one is
// allowed; otherwise an error wrapping ErrRefused that names the refused
// command and why. sessionDir is the absolute directory the session may
// read and write; a sessionDir that is not absolute, clean and plain is a
// caller's error, returned without ErrRefused.
//
// Normalized text is the command's tokens joined by single spaces, each
// quoted as it was, except that open and save are rewritten to their
// canonical form (absolute paths, "ID from pdb"). A line holding no command
// (empty, only ';' or a comment) gives an empty result. The caller must send
// exactly the returned commands, never line itself: either one `command`
// parameter each, or joined with " ; " (a space on each side).
func (p Policy) Check(line, sessionDir string) ([]string, error) {
	if reason := sessionDirReason(sessionDir); reason != "" {
		return nil, fmt.Errorf("chimerax: policy: session directory %q %s", elide(sessionDir, 200), reason)
	}
	cmds, err := cliTokenize(line)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	out := make([]string, 0, len(cmds))
	for _, cmd := range cmds {
		text, reason := p.checkCommand(cmd, sessionDir)
		if reason != "" {
			return nil, fmt.Errorf("%w: %q: %s", ErrRefused, elide(cliJoin(cmd), 80), reason)
		}
		out = append(out, text)
	}
	return out, nil
}

// Validate reports Allow entries that Check would never honour: names that
// are not plain lowercase words, never-allowed commands, and abbreviations of
// never-allowed or guarded commands.
func (p Policy) Validate() error {
	var errs []error
	for _, w := range p.Allow {
		if reason := commandWordReason(w); reason != "" {
			errs = append(errs, fmt.Errorf("chimerax: policy: allow %q: %s", elide(w, 40), reason))
		}
	}
	return errors.Join(errs...)
}

// checkCommand checks one tokenized command and returns its normalized text,
// or the reason it is refused.
func (p Policy) checkCommand(cmd []cliToken, dir string) (text, reason string) {
	word := cmd[0].text
	if reason := commandWordReason(word); reason != "" {
		return "", reason
	}
	if !slices.Contains(p.Allow, word) {
		return "", fmt.Sprintf("%q is not on the allow-list (command names are exact and case-sensitive)", elide(word, 40))
	}
	args := cmd[1:]
	for _, a := range args {
		if reason := argReason(a.text); reason != "" {
			return "", reason
		}
	}
	switch word {
	case "open":
		return checkOpen(args, dir)
	case "save":
		return checkSave(args, dir)
	}
	for _, a := range args {
		if abbreviates(a.text, "savefile") {
			return "", fmt.Sprintf("argument %q abbreviates saveFile, which writes a file", elide(a.text, 40))
		}
	}
	switch {
	case word == "info" && len(args) > 0 && abbreviates(args[0].text, "notify"):
		return "", "info notify calls back to network addresses"
	case word == "color" && len(args) > 0 && abbreviates(args[0].text, "image"):
		return "", "color image reads a host file"
	case word == "label":
		for _, a := range args {
			if abbreviates(a.text, "font") {
				return "", fmt.Sprintf("argument %q abbreviates font, which names a host file", elide(a.text, 40))
			}
		}
	}
	// The word passed isCommandWord: write it bare even if it was quoted.
	return cliJoin(slices.Concat([]cliToken{{text: word}}, args)), ""
}

// commandWordReason says why word may never start a command whatever the
// allow-list says, or returns "".
func commandWordReason(word string) string {
	if word == "" {
		return "empty command name"
	}
	lower := strings.ToLower(word)
	if why, ok := neverAllow[lower]; ok {
		return fmt.Sprintf("%s is never allowed: %s", lower, why)
	}
	if !slices.Contains(knownCommands, word) {
		// Case-sensitive, as ChimeraX's completion is.
		for _, w := range slices.Concat(neverAllowWords, guardedWords) {
			if w != word && strings.HasPrefix(w, word) {
				return fmt.Sprintf("%q abbreviates %s; ChimeraX completes command prefixes, so only full names are allowed", elide(word, 40), w)
			}
		}
	}
	if !isCommandWord(word) {
		return fmt.Sprintf("%q is not a lowercase ChimeraX command name", elide(word, 40))
	}
	return ""
}

// isCommandWord reports whether w looks like a whole ChimeraX command name:
// lowercase letters and digits, optionally after '~' (~select).
func isCommandWord(w string) bool {
	w = strings.TrimPrefix(w, "~")
	if w == "" {
		return false
	}
	for _, c := range []byte(w) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// argReason says why an argument of any command is refused, or returns "".
func argReason(a string) string {
	switch {
	case strings.Contains(a, "__"):
		return fmt.Sprintf("argument %q has __, which reaches Python internals", elide(a, 40))
	case strings.ContainsAny(a, "{}"):
		return fmt.Sprintf("argument %q has { or }, which ChimeraX may expand as a Python format field", elide(a, 40))
	case strings.Contains(a, "_") && !isASCII(a):
		return fmt.Sprintf("argument %q mixes _ with non-ASCII letters, which ChimeraX's keyword matching may fold", elide(a, 40))
	}
	return ""
}

// abbreviates reports whether token could name keyword (lowercase, no
// underscores) in ChimeraX, which elides underscores, matches prefixes and
// partly ignores case. It errs towards yes.
func abbreviates(token, keyword string) bool {
	f := strings.ToLower(strings.ReplaceAll(token, "_", ""))
	return f != "" && strings.HasPrefix(keyword, f)
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// openSuffixes maps the suffixes open accepts to their format names.
var openSuffixes = map[string]string{
	".pdb": "pdb", ".ent": "pdb",
	".cif": "mmcif", ".mmcif": "mmcif",
	".sdf": "sdf", ".mol": "sdf",
	".mol2": "mol2",
	".cxs":  "session",
}

// saveSuffixes maps the suffixes save accepts to their format names.
var saveSuffixes = map[string]string{
	".png": "png", ".jpg": "jpeg",
	".cxs": "session",
	".pdb": "pdb", ".cif": "mmcif",
}

// checkOpen checks open's arguments (see Policy) and returns the canonical
// command.
func checkOpen(args []cliToken, dir string) (text, reason string) {
	if len(args) == 0 {
		return "", "open needs a PDB id or a file in the session directory"
	}
	kvs, reason := keyValues(args[1:], map[string]string{
		"format": "format", "name": "name", "from": "from", "fromDatabase": "from",
	})
	if reason != "" {
		return "", reason
	}
	src := args[0].text
	rest, prefixed := strings.CutPrefix(src, "pdb:")
	if id, ok := pdbSourceID(rest); ok {
		out := []string{"open", id, "from", "pdb"}
		for _, kv := range kvs {
			switch kv.key {
			case "from":
				if kv.val.text != "pdb" {
					return "", fmt.Sprintf("open from %q: only pdb is allowed", elide(kv.val.text, 40))
				}
				continue
			case "format":
				if f := kv.val.text; f != "pdb" && f != "mmcif" {
					return "", fmt.Sprintf("open format %q: want pdb or mmcif for a PDB id", elide(f, 40))
				}
				out = append(out, "format", kv.val.text)
				continue
			}
			out = append(out, kv.key, kv.val.String())
		}
		return strings.Join(out, " "), ""
	}
	switch {
	case prefixed:
		return "", fmt.Sprintf("open %q: pdb: needs a PDB id such as 1abc or pdb_00001abc", elide(src, 40))
	case strings.Contains(src, ":"):
		return "", fmt.Sprintf("open %q: URLs and database prefixes other than pdb: are refused", elide(src, 60))
	}
	path, format, reason := sessionPath(src, dir, openSuffixes, true)
	if reason != "" {
		return "", "open " + reason
	}
	out := []string{"open", path}
	for _, kv := range kvs {
		switch kv.key {
		case "from":
			return "", "open from applies only to PDB ids"
		case "format":
			if kv.val.text != format {
				return "", fmt.Sprintf("open format %q: the file's suffix says %s", elide(kv.val.text, 40), format)
			}
			out = append(out, "format", format)
			continue
		}
		out = append(out, kv.key, kv.val.String())
	}
	return strings.Join(out, " "), ""
}

// checkSave checks save's arguments (see Policy) and returns the canonical
// command.
func checkSave(args []cliToken, dir string) (text, reason string) {
	if len(args) == 0 {
		return "", "save needs a file in the session directory"
	}
	path, format, reason := sessionPath(args[0].text, dir, saveSuffixes, false)
	if reason != "" {
		return "", "save " + reason
	}
	kvs, reason := keyValues(args[1:], map[string]string{
		"format": "format", "width": "width", "height": "height",
		"supersample": "supersample", "transparentBackground": "transparentBackground",
	})
	if reason != "" {
		return "", reason
	}
	image := format == "png" || format == "jpeg"
	out := []string{"save", path}
	for _, kv := range kvs {
		v := kv.val.text
		switch kv.key {
		case "format":
			if v != format {
				return "", fmt.Sprintf("save format %q: the file's suffix says %s", elide(v, 40), format)
			}
		case "width", "height", "supersample":
			if !image {
				return "", fmt.Sprintf("save %s applies only to .png and .jpg images", kv.key)
			}
			limit := maxImageSide
			if kv.key == "supersample" {
				limit = maxSupersample
			}
			n, ok := smallInt(v)
			if !ok || n < 1 || n > limit {
				return "", fmt.Sprintf("save %s %q: want a whole number from 1 to %d", kv.key, elide(v, 20), limit)
			}
			v = strconv.Itoa(n)
		case "transparentBackground":
			if !image {
				return "", "save transparentBackground applies only to .png and .jpg images"
			}
			if v != "true" && v != "false" {
				return "", fmt.Sprintf("save transparentBackground %q: want true or false", elide(v, 20))
			}
		}
		out = append(out, kv.key, v)
	}
	return strings.Join(out, " "), ""
}

// keyValue is one keyword and its value, the keyword in canonical spelling.
type keyValue struct {
	key string
	val cliToken
}

// keyValues reads args as keyword-value pairs. known maps each accepted
// spelling to its canonical keyword; each keyword may appear once.
func keyValues(args []cliToken, known map[string]string) ([]keyValue, string) {
	var kvs []keyValue
	for i := 0; i < len(args); i += 2 {
		key, ok := known[args[i].text]
		if !ok {
			return nil, fmt.Sprintf("%q is not an allowed keyword here (keywords are spelled in full: %s)",
				elide(args[i].text, 40), strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
		if i+1 == len(args) {
			return nil, fmt.Sprintf("keyword %s has no value", args[i].text)
		}
		if slices.ContainsFunc(kvs, func(kv keyValue) bool { return kv.key == key }) {
			return nil, fmt.Sprintf("keyword %s is repeated", args[i].text)
		}
		kvs = append(kvs, keyValue{key: key, val: args[i+1]})
	}
	return kvs, ""
}

// smallInt parses a decimal number of at most five digits, without sign.
func smallInt(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// pdbSourceID returns s as ChimeraX's PDB fetch takes it, lower-cased: the
// classic id (1abc), the 8-character form (00001abc), or the latter with a
// pdb_ prefix, which is removed.
func pdbSourceID(s string) (string, bool) {
	if len(s) == 12 && strings.EqualFold(s[:4], "pdb_") {
		s = s[4:]
	}
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	classic := func(s string) bool {
		if len(s) != 4 || !isDigit(s[0]) {
			return false
		}
		for _, c := range []byte(s[1:]) {
			if !isDigit(c) && (c|0x20 < 'a' || c|0x20 > 'z') {
				return false
			}
		}
		return true
	}
	switch {
	case classic(s):
	case len(s) == 8 && isDigit(s[0]) && isDigit(s[1]) && isDigit(s[2]) && isDigit(s[3]) && classic(s[4:]):
	default:
		return "", false
	}
	return strings.ToLower(s), true
}

// sessionPath checks a file name given to open or save (see Policy) and
// returns the cleaned absolute path, quoted as a token, and the format its
// suffix names; or the reason it is refused.
func sessionPath(name, dir string, suffixes map[string]string, gzip bool) (token, format, reason string) {
	switch {
	case name == "":
		return "", "", "needs a file name"
	case strings.ContainsAny(name, "~$"):
		return "", "", fmt.Sprintf("%q: ~ and $ would be expanded by ChimeraX", elide(name, 60))
	case strings.ContainsAny(name, "*?[]"):
		return "", "", fmt.Sprintf("%q: wildcards would be expanded by ChimeraX", elide(name, 60))
	case strings.Contains(name, ":"):
		return "", "", fmt.Sprintf("%q: URLs and prefixes with : are refused", elide(name, 60))
	}
	for part := range strings.SplitSeq(name, "/") {
		if part == ".." {
			return "", "", fmt.Sprintf("%q: .. leaves the session directory", elide(name, 60))
		}
		if strings.HasPrefix(part, ".") && part != "." {
			return "", "", fmt.Sprintf("%q: hidden files and directories are refused", elide(name, 60))
		}
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	path = filepath.Clean(path)
	if !strings.HasPrefix(path, dir+string(filepath.Separator)) {
		return "", "", fmt.Sprintf("%q is outside the session directory", elide(name, 60))
	}
	base := strings.ToLower(filepath.Base(path))
	gz := false
	if gzip {
		base, gz = strings.CutSuffix(base, ".gz")
	}
	format, ok := suffixes[filepath.Ext(base)]
	if !ok || strings.TrimSuffix(base, filepath.Ext(base)) == "" || (gz && format == "session") {
		want := slices.Sorted(maps.Keys(suffixes))
		also := ""
		if gzip {
			also = " (structures optionally .gz)"
		}
		return "", "", fmt.Sprintf("%q: want a file ending in %s%s", elide(name, 60), strings.Join(want, ", "), also)
	}
	token, ok = cliQuote(path)
	if !ok {
		return "", "", fmt.Sprintf("%q cannot be quoted for ChimeraX", elide(name, 60))
	}
	return token, format, ""
}

// sessionDirReason says why dir cannot be a session directory for Check, or
// returns "". It must be absolute and clean, not the root, and hold nothing
// ChimeraX would expand or Check would refuse in a file name.
func sessionDirReason(dir string) string {
	switch {
	case !filepath.IsAbs(dir) || filepath.Clean(dir) != dir:
		return "is not a clean absolute path"
	case dir == string(filepath.Separator):
		return "is the root directory"
	case strings.ContainsAny(dir, "~$*?[]:\\;\"'"), argReason(dir) != "":
		return "holds a character ChimeraX would expand or Check refuses"
	case !utf8.ValidString(dir):
		return "is not valid UTF-8"
	}
	for _, r := range dir {
		if r == ' ' {
			continue
		}
		if unicode.IsControl(r) || unicode.IsSpace(r) || invisibleRune(r) {
			return "holds a control, space or invisible character other than ' '"
		}
	}
	return ""
}

// elide shortens s to about n bytes for an error message.
func elide(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// cliToken is one token of a ChimeraX command: its text without quotes, and
// the quote it was written in (0 if none).
type cliToken struct {
	text  string
	quote byte
}

// String returns the token as it was written.
func (t cliToken) String() string {
	if t.quote == 0 {
		return t.text
	}
	q := string(t.quote)
	return q + t.text + q
}

// cliJoin returns a command's normalized text: its tokens as written, joined
// by single spaces.
func cliJoin(cmd []cliToken) string {
	parts := make([]string, len(cmd))
	for i, t := range cmd {
		parts[i] = t.String()
	}
	return strings.Join(parts, " ")
}

// cliQuote returns s as one ChimeraX token: bare if it can be, else in
// quotes of a kind it does not contain; ok is false if no quoting works.
func cliQuote(s string) (token string, ok bool) {
	switch {
	case strings.ContainsAny(s, "\n\r"):
		return "", false
	case s != "" && !strings.ContainsAny(s, " \t;\"'"):
		return s, true
	case !strings.Contains(s, `"`):
		return `"` + s + `"`, true
	case !strings.Contains(s, "'"):
		return "'" + s + "'", true
	}
	return "", false
}

// isCLISpace reports whether c separates tokens. Python's \s also matches
// \v, \f, \x1c-\x1f and Unicode spaces, all refused before splitting.
func isCLISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// invisibleRune reports whether r is a non-ASCII space or separator, or an
// invisible format character (zero-width space, bidi controls, BOM).
func invisibleRune(r rune) bool {
	return r > unicode.MaxASCII && (unicode.IsSpace(r) || unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Cf))
}

// cliTokenize splits line into commands of tokens as ChimeraX's parser
// would, refusing what it would read differently (see Policy). Empty
// commands are dropped, and a comment ends the line.
func cliTokenize(line string) ([][]cliToken, error) {
	if len(line) > maxCommandLine {
		return nil, fmt.Errorf("line is %d bytes; the limit is %d", len(line), maxCommandLine)
	}
	if !utf8.ValidString(line) {
		return nil, errors.New("line is not valid UTF-8")
	}
	for i, r := range line {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r == '\\':
			return nil, fmt.Errorf("backslash at byte %d: ChimeraX reads escape sequences", i)
		case unicode.IsControl(r):
			return nil, fmt.Errorf("control character %U at byte %d", r, i)
		case invisibleRune(r):
			return nil, fmt.Errorf("non-ASCII space or invisible character %U at byte %d", r, i)
		}
	}
	var cmds [][]cliToken
	var cur []cliToken
	lineBreak := false // a line break since the last token of cur
	for i := 0; i < len(line); {
		c := line[i]
		if len(cur) > 0 && lineBreak && !isCLISpace(c) && c != ';' {
			return nil, fmt.Errorf("line break inside a command before byte %d: ChimeraX reads it as a space; end commands with ;", i)
		}
		switch {
		case isCLISpace(c):
			lineBreak = lineBreak || c == '\n' || c == '\r'
			i++
		case c == ';':
			if len(cur) > 0 {
				cmds = append(cmds, cur)
				cur = nil
			}
			lineBreak = false
			i++
		case c == '#' && len(cur) == 0:
			// A comment: ChimeraX ignores the rest of the whole line.
			return cmds, nil
		case c == '"' || c == '\'':
			n := strings.IndexByte(line[i+1:], c)
			if n < 0 {
				return nil, fmt.Errorf("unbalanced %c at byte %d", c, i)
			}
			end := i + 1 + n
			text := line[i+1 : end]
			if strings.ContainsAny(text, "\n\r") {
				return nil, fmt.Errorf("quoted text at byte %d spans a line break", i)
			}
			if end+1 < len(line) {
				switch next := line[end+1]; {
				case next == ';':
					return nil, fmt.Errorf("closing %c at byte %d is followed directly by a semicolon; put a space before it", c, end)
				case !isCLISpace(next):
					r, _ := utf8.DecodeRuneInString(line[end+1:])
					return nil, fmt.Errorf("closing %c at byte %d is followed by %q, not a space", c, end, r)
				}
			}
			cur = append(cur, cliToken{text: text, quote: c})
			lineBreak = false
			i = end + 1
		default:
			j := i
			for j < len(line) && !isCLISpace(line[j]) && line[j] != ';' {
				if line[j] == '"' || line[j] == '\'' {
					return nil, fmt.Errorf("stray %c inside a word at byte %d; quote the whole word", line[j], j)
				}
				j++
			}
			cur = append(cur, cliToken{text: line[i:j]})
			lineBreak = false
			i = j
		}
	}
	if len(cur) > 0 {
		cmds = append(cmds, cur)
	}
	return cmds, nil
}
