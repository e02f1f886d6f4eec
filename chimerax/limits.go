package chimerax

import (
	"fmt"
	"runtime"

	"github.com/chimerad/chimerad/chimerax/process"
)

// decideSandbox settles whether children are sandboxed, per Config.Sandbox.
func (sv *Supervisor) decideSandbox() error {
	if sv.cfg.Sandbox == SandboxOff {
		return nil
	}
	probe := sv.cfg.SandboxProbe
	if probe == nil {
		probe = process.ProbeSandbox
	}
	err := probe()
	// The remedy: Linux can be told to allow what the sandbox needs; other
	// systems have no such namespaces at all.
	remedy := "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0)"
	if runtime.GOOS != "linux" {
		remedy = "the sandbox needs Linux; on " + runtime.GOOS + " children always run unsandboxed (chimerax.sandbox: off)"
	}
	switch {
	case err == nil:
		sv.sandboxed = true
		if sv.cfg.OnRestart != OnRestartAdopt { // a shim starts the init instead
			sv.zygote = process.NewZygote(sv.cfg.Shim, sv.cfg.ShimEnv)
		}
	case sv.cfg.Sandbox == SandboxRequired:
		return fmt.Errorf("%w: chimerax.sandbox is required, but %v; %s, or set chimerax.sandbox: auto", ErrSandbox, err, remedy)
	default:
		sv.Logger.Warn().Err(err).Msg("cannot sandbox ChimeraX children: each child's REST port, which runs any command without authentication, is reachable by every local user and program; " + remedy)
	}
	return nil
}

// Sandboxed reports whether children run in their own namespaces.
func (sv *Supervisor) Sandboxed() bool { return sv.sandboxed }

// Limits says how each child's resources are limited.
type Limits struct {
	// Memory is "cgroup" (memory.max), "watch" (resident memory sampled
	// twice a second, a child over it killed: process.MemoryWatch),
	// "none" (chimerax.memory_max is 0) or "slurm" (the job's limits).
	Memory string `json:"memory"`
	// CPU is "cgroup" (cpu.max), "none" (chimerax.cpu_max is 0),
	// "unenforced" (cpu_max is set, but no cgroup can enforce it) or
	// "slurm" (the job's limits).
	CPU string `json:"cpu"`
	// Cgroup is the cgroup v2 directory under which each child gets a
	// cgroup of its own; empty without one.
	Cgroup string `json:"cgroup,omitempty"`
}

// Limits reports how children's resources are limited; Open decides it.
func (sv *Supervisor) Limits() Limits {
	if sv.cfg.Launcher == LauncherSlurm {
		return Limits{Memory: "slurm", CPU: "slurm"} // the job's --mem and --cpus-per-task
	}
	l := Limits{Memory: "none", CPU: "none"}
	if sv.cg != nil {
		l.Cgroup = sv.cg.Dir()
	}
	switch {
	case sv.cfg.MemoryMax > 0 && sv.cg.EnforcesMemory():
		l.Memory = "cgroup"
	case sv.cfg.MemoryMax > 0:
		l.Memory = "watch"
	}
	switch {
	case sv.cfg.CPUMax > 0 && sv.cg.EnforcesCPU():
		l.CPU = "cgroup"
	case sv.cfg.CPUMax > 0:
		l.CPU = "unenforced"
	}
	return l
}

// decideLimits finds the cgroup children get theirs under, per
// Config.Cgroup, and says in the log how their limits are enforced.
func (sv *Supervisor) decideLimits() error {
	g, why, err := process.OpenCgroups(sv.cfg.Cgroup, sv.cfg.MemoryMax > 0, sv.cfg.CPUMax > 0)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCgroup, err)
	}
	sv.cg = g
	if sv.cfg.MemoryMax > 0 && !g.EnforcesMemory() {
		sv.memWatch = process.NewMemoryWatch(process.MemoryWatchInterval)
	}
	l := sv.Limits()
	ev := sv.Logger.Info()
	if l.CPU == "unenforced" {
		ev = sv.Logger.Warn()
	}
	ev = ev.Str("memory", l.Memory).Str("cpu", l.CPU).Str("cgroup", l.Cgroup)
	switch {
	case l.CPU == "unenforced":
		ev.Msgf("chimerax.cpu_max is NOT enforced: it needs a cgroup v2 with the cpu controller (%s). Run chimerad as a systemd unit with Delegate=yes (docs/chimerad.service), or name such a cgroup in chimerax.cgroup", why)
	case l.Memory == "watch":
		ev.Msgf("chimerax.memory_max (%s) is enforced by sampling each child's resident memory every %v and killing one over it, not by memory.max: %s", humanBytes(sv.cfg.MemoryMax), process.MemoryWatchInterval, why)
	case g != nil:
		ev.Msg("each ChimeraX child runs in a cgroup of its own")
	}
	return nil
}

// release gives a session's place back.
func (sv *Supervisor) release(c *child) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.children[c.id] != c {
		return
	}
	delete(sv.children, c.id)
	sv.retire(c)
	if sv.perUser[c.owner]--; sv.perUser[c.owner] <= 0 {
		delete(sv.perUser, c.owner)
	}
	c.cancelStart()
	sv.grantLocked() // the place goes to the queue first
}
