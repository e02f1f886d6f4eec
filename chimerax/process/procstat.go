package process

import (
	"sync"
	"time"
)

// GroupUsage is what one child's process group uses, from /proc.
type GroupUsage struct {
	// RSSBytes sums the resident memory of every process in the group.
	RSSBytes int64
	// LeaderCPUSeconds is the CPU time of the group's leader (the child)
	// and of the processes it has waited for: utime, stime, cutime and
	// cstime of /proc/<pid>/stat. It is what the kernel reports for the
	// child when it is reaped, so a total over live and ended children
	// never goes down.
	LeaderCPUSeconds float64
}

// usageCacheTTL is how long one walk of /proc serves Load and SessionStats.
const usageCacheTTL = time.Second

// UsageCache keeps the last walk of /proc, so that a scrape, a session list
// and a burst of session reads cost one walk a second at most.
type UsageCache struct {
	mu     sync.Mutex
	at     time.Time
	byPGID map[int]GroupUsage // by process group id, i.e. the child's pid
}

// Groups returns the usage of the process groups led by pids, walking
// /proc again if the last walk is older than usageCacheTTL or did not see
// one of them. A group whose leader is gone is missing from the result.
func (pc *UsageCache) Groups(pids []int) map[int]GroupUsage {
	if len(pids) == 0 {
		return nil
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	fresh := time.Since(pc.at) < usageCacheTTL
	for _, pid := range pids {
		if _, ok := pc.byPGID[pid]; !ok {
			fresh = false
		}
	}
	if !fresh {
		pc.byPGID, pc.at = readGroups(pids), time.Now()
	}
	out := make(map[int]GroupUsage, len(pids))
	for _, pid := range pids {
		if g, ok := pc.byPGID[pid]; ok {
			out[pid] = g
		}
	}
	return out
}
