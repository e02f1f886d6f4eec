package chimerax

// ParseOOMKills reads a memory.events file's oom_kill count.
var ParseOOMKills = parseOOMKills
