package chimerax

// ReadLog and ParseProcStat expose the log and /proc readers to the tests.
var (
	ReadLog       = readLog
	ParseProcStat = func(b []byte) (pgrp int, cpuTicks uint64, rssPages int64, ok bool) {
		st, ok := parseProcStat(b)
		return st.pgrp, st.cpuTicks, st.rssPages, ok
	}
)
