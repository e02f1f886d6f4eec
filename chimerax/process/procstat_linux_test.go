package process

import "testing"

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
