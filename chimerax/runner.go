package chimerax

import (
	"context"
	"net"
	"time"

	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/store"
)

// Launchers (Config.Launcher): where a session's ChimeraX runs.
const (
	// LauncherLocal runs each ChimeraX as a child process of the daemon
	// (chimerax/process).
	LauncherLocal = "local"
	// LauncherSlurm runs each ChimeraX as a Slurm job (chimerax/slurm).
	LauncherSlurm = "slurm"
)

// runner is one session's running ChimeraX as the supervisor holds it:
// a local child (*process.Process) or a Slurm job (jobRunner). It is all
// the supervisor asks of either.
type runner interface {
	// Dial connects to ChimeraX's REST server.
	Dial(ctx context.Context) (net.Conn, error)
	// Done is closed once ChimeraX has exited (or its job has ended);
	// Exited and WaitDone ask it without and with waiting.
	Done() <-chan struct{}
	Exited() bool
	WaitDone(d time.Duration) bool
	// DescribeExit says how it ended; ExitStatus is ChimeraX's code or
	// signal, once known.
	DescribeExit() string
	ExitStatus() (code *int, signal string)
	// CPUSeconds is the CPU time of a reaped child (false until then);
	// OOMKilled whether its memory limit killed it.
	CPUSeconds() (float64, bool)
	OOMKilled() bool
	// PID is the local child's pid, 0 for a job (logs and /proc usage).
	PID() int
	// Tail is the last n lines of ChimeraX's output; StartError wraps a
	// start's error with them.
	Tail(n int) []string
	StartError(err error) error
	// Stop ends it gracefully if it will, Terminate by signals, Kill at
	// once; ReapAll cleans up once it has exited; Detach leaves it running
	// for the next daemon to adopt.
	Stop(grace time.Duration)
	Terminate(grace time.Duration)
	Kill()
	ReapAll()
	Detach()
}

var _ runner = (*process.Process)(nil)

// launch starts the ChimeraX of session (or pool child) id and waits
// until it is ready, with the configured launcher; c is the session's
// child, nil for a pool child. A failed start may still return what it
// started (for its output); it is nil only if nothing ran.
func (sv *Supervisor) launch(ctx context.Context, id string, c *child) (runner, error) {
	if sv.cfg.Launcher == LauncherSlurm {
		return sv.launchJob(ctx, id, c)
	}
	p, err := process.Launch(ctx, sv.launchSpec(id))
	if p == nil {
		return nil, err // never a typed nil in the interface
	}
	return p, err
}

// processRecord describes a child for its session record.
func processRecord(p runner) *store.Process {
	switch p := p.(type) {
	case *process.Process:
		i := p.Info()
		return &store.Process{
			PID: i.PID, StartTicks: i.StartTicks, Port: i.Port, Dir: i.Dir,
			ShimPID: i.ShimPID, ShimStartTicks: i.ShimStartTicks,
			Sandboxed: i.Sandboxed,
		}
	case *jobRunner:
		return p.record()
	}
	return &store.Process{}
}
