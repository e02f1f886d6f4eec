package chimerax

import (
	"strings"

	"github.com/chimerad/chimerad/chimerax/rest"
)

// What the supervisor relays of ChimeraX's REST answers (chimerax/rest).
type (
	// Result is ChimeraX's answer to one command line.
	Result = rest.Result
	// Log holds the messages logged while a command ran, by level.
	Log = rest.Log
	// CommandError is the exception a command raised.
	CommandError = rest.CommandError
	// Client talks to one child's REST server.
	Client = rest.Client
)

// NewClient returns a client that reaches a child's REST server through dial.
var NewClient = rest.NewClient

// quote makes s one ChimeraX command token. Only chimerad's own paths go
// through it (never client text), but a path may still hold spaces.
func quote(s string) string {
	if !strings.ContainsAny(s, " \t\n;\"'#") {
		return s
	}
	return `"` + s + `"`
}
