//go:build !race

package chimerax_test

const raceEnabled = false
