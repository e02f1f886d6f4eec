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
