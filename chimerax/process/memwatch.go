package process

import (
	"context"
	"sync"
	"syscall"
	"time"
)

// MemoryWatchInterval is how often a MemoryWatch samples its children.
const MemoryWatchInterval = 500 * time.Millisecond

// MemoryWatch bounds children's memory where no cgroup can (memory.max):
// every interval it sums the resident memory of each watched child's
// process group from /proc and SIGKILLs a group over its bound; the child
// then reports OOMKilled. Between two samples a child can go over its
// bound by what it allocates in that time. An address-space limit
// (RLIMIT_AS) would act at once, but it also stops runtimes that map far
// more than they use (Python's, Go's race detector), so it is not used.
type MemoryWatch struct {
	interval time.Duration
	mu       sync.Mutex
	procs    map[*Process]int64 // bound in bytes
}

// NewMemoryWatch returns a watch that samples every interval once Run.
func NewMemoryWatch(interval time.Duration) *MemoryWatch {
	return &MemoryWatch{interval: interval, procs: make(map[*Process]int64)}
}

// Add watches p, killing it once its group's resident memory passes max
// bytes; max <= 0 or a nil watch does nothing. p leaves the watch when it
// exits.
func (w *MemoryWatch) Add(p *Process, max int64) {
	if w == nil || max <= 0 || p == nil || p.pid <= 0 {
		return
	}
	w.mu.Lock()
	w.procs[p] = max
	w.mu.Unlock()
}

// Run samples the watched children until ctx ends.
func (w *MemoryWatch) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check()
		}
	}
}

// check samples every watched child once and kills those over their bound.
func (w *MemoryWatch) check() {
	w.mu.Lock()
	pids := make([]int, 0, len(w.procs))
	byPID := make(map[int]*Process, len(w.procs))
	for p := range w.procs {
		if p.Exited() {
			delete(w.procs, p)
			continue
		}
		pids = append(pids, p.pid)
		byPID[p.pid] = p
	}
	w.mu.Unlock()
	if len(pids) == 0 {
		return
	}
	for pid, g := range readGroups(pids) {
		p := byPID[pid]
		w.mu.Lock()
		max, watched := w.procs[p]
		over := watched && g.RSSBytes > max
		if over {
			delete(w.procs, p)
		}
		w.mu.Unlock()
		if over {
			p.overMemory.Store(g.RSSBytes)
			// SIGKILL only: Kill also waits for the reaping, which is
			// for whoever watches the child to do.
			p.signalGroup(syscall.SIGKILL)
		}
	}
}
