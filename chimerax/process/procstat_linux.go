package process

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// clockTicks is the kernel's USER_HZ, the unit of the times in
// /proc/<pid>/stat: 100 on every Linux architecture Go supports.
const clockTicks = 100

// procStat is the part of /proc/<pid>/stat that usage needs.
type procStat struct {
	pgrp     int
	cpuTicks uint64 // utime + stime + cutime + cstime
	rssPages int64
}

// readProcStat reads /proc/<pid>/stat.
func readProcStat(pid string) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procStat{}, false
	}
	return parseProcStat(b)
}

// parseProcStat parses the fields of a /proc/<pid>/stat line that usage
// needs. The command name (field 2) may hold spaces and parentheses; the
// fields after it start past the last ')'.
func parseProcStat(b []byte) (procStat, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	// f[0] is field 3 (state); field n is f[n-3].
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 {
		return procStat{}, false
	}
	var st procStat
	var err error
	if st.pgrp, err = strconv.Atoi(f[5-3]); err != nil {
		return procStat{}, false
	}
	for n := 14; n <= 17; n++ { // utime, stime, cutime, cstime
		t, err := strconv.ParseInt(f[n-3], 10, 64)
		if err != nil {
			return procStat{}, false
		}
		if t > 0 {
			st.cpuTicks += uint64(t)
		}
	}
	if st.rssPages, err = strconv.ParseInt(f[24-3], 10, 64); err != nil {
		return procStat{}, false
	}
	return st, true
}

// readGroups walks /proc once and sums, for each process group led by one
// of leaders, the resident memory of its members, with the leader's CPU
// time. Processes that left the group (setsid, setpgid) are not counted.
func readGroups(leaders []int) map[int]GroupUsage {
	want := make(map[int]bool, len(leaders))
	for _, pid := range leaders {
		want[pid] = true
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	page := int64(os.Getpagesize())
	out := make(map[int]GroupUsage, len(leaders))
	seen := make(map[int]bool, len(leaders))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readProcStat(e.Name())
		if !ok || !want[st.pgrp] {
			continue
		}
		g := out[st.pgrp]
		g.RSSBytes += st.rssPages * page
		if pid == st.pgrp {
			g.LeaderCPUSeconds = float64(st.cpuTicks) / clockTicks
			seen[pid] = true
		}
		out[st.pgrp] = g
	}
	for pgrp := range out {
		if !seen[pgrp] { // the leader is gone: its group is not a live child's
			delete(out, pgrp)
		}
	}
	return out
}

// PhysicalMemory returns the machine's physical memory in bytes, or 0 if
// it cannot tell.
func PhysicalMemory() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// readGroupTrees is readGroups for a few leaders that reads only each
// leader and its descendants (listed by /proc/<pid>/task/<tid>/children)
// instead of every process on the machine. A group member that is no
// descendant of its leader (its parent died) is missed; ok is false where
// the kernel does not list children.
func readGroupTrees(leaders []int) (usage map[int]GroupUsage, ok bool) {
	page := int64(os.Getpagesize())
	usage = make(map[int]GroupUsage, len(leaders))
	for _, leader := range leaders {
		lst, found := readProcStat(strconv.Itoa(leader))
		if !found || lst.pgrp != leader {
			continue // gone, or not a group's leader
		}
		g := GroupUsage{LeaderCPUSeconds: float64(lst.cpuTicks) / clockTicks}
		queue := []int{leader}
		for len(queue) > 0 && len(queue) < 10000 {
			pid := queue[0]
			queue = queue[1:]
			st, found := lst, true
			if pid != leader {
				st, found = readProcStat(strconv.Itoa(pid))
			}
			if !found {
				continue
			}
			if st.pgrp == leader {
				g.RSSBytes += st.rssPages * page
			}
			tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
			if err != nil {
				continue
			}
			for _, t := range tasks {
				b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/children")
				if errors.Is(err, fs.ErrNotExist) && pid == leader {
					return nil, false // no CONFIG_PROC_CHILDREN
				}
				for _, f := range strings.Fields(string(b)) {
					if c, err := strconv.Atoi(f); err == nil {
						queue = append(queue, c)
					}
				}
			}
		}
		usage[leader] = g
	}
	return usage, true
}
