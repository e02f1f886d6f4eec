package policy

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

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
			limit := MaxImageSide
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
