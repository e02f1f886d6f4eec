package policy

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrRefused: the policy refused a command line. The wrapped text names the
// refused command and why; it quotes only the client's own text, so it is safe
// to show to the client.
var ErrRefused = errors.New("chimerax: command refused")

// Policy decides which ChimeraX command lines a session's owner may run:
// the package comment lists its rules. The zero Policy allows nothing.
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
	"matchmaker", "roll",
}

// maxCommandLine bounds a command line, as ChimeraX's REST request line is
// bounded.
const maxCommandLine = 64 << 10

// Image limits for save.
const (
	MaxImageSide   = 4096
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
	if reason := DirReason(sessionDir); reason != "" {
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

// DirReason says why dir cannot be a session directory for Check, or
// returns "". It must be absolute and clean, not the root, and hold nothing
// ChimeraX would expand or Check would refuse in a file name.
func DirReason(dir string) string {
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

// Writes reports whether cmd, one command as Check returns it, writes into
// the session directory: save, which writes file (an absolute path), and an
// open from a database, which fetches into the session's HOME (file is
// then ""). A command Check did not return may be misread.
func Writes(cmd string) (file string, ok bool) {
	cmds, err := cliTokenize(cmd)
	if err != nil || len(cmds) != 1 {
		return "", false
	}
	t := cmds[0]
	switch {
	case t[0].text == "save" && len(t) > 1:
		return t[1].text, true
	case t[0].text == "open" && len(t) > 3 && t[2].text == "from":
		return "", true
	}
	return "", false
}
