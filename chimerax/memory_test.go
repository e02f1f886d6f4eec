package chimerax_test

import (
	"testing"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/process"
)

// TestUncompressedLimit: an upload may inflate to at most a tenth of the
// memory a child may use — chimerax.memory_max, else a quarter of the
// machine's — and never past the configured limit.
func TestUncompressedLimit(t *testing.T) {
	if got, want := chimerax.UncompressedLimit(1<<30, 512<<20), int64(512<<20)/10; got != want {
		t.Errorf("limit 1 GiB, memory_max 512 MiB: %d, want %d", got, want)
	}
	if got := chimerax.UncompressedLimit(10<<20, 512<<20); got != 10<<20 {
		t.Errorf("limit 10 MiB under the bound: %d, want it as set", got)
	}
	ram := process.PhysicalMemory()
	if ram == 0 {
		t.Skip("this platform does not tell its memory")
	}
	if got, want := chimerax.UncompressedLimit(1<<50, 0), ram/4/10; got != want {
		t.Errorf("no memory_max, %d bytes of memory: %d, want %d", ram, got, want)
	}
}
