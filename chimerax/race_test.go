//go:build linux && race

package chimerax_test

// raceEnabled: this test binary, and so every child it impersonates, runs
// under the race detector, whose shadow memory needs far more address
// space than any memory limit a test would set.
const raceEnabled = true
