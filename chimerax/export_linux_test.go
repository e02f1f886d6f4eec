package chimerax

// ParseOOMKills reads a memory.events file's oom_kill count.
var ParseOOMKills = parseOOMKills

// Delegated and OwnCgroup expose how the auto mode finds its cgroup.
var (
	Delegated = delegated
	OwnCgroup = ownCgroup
)
