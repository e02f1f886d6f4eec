package process

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A real line's shape, with a command name holding ") (" and spaces.
	line := "4242 (chimera) (x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 150 25 7 3 20 0 12 0 98765 812345344 20480 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, ok := parseProcStat([]byte(line))
	pgrp, ticks, rss := st.pgrp, st.cpuTicks, st.rssPages
	if !ok || pgrp != 4242 || ticks != 150+25+7+3 || rss != 20480 {
		t.Errorf("ParseProcStat = pgrp %d ticks %d rss %d ok %v, want 4242 185 20480 true", pgrp, ticks, rss, ok)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2"} {
		if _, ok := parseProcStat([]byte(bad)); ok {
			t.Errorf("ParseProcStat(%q) ok, want not", bad)
		}
	}
}

// TestGroupTreesMatchTheWalk: reading a group through its leader's process
// tree finds what a walk of all /proc finds: the leader's CPU and the
// resident memory of every member (here a shell and two children).
func TestGroupTreesMatchTheWalk(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	leader := cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(-leader, syscall.SIGKILL)
		cmd.Wait()
	})
	members := func() int {
		n := 0
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if st, ok := readProcStat(e.Name()); ok && st.pgrp == leader {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); members() < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the group has %d members, want 3", members())
		}
	}
	walk := readGroups([]int{leader})[leader]
	trees, ok := readGroupTrees([]int{leader, 1 << 30})
	if !ok {
		t.Skip("this kernel does not list children in /proc")
	}
	if walk.RSSBytes == 0 || trees[leader] != walk {
		t.Errorf("group %d through its tree = %+v, by a walk of /proc = %+v; want the same, not zero", leader, trees[leader], walk)
	}
	if _, found := trees[1<<30]; found {
		t.Error("a pid that does not exist has a usage")
	}
}
