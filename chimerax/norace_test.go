//go:build linux && !race

package chimerax_test

const raceEnabled = false
