package chimerax

import "github.com/chimerad/chimerad/chimerax/process"

// structureMemoryFactor is how many bytes of memory a byte of structure
// text takes once opened, at most: the simulator's 400 MiB of ATOM lines
// took over 4 GiB.
const structureMemoryFactor = 10

// UncompressedLimit is the most an upload may inflate to here:
// Config.MaxUncompressedBytes bounded by memory (see the function).
func (sv *Supervisor) UncompressedLimit() int64 {
	return UncompressedLimit(sv.cfg.MaxUncompressedBytes, sv.cfg.MemoryMax)
}

// UncompressedLimit bounds what an upload may inflate to by the memory a
// child may use: the smaller of max and a tenth of that memory, which is
// memoryMax (chimerax.memory_max) if set, else a quarter of the machine's.
// So one in-limit upload cannot take the host. max is returned as it is
// when the machine's memory is unknown.
func UncompressedLimit(max, memoryMax int64) int64 {
	budget := memoryMax
	if budget <= 0 {
		budget = process.PhysicalMemory() / 4
	}
	if budget <= 0 {
		return max
	}
	return min(max, budget/structureMemoryFactor)
}

// DefaultMemoryPercent is the default bound of each child's memory
// (chimerax.memory_max) as a share of the machine's: one session, however
// large what it opens, leaves three quarters of the host to the others.
const DefaultMemoryPercent = 25

// MinMemoryMax is the least memory bound a child may have: ChimeraX does
// not start in less.
const MinMemoryMax = 256 << 20

// MemoryShare returns percent of the machine's physical memory, but at
// least MinMemoryMax; 0 (no bound) where the machine's memory is unknown.
func MemoryShare(percent float64) int64 {
	ram := process.PhysicalMemory()
	if ram <= 0 || percent <= 0 {
		return 0
	}
	return max(int64(float64(ram)*percent/100), MinMemoryMax)
}
