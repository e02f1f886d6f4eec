package chimerax

import (
	"context"
	"strconv"
)

// RunUnchecked sends a command line to a session without the policy, for
// tests of the child's own behaviour (a command ChimeraX refuses, a
// sandboxed open of a URL). Only the test binary has it.
func (sv *Supervisor) RunUnchecked(ctx context.Context, id, command string) (*Result, error) {
	return sv.run(ctx, id, command, true)
}

// AddIdleChildren puts n started sessions without processes into the
// in-memory index, for benchmarks of the sweep over many sessions.
func (sv *Supervisor) AddIdleChildren(n int) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	now := sv.now()
	for i := range n {
		c := sv.newChild("bench-"+strconv.Itoa(i), "bench", 0, now, now)
		c.lastHealthy = now
		close(c.started)
		sv.children[c.id] = c
	}
}

// RemoveChildren empties the in-memory index, so that Close has nothing to stop.
func (sv *Supervisor) RemoveChildren() {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	clear(sv.children)
}

// RecyclePool runs the sweeper's pool recycling now.
func (sv *Supervisor) RecyclePool() { sv.recyclePool(sv.now()) }

// PoolIDs returns the session ids of the ready pool children.
func (sv *Supervisor) PoolIDs() []string {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	var ids []string
	for _, w := range sv.pool.ready {
		ids = append(ids, w.id)
	}
	return ids
}
