package cmd

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is this module's path.
const module = "github.com/chimerad/chimerad"

// goPackage is what the layout rules read of `go list -json`.
type goPackage struct {
	ImportPath   string
	Imports      []string // of the package's own files
	Deps         []string // everything it needs to build, transitively
	TestImports  []string // of its in-package tests
	XTestImports []string // of its _test package
}

// layoutRules are the import rules of the module (the design card's
// "cmd -> server -> chimerax -> store"): for each package (path relative
// to the module, "" for main), the internal packages it may import. A
// package not listed may import nothing internal. The leaves of chimerax
// (checkpoints, engine, fanout, policy, process, rest, slurm, structure,
// sim) and
// store import nothing of the module; nor does server/mcp, the MCP tools,
// which call a Backend that server (over the supervisor) and cmd (over the
// REST API) provide.
// chimeraxtest is the test harness: only tests may import it.
var layoutRules = map[string][]string{
	"":                      {"cmd"},
	"cmd":                   {"server", "server/mcp", "chimerax", "chimerax/policy", "chimerax/process", "chimerax/sim", "chimerax/slurm", "chimerax/structure", "store"},
	"server":                {"server/mcp", "chimerax", "chimerax/structure", "store"},
	"server/mcp":            nil,
	"chimerax":              {"chimerax/checkpoints", "chimerax/engine", "chimerax/fanout", "chimerax/policy", "chimerax/process", "chimerax/rest", "chimerax/slurm", "chimerax/structure", "store"},
	"chimerax/chimeraxtest": {"chimerax", "chimerax/process", "chimerax/sim", "store"},
	"chimerax/policy":       nil,
	"chimerax/checkpoints":  nil,
	"chimerax/engine":       nil,
	"chimerax/fanout":       nil,
	"chimerax/process":      nil,
	"chimerax/rest":         nil,
	"chimerax/slurm":        nil,
	"chimerax/structure":    nil,
	"chimerax/sim":          nil,
	"store":                 nil,
}

// testOnlyImports are what a package's tests may import beyond what the
// package itself may: the harness, and the package itself (an _test
// package imports what it tests).
var testOnlyImports = []string{"chimerax/chimeraxtest"}

// listPackages runs `go list -json` over the module.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// internal returns the module's packages among paths, relative to it.
func internal(paths []string) []string {
	var out []string
	for _, p := range paths {
		switch {
		case p == module:
			out = append(out, "")
		case strings.HasPrefix(p, module+"/"):
			out = append(out, strings.TrimPrefix(p, module+"/"))
		}
	}
	return out
}

// TestLayout checks the module's import rules (layoutRules): each
// package's own files import only what it may, no package's build pulls in
// server or cmd unless it may import them, and tests import only what
// their package may, the harness, and the package itself. It needs the go
// command, as the cmd tests do to build the daemon.
func TestLayout(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < len(layoutRules) {
		t.Fatalf("go list found %d packages, want at least %d", len(pkgs), len(layoutRules))
	}
	for _, p := range pkgs {
		self := internal([]string{p.ImportPath})[0]
		allowed, known := layoutRules[self]
		if !known {
			t.Errorf("package %q has no layout rule: add it to layoutRules", self)
			continue
		}
		may := func(imp string) bool { return slices.Contains(allowed, imp) }
		for _, imp := range internal(p.Imports) {
			if !may(imp) {
				t.Errorf("%q imports %q, which the layout forbids (it may import %q)", self, imp, allowed)
			}
		}
		// What the package needs to build: only main and cmd pull in server
		// and cmd, and nothing outside tests pulls in the harness.
		for _, dep := range internal(p.Deps) {
			if (dep == "server" || dep == "cmd") && self != "" && self != "cmd" {
				t.Errorf("%q depends on %q", self, dep)
			}
			if dep == "chimerax/chimeraxtest" {
				t.Errorf("%q depends on the test harness chimeraxtest outside its tests", self)
			}
		}
		for _, imp := range internal(append(slices.Clone(p.TestImports), p.XTestImports...)) {
			leaf := len(allowed) == 0 // a leaf's tests stay leaves too
			if !may(imp) && imp != self && (leaf || !slices.Contains(testOnlyImports, imp)) {
				t.Errorf("tests of %q import %q, which the layout forbids", self, imp)
			}
		}
	}
}
