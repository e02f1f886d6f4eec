//go:build !linux

package process

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
)

func startCommand(cmd *exec.Cmd) error { return cmd.Start() }

// StartTicks would name a process safely with its pid; this system has
// no /proc to read it from.
func StartTicks(pid int) (uint64, error) {
	return 0, errors.New("process start time: not supported on this system")
}

func processHasEnv(pid int, kv string) bool { return false }

// The sandbox needs Linux namespaces.

const relaySocket = "chimerax.sock"

// ProbeSandbox reports that this system cannot sandbox children.
func ProbeSandbox() error { return errors.New("sandbox: needs Linux namespaces") }

func sandboxInitMain(relay string, unset []string, argv []string, stderr io.Writer) int {
	fmt.Fprintln(stderr, "chimerax-shim: sandbox: needs Linux namespaces")
	return 71
}

// Zygote starts sandboxed children; there are none here.
type Zygote struct{}

// NewZygote returns nil: there is no sandbox here.
func NewZygote(shim, shimEnv []string) *Zygote { return nil }

// Close does nothing.
func (z *Zygote) Close() {}

func (z *Zygote) launch(spec Spec, cg *sessionCgroup, home, tmp string) (*Process, error) {
	return nil, errNoZygote
}

var errNoZygote = errors.New("zygote unavailable")

func zygoteMain(stderr io.Writer) int {
	fmt.Fprintln(stderr, "chimerax-shim: zygote: needs Linux namespaces")
	return 71
}
