package sim

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// knobs are the fault knobs read from the environment; see the package
// comment.
type knobs struct {
	fetchCache    string
	startDelay    time.Duration
	noPort        bool
	crashAfter    int // -1: never
	crashOn       string
	hangOn        string
	hogOn         string
	burnOn        string
	slow          time.Duration
	slowOn        string // "": every command is slow
	leak          int64  // bytes kept per command
	leakOn        string // "": every command leaks
	ignoreSIGTERM bool
	escape        bool
	flood         int64
	version       string
}

// knobsFromEnv reads the fault knobs through getenv.
func knobsFromEnv(getenv func(string) string) (knobs, error) {
	k := knobs{crashAfter: -1, version: newestRelease.version}
	var errs []error
	duration := func(name string, d *time.Duration) {
		if v := getenv(name); v != "" {
			var err error
			if *d, err = time.ParseDuration(v); err != nil || *d < 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a duration such as 500ms", name, v))
			}
		}
	}
	boolean := func(name string, b *bool) {
		if v := getenv(name); v != "" {
			var err error
			if *b, err = strconv.ParseBool(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: want 1 or 0", name, v))
			}
		}
	}
	count := func(name, what string, n *int64) {
		if v := getenv(name); v != "" {
			var err error
			if *n, err = strconv.ParseInt(v, 10, 64); err != nil || *n < 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a number of %s", name, v, what))
			}
		}
	}
	// needs reports a restricting knob (X_ON) set without the knob that
	// says how much (X).
	needs := func(on, onValue, amount string, set bool) {
		if onValue != "" && !set {
			errs = append(errs, fmt.Errorf("%s=%q needs %s", on, onValue, amount))
		}
	}
	k.fetchCache = getenv("CHIMERAX_SIM_FETCH_CACHE")
	duration("CHIMERAX_SIM_START_DELAY", &k.startDelay)
	boolean("CHIMERAX_SIM_NO_PORT", &k.noPort)
	var crashAfter int64 = -1
	count("CHIMERAX_SIM_CRASH_AFTER", "commands", &crashAfter)
	k.crashAfter = int(crashAfter)
	k.crashOn = getenv("CHIMERAX_SIM_CRASH_ON")
	k.hangOn = getenv("CHIMERAX_SIM_HANG_ON")
	k.hogOn = getenv("CHIMERAX_SIM_HOG_ON")
	k.burnOn = getenv("CHIMERAX_SIM_BURN_ON")
	duration("CHIMERAX_SIM_SLOW", &k.slow)
	k.slowOn = getenv("CHIMERAX_SIM_SLOW_ON")
	needs("CHIMERAX_SIM_SLOW_ON", k.slowOn, "CHIMERAX_SIM_SLOW=d", k.slow > 0)
	count("CHIMERAX_SIM_LEAK", "bytes", &k.leak)
	k.leakOn = getenv("CHIMERAX_SIM_LEAK_ON")
	needs("CHIMERAX_SIM_LEAK_ON", k.leakOn, "CHIMERAX_SIM_LEAK=n", k.leak > 0)
	boolean("CHIMERAX_SIM_IGNORE_SIGTERM", &k.ignoreSIGTERM)
	boolean("CHIMERAX_SIM_ESCAPE", &k.escape)
	count("CHIMERAX_SIM_FLOOD", "bytes", &k.flood)
	if v := getenv("CHIMERAX_SIM_VERSION"); v != "" {
		if _, ok := findRelease(v); !ok {
			errs = append(errs, fmt.Errorf("CHIMERAX_SIM_VERSION=%q: want %s", v, releaseNames()))
		}
		k.version = v
	}
	return k, errors.Join(errs...)
}

// invoke runs a parsed command, applying the fault knobs first. The caller
// holds s.exec.
func (s *simulator) invoke(inv *invocation) (result, error) {
	first, _, _ := strings.Cut(inv.call.name, " ")
	// on reports whether a knob naming a command word applies; an empty
	// word applies to every command when always is set.
	on := func(word string, always bool) bool {
		if word == "" {
			return always
		}
		return inv.typed == word || first == word
	}
	if inv.call.src == fromREST && s.knobs.crashAfter >= 0 {
		if s.restCommands >= s.knobs.crashAfter {
			s.crash(fmt.Errorf("chimerad simulator crashed after %d commands (CHIMERAX_SIM_CRASH_AFTER)", s.restCommands))
		}
		s.restCommands++
	}
	if on(s.knobs.crashOn, false) {
		s.crash(fmt.Errorf("chimerad simulator crashed running %s (CHIMERAX_SIM_CRASH_ON)", first))
	}
	if s.knobs.slow > 0 && on(s.knobs.slowOn, true) {
		time.Sleep(s.knobs.slow)
	}
	if on(s.knobs.hangOn, false) {
		for { // never returns; the timer keeps Go's deadlock detector quiet
			time.Sleep(time.Hour)
		}
	}
	if on(s.knobs.hogOn, false) {
		hogMemory()
	}
	if on(s.knobs.burnOn, false) {
		burnCPU(time.Second)
	}
	if s.knobs.leak > 0 && on(s.knobs.leakOn, true) {
		s.leaked = append(s.leaked, touched(s.knobs.leak))
	}
	return inv.cmd.run(s, &inv.call)
}

// burnCPU keeps one CPU busy for d of wall time, as a ChimeraX computing a
// surface would, so that a CPU limit on the child shows.
func burnCPU(d time.Duration) {
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for range 1000 {
			n++
		}
	}
	runtime.KeepAlive(n)
}

// hogMemory allocates and touches memory, as a ChimeraX loading a huge
// structure would, up to 4 GiB. Over a cgroup's memory.max the kernel kills
// it; under an address-space limit the Go runtime dies of it ("fatal error:
// runtime: out of memory"), as Python would raise MemoryError.
func hogMemory() {
	var hog [][]byte
	for len(hog) < 64 {
		hog = append(hog, touched(64<<20))
	}
	// Held a while, as ChimeraX holds what it loads, so that a watch
	// sampling the child's memory sees it too.
	time.Sleep(hogHold)
	runtime.KeepAlive(hog)
}

// hogHold is how long hogMemory holds what it allocated before it lets go.
const hogHold = 5 * time.Second

// touched allocates n bytes and writes to every page, so that they count
// as resident memory.
func touched(n int64) []byte {
	b := make([]byte, n)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b
}
