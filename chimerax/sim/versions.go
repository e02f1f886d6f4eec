package sim

import (
	"slices"
	"strings"
)

// release is a ChimeraX release the simulator can pretend to be. Only what
// a REST client can see differs between them (rest_server/src/cmd.py and
// server.py at tags v1.8 to v1.11):
//
//	          remotecontrol rest start   JSON reply Content-Type   models in "python values"
//	1.8       port, ssl, json            text/plain                null
//	1.9       ... and log                text/plain                null
//	1.10      ... and log                text/plain                null
//	1.11      ... and log                application/json          "1abc #1"
type release struct {
	version, date string
	restLog       bool   // "remotecontrol rest start" takes the log keyword
	jsonType      string // Content-Type of JSON replies
	modelStrings  bool   // models in Python values are strings, not null
}

// releases are the releases the simulator emulates, oldest first; the last
// is the default.
var releases = []release{
	{version: "1.8", date: "2024-06-10", jsonType: "text/plain"},
	{version: "1.9", date: "2024-12-12", restLog: true, jsonType: "text/plain"},
	{version: "1.10", date: "2025-06-26", restLog: true, jsonType: "text/plain"},
	{version: "1.11", date: "2025-12-16", restLog: true, jsonType: "application/json", modelStrings: true},
}

// newestRelease is the release emulated unless asked otherwise.
var newestRelease = releases[len(releases)-1]

// findRelease returns the release named version ("1.9").
func findRelease(version string) (release, bool) {
	i := slices.IndexFunc(releases, func(r release) bool { return r.version == version })
	if i < 0 {
		return release{}, false
	}
	return releases[i], true
}

// releaseNames lists the versions for error messages: "1.8, 1.9, 1.10 or 1.11".
func releaseNames() string {
	names := make([]string, len(releases))
	for i, r := range releases {
		names[i] = r.version
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
