//go:build linux

package process

import "testing"

// TestParseOOMKills reads the oom_kill count as Linux writes memory.events
// (Documentation/admin-guide/cgroup-v2.rst): the count, not oom_group_kill.
func TestParseOOMKills(t *testing.T) {
	for events, want := range map[string]int{
		"low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n": 1,
		"low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 3\n":  0,
		"oom_kill 17\n": 17,
		"":              0,
	} {
		if got := parseOOMKills(events); got != want {
			t.Errorf("ParseOOMKills(%q) = %d, want %d", events, got, want)
		}
	}
}
