// Package engine decides which program runs sessions - a real UCSF
// ChimeraX, found on PATH or where installers put it, or chimerad's built-in
// simulator - and how it is started headless with its REST server (Args),
// and learns its version. It imports nothing of this module.
package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"time"
)

// RESTCommand is the startup command that makes ChimeraX listen for REST
// requests on a free loopback port, answering in JSON.
const RESTCommand = "remotecontrol rest start port 0 json true"

// Engine names, as the API and the session records show them.
const (
	ChimeraX  = "chimerax"
	Simulator = "simulator"
)

// SimulatorCommand is the hidden subcommand of chimerad that runs the
// built-in ChimeraX simulator.
const SimulatorCommand = "chimerax-sim"

// Engine is the program started for each session: a real ChimeraX or the
// built-in simulator.
type Engine struct {
	// Name is ChimeraX or Simulator.
	Name string
	// Path is the executable.
	Path string
	// Args come before ChimeraX's own options (the simulator's subcommand).
	Args []string
	// Env is added to every child's environment (the simulator's knobs).
	Env []string
}

// IsSimulator reports whether e is the built-in simulator.
func (e Engine) IsSimulator() bool { return e.Name == Simulator }

// ChildArgs returns ChimeraX's command line, after its path, for a
// headless session child: no GUI, offscreen rendering, its REST server on
// a free loopback port.
func (e Engine) ChildArgs() []string {
	return append(append([]string(nil), e.Args...),
		"--nogui", "--offscreen", "--nocolor", "--cmd", RESTCommand)
}

// InstallPaths are the places a ChimeraX install is looked for when it is not
// on PATH.
var InstallPaths = []string{
	"/usr/bin/chimerax",
	"/opt/UCSF/ChimeraX/bin/ChimeraX",
	"/usr/lib/ucsf-chimerax/bin/ChimeraX",
	"/Applications/ChimeraX.app/Contents/MacOS/ChimeraX",
}

// Find decides which program runs sessions. path is the configured
// chimerax.path: a file, which must be executable; "simulator", the built-in
// simulator; or "", which looks for ChimeraX on PATH and in InstallPaths
// and falls back to the simulator. found reports whether a fallback
// happened, so the caller can say so.
func Find(path string) (e Engine, fellBack bool, err error) {
	switch path {
	case "simulator":
		e, err := Builtin()
		return e, false, err
	case "":
		for _, name := range []string{"ChimeraX", "chimerax"} {
			if p, err := exec.LookPath(name); err == nil {
				return Engine{Name: ChimeraX, Path: p}, false, nil
			}
		}
		for _, p := range InstallPaths {
			if IsExecutable(p) {
				return Engine{Name: ChimeraX, Path: p}, false, nil
			}
		}
		e, err := Builtin()
		return e, true, err
	}
	if !IsExecutable(path) {
		return Engine{}, false, fmt.Errorf("%w: chimerax.path %q is not an executable file", ErrNotFound, path)
	}
	return Engine{Name: ChimeraX, Path: path}, false, nil
}

// Builtin returns the built-in simulator: this very binary, run with the
// chimerax-sim subcommand.
func Builtin() (Engine, error) {
	self, err := os.Executable()
	if err != nil {
		return Engine{}, fmt.Errorf("%w: locate own binary for the simulator: %v", ErrNotFound, err)
	}
	return Engine{Name: Simulator, Path: self, Args: []string{SimulatorCommand}}, nil
}

// IsExecutable reports whether path is an executable regular file.
func IsExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// versionLine is how ChimeraX says its version ("UCSF ChimeraX version: 1.11 (2025-12-16)").
var versionLine = regexp.MustCompile(`ChimeraX version: (\S+)`)

// Version runs the engine with --version and returns the version it
// reports. Its HOME is a fresh temporary directory, so no user's start-up
// files run.
func (e Engine) Version(ctx context.Context) (string, error) {
	home, err := os.MkdirTemp("", "chimerad-version-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(home)
	cmd := exec.CommandContext(ctx, e.Path, append(append([]string(nil), e.Args...), "--nogui", "--version")...)
	cmd.Env = append(append(os.Environ(), "HOME="+home), e.Env...)
	cmd.Dir = home
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if m := versionLine.FindSubmatch(out); m != nil {
		return string(m[1]), nil
	}
	if err == nil {
		err = fmt.Errorf("no version in its output %q", out[:min(len(out), 200)])
	}
	return "", fmt.Errorf("%s --version: %w", e.Name, err)
}

// ErrNotFound: the configured ChimeraX is missing or not executable. The
// chimerax package re-exports it as ErrEngineNotFound.
var ErrNotFound = errors.New("chimerax: engine not found")
