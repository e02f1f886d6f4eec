package chimerax

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/chimerad/chimerad/chimerax/process"
)

// pidOrPort is a process id or a port as the supervisor's errors write one.
var pidOrPort = regexp.MustCompile(`\b(pid|port):? ?\d+`)

// Public rewrites a text from the supervisor for someone who is not an
// admin — an error's detail, a session's error — so it shows no path of
// the data directory (plain or URL-escaped), no loopback port and no pid:
// a file in a session's directory is named by its name alone, anything
// else under the data directory as <data_dir>/…. Errors are written not
// to hold them; this is the one step on their way out that makes sure.
func (sv *Supervisor) Public(text string) string {
	dir := sv.cfg.DataDir
	if text == "" || dir == "" {
		return text
	}
	text = sv.inSessionDir.ReplaceAllString(text, "")
	for _, form := range []string{dir, url.QueryEscape(dir), url.PathEscape(dir)} {
		text = strings.ReplaceAll(text, form, "<data_dir>")
	}
	if root := sharedRoot(sv.cfg); root != dir { // the Slurm session root
		for _, form := range []string{root, url.QueryEscape(root), url.PathEscape(root)} {
			text = strings.ReplaceAll(text, form, "<session_root>")
		}
	}
	lines := []string{text}
	process.Redact(lines, 0, nil)
	return pidOrPort.ReplaceAllString(lines[0], "$1 (hidden)")
}
