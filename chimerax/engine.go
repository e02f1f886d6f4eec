package chimerax

import (
	"context"
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
	EngineChimeraX  = "chimerax"
	EngineSimulator = "simulator"
)

// SimulatorCommand is the hidden subcommand of chimerad that runs the
// built-in ChimeraX simulator.
const SimulatorCommand = "chimerax-sim"

// Engine is the program started for each session: a real ChimeraX or the
// built-in simulator.
type Engine struct {
	// Name is EngineChimeraX or EngineSimulator.
	Name string
	// Path is the executable.
	Path string
	// Args come before ChimeraX's own options (the simulator's subcommand).
	Args []string
	// Env is added to every child's environment (the simulator's knobs).
	Env []string
}

// IsSimulator reports whether e is the built-in simulator.
func (e Engine) IsSimulator() bool { return e.Name == EngineSimulator }

// args returns ChimeraX's command line for a headless session child.
func (e Engine) args() []string {
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

// FindEngine decides which program runs sessions. path is the configured
// chimerax.path: a file, which must be executable; "simulator", the built-in
// simulator; or "", which looks for ChimeraX on PATH and in InstallPaths
// and falls back to the simulator. found reports whether a fallback
// happened, so the caller can say so.
func FindEngine(path string) (e Engine, fellBack bool, err error) {
	switch path {
	case "simulator":
		e, err := Simulator()
		return e, false, err
	case "":
		for _, name := range []string{"ChimeraX", "chimerax"} {
			if p, err := exec.LookPath(name); err == nil {
				return Engine{Name: EngineChimeraX, Path: p}, false, nil
			}
		}
		for _, p := range InstallPaths {
			if isExecutable(p) {
				return Engine{Name: EngineChimeraX, Path: p}, false, nil
			}
		}
		e, err := Simulator()
		return e, true, err
	}
	if !isExecutable(path) {
		return Engine{}, false, fmt.Errorf("%w: chimerax.path %q is not an executable file", ErrEngineNotFound, path)
	}
	return Engine{Name: EngineChimeraX, Path: path}, false, nil
}

// Simulator returns the built-in simulator: this very binary, run with the
// chimerax-sim subcommand.
func Simulator() (Engine, error) {
	self, err := os.Executable()
	if err != nil {
		return Engine{}, fmt.Errorf("%w: locate own binary for the simulator: %v", ErrEngineNotFound, err)
	}
	return Engine{Name: EngineSimulator, Path: self, Args: []string{SimulatorCommand}}, nil
}

func isExecutable(path string) bool {
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
		err = fmt.Errorf("no version in its output %q", truncate(string(out), 200))
	}
	return "", fmt.Errorf("%s --version: %w", e.Name, err)
}
