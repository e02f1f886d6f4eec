//go:build linux

package chimerax_test

import (
	"context"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/store"
)

// BenchmarkStartReady measures a simulator child from start to REST-ready,
// two ways in the same run: "bare" is fork/exec of the same binary with the
// same arguments until its first HTTP answer; "supervisor" is Create with
// Wait, which adds the store records, the session directory, the output
// drain and the supervision. docs/performance.md compares the two.
func BenchmarkStartReady(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			c := startBare(b)
			c.run(b, "version")
			b.StopTimer()
			c.stop()
			b.StartTimer()
		}
	})

	// Children started directly: no sandbox, no adoption.
	b.Run("supervisor", func(b *testing.B) {
		benchmarkCreate(b, chimerax.OnRestartTerminate, chimerax.SandboxOff)
	})
	// With adopt, each child is started through its shim (one more process).
	b.Run("supervisor-adopt", func(b *testing.B) {
		benchmarkCreate(b, chimerax.OnRestartAdopt, chimerax.SandboxOff)
	})
	// The default: sandboxed, through a shim and a namespace init.
	b.Run("supervisor-sandboxed", func(b *testing.B) {
		benchmarkCreate(b, chimerax.OnRestartTerminate, chimerax.SandboxAuto)
	})
}

func benchmarkCreate(b *testing.B, onRestart, sandbox string) {
	{
		sv, _ := chimeraxtest.MustStartSupervisor(b, func(c *chimerax.Config) {
			c.MaxSessionsPerUser = 0
			c.OnRestart = onRestart
			c.Sandbox = sandbox
		})
		ctx := context.Background()
		for b.Loop() {
			rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "bench", Wait: true})
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if _, err := sv.Stop(ctx, rec.ID, store.ReasonDeleted); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
}

// BenchmarkRun measures one command round trip to a ready child.
func BenchmarkRun(b *testing.B) {
	sv, _ := chimeraxtest.MustStartSupervisor(b, nil)
	ctx := context.Background()
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "bench", Wait: true})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := sv.RunUnchecked(ctx, rec.ID, "version"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSweep measures one sweeper tick over 10,000 live sessions, none
// of them due: the tick reads the in-memory index only, never the store.
func BenchmarkSweep(b *testing.B) {
	sv, _ := chimeraxtest.MustStartSupervisor(b, func(c *chimerax.Config) {
		c.SweepInterval = time.Hour
		c.HealthInterval = 0
	})
	sv.AddIdleChildren(10000)
	b.ReportAllocs()
	for b.Loop() {
		if ended := sv.Sweep(); len(ended) != 0 {
			b.Fatalf("Sweep ended %d sessions, want none", len(ended))
		}
	}
	b.StopTimer()
	sv.RemoveChildren()
}
