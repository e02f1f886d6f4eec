//go:build !linux

package process

// readGroups has no /proc to read here: children's usage is unknown.
func readGroups(leaders []int) map[int]GroupUsage { return nil }
