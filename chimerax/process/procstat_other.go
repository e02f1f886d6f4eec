//go:build !linux

package process

// readGroups has no /proc to read here: children's usage is unknown.
func readGroups(leaders []int) map[int]GroupUsage { return nil }

func readGroupTrees(leaders []int) (map[int]GroupUsage, bool) { return nil, true }

// PhysicalMemory returns the machine's physical memory in bytes, or 0 if
// it cannot tell (here it cannot).
func PhysicalMemory() int64 { return 0 }
