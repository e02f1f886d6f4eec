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

// maxTreeReads is how many stale or unseen children are read through
// their own process trees rather than by one walk of all /proc.
const maxTreeReads = 4

// UsageCache keeps what the last reads of /proc found, so that a scrape, a
// session list and a burst of session reads cost one walk a second at
// most, and a read of one new child costs no walk at all.
type UsageCache struct {
	mu     sync.Mutex
	byPGID map[int]usageEntry // by process group id, i.e. the child's pid
}

type usageEntry struct {
	g    GroupUsage
	live bool // the group's leader was there
	at   time.Time
}

// Groups returns the usage of the process groups led by pids, read again
// for those last read more than usageCacheTTL ago: through their process
// trees if they are few, else by one walk of /proc. A group whose leader
// is gone is missing from the result.
func (pc *UsageCache) Groups(pids []int) map[int]GroupUsage {
	if len(pids) == 0 {
		return nil
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	now := time.Now()
	var stale []int
	for _, pid := range pids {
		if e, ok := pc.byPGID[pid]; !ok || now.Sub(e.at) >= usageCacheTTL {
			stale = append(stale, pid)
		}
	}
	if len(stale) > 0 {
		var got map[int]GroupUsage
		ok := false
		if len(stale) <= maxTreeReads {
			got, ok = readGroupTrees(stale)
		}
		if !ok || pc.byPGID == nil || len(pc.byPGID) > 4*len(pids)+64 {
			if !ok { // one walk serves them all
				got, stale = readGroups(pids), pids
			}
			old := pc.byPGID
			pc.byPGID = make(map[int]usageEntry, len(pids))
			for _, pid := range pids { // drop what nobody asks for any more
				if e, found := old[pid]; found {
					pc.byPGID[pid] = e
				}
			}
		}
		for _, pid := range stale {
			g, live := got[pid]
			pc.byPGID[pid] = usageEntry{g: g, live: live, at: now}
		}
	}
	out := make(map[int]GroupUsage, len(pids))
	for _, pid := range pids {
		if e := pc.byPGID[pid]; e.live {
			out[pid] = e.g
		}
	}
	return out
}
