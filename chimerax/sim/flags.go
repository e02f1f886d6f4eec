package sim

import (
	"fmt"
	"slices"
	"strings"
)

// programName is argv[0] in ChimeraX's usage messages.
const programName = "ChimeraX"

// chimeraxOptions are ChimeraX's long options as its __main__ registers them
// with getopt: the usage list first, then the defaults it also accepts (with
// its duplicate "nousedefaults", which makes "--nous" ambiguous, as in
// ChimeraX). A trailing "=" marks an option that takes an argument.
var chimeraxOptions = []string{
	"debug", "devel", "exit", "nogui", "nocolor", "help", "lineprofile",
	"listioformats", "offscreen", "silent", "nostatus", "start=", "cmd=",
	"script=", "notools", "safemode", "stereo", "uninstall", "usedefaults",
	"version", "qtscalefactor=", "toolshed=", "disable-qt",
	"nodebug", "nodevel", "noexit", "gui", "color", "nolineprofile",
	"nosilent", "nousedefaults", "nooffscreen", "status", "tools",
	"nousedefaults",
}

// simulatorOptions are the simulator's own long options, parsed with
// ChimeraX's: --chimerax-version picks the release to emulate.
var simulatorOptions = []string{"chimerax-version="}

// usage is ChimeraX's usage text, after "usage: ChimeraX ".
var usage = "[--debug] [--devel] [--exit] [--nogui] [--nocolor] [--help] " +
	"[--lineprofile] [--listioformats] [--offscreen] [--silent] [--nostatus] " +
	"[--start <tool name>] [--cmd <command>] [--script <python script and arguments>] " +
	"[--notools] [--safemode] [--stereo] [--uninstall] [--usedefaults] [--version] " +
	"[--qtscalefactor <factor>] [--toolshed preview|<url>] [--disable-qt] " +
	"or Python command line arguments (e.g., -m module_name [args] or -c command [args])"

// options are the parsed command-line options that the simulator honours.
// The rest (--debug, --notools, --stereo, ...) are accepted and ignored, as
// nogui ChimeraX ignores most of them.
// The simulator is always headless: without --nogui it behaves as with it.
type options struct {
	offscreen bool
	color     *bool // nil: colour if stdout is a terminal
	silent    bool
	eventLoop bool // false with --exit
	commands  []string
	scripts   []string
	version   int // -1, or how many times --version was given minus one
	files     []string

	chimeraxVersion string // the release to emulate; "" for the environment's or the newest
}

// usageError is a command-line error; ChimeraX prints usage and exits 64.
type usageError struct {
	msg  string
	help bool // --help: usage goes to stdout
}

func (e *usageError) Error() string { return e.msg }

// parseOptions parses ChimeraX's command line as Python's getopt.getopt does
// for ChimeraX: long options only, each abbreviable to a unique prefix,
// arguments either "--cmd=x" or "--cmd x", options ending at the first
// non-option argument or "--".
func parseOptions(args []string) (options, error) {
	opts := options{eventLoop: true, version: -1}
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && !strings.HasPrefix(args[0], "--") {
		// ChimeraX then acts as the Python interpreter (-m, -c ...).
		return opts, &usageError{msg: "Python command line arguments are not supported by the chimerad simulator"}
	}
	help := false
	i := 0
	for ; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			i++
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			break
		}
		if !strings.HasPrefix(arg, "--") {
			return opts, &usageError{msg: fmt.Sprintf("option %s not recognized", arg)}
		}
		name, value, hasValue := strings.Cut(arg[2:], "=")
		long, takesArg, err := matchLongOption(name)
		if err != nil {
			return opts, err
		}
		switch {
		case takesArg && !hasValue:
			if i+1 >= len(args) {
				return opts, &usageError{msg: fmt.Sprintf("option --%s requires argument", long)}
			}
			i++
			value = args[i]
		case !takesArg && hasValue:
			return opts, &usageError{msg: fmt.Sprintf("option --%s must not have an argument", long)}
		}
		switch long {
		case "exit", "noexit":
			opts.eventLoop = long == "noexit"
		case "help":
			help = true
		case "color", "nocolor":
			c := long == "color"
			opts.color = &c
		case "offscreen", "nooffscreen":
			opts.offscreen = long == "offscreen"
		case "silent", "nosilent":
			opts.silent = long == "silent"
		case "cmd":
			opts.commands = append(opts.commands, value)
		case "script":
			opts.scripts = append(opts.scripts, value)
		case "version":
			opts.version++
		case "chimerax-version":
			if _, ok := findRelease(value); !ok {
				return opts, &usageError{msg: fmt.Sprintf("option --chimerax-version %s: want %s", value, releaseNames())}
			}
			opts.chimeraxVersion = value
		}
	}
	if i < len(args) {
		opts.files = args[i:]
	}
	if help {
		return opts, &usageError{msg: "help", help: true}
	}
	if opts.version >= 0 {
		opts.silent = false // --version implies silent, except for the version itself
	}
	return opts, nil
}

// matchLongOption finds the option that name abbreviates, as getopt's
// long_has_args does.
func matchLongOption(name string) (long string, takesArg bool, err error) {
	var matches []string
	for _, o := range append(slices.Clip(chimeraxOptions), simulatorOptions...) {
		if strings.HasPrefix(o, name) {
			matches = append(matches, o)
		}
	}
	for _, m := range matches {
		if m == name {
			return name, false, nil
		}
		if m == name+"=" {
			return name, true, nil
		}
	}
	switch len(matches) {
	case 0:
		return "", false, &usageError{msg: fmt.Sprintf("option --%s not recognized", name)}
	case 1:
		return strings.TrimSuffix(matches[0], "="), strings.HasSuffix(matches[0], "="), nil
	default:
		return "", false, &usageError{msg: fmt.Sprintf("option --%s not a unique prefix", name)}
	}
}
