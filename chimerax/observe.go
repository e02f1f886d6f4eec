package chimerax

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chimerad/chimerad/chimerax/engine"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/store"
)

// Observer is told of session lifecycle events, for metrics. Its methods
// are called from the supervisor's goroutines, synchronously: they must be
// quick and safe for concurrent use. Set Supervisor.Observer before Open.
type Observer interface {
	// SessionCreated: a session record was made and its child is starting.
	SessionCreated()
	// SessionReady: a session became ready, d after it was created.
	SessionReady(d time.Duration)
	// SessionEnded: a session this supervisor ran ended for reason,
	// lifetime after it was created. Sessions that a previous daemon left
	// live and Reconcile ends are not reported.
	SessionEnded(reason store.Reason, lifetime time.Duration)
	// CommandDone: a command sent to a session's child finished with
	// outcome, d after it was sent.
	CommandDone(outcome CommandOutcome, d time.Duration)
	// QueueWaited: a create left the queue (QueueGranted, QueueTimeout,
	// QueueGone) after d, or found it full (QueueFull).
	QueueWaited(outcome string, d time.Duration)
}

// CommandOutcome is how a command sent to a child ended: a small fixed set,
// fit for a metric label.
type CommandOutcome string

// The outcomes of a command.
const (
	// OutcomeOK: ChimeraX ran the command without error.
	OutcomeOK CommandOutcome = "ok"
	// OutcomeError: ChimeraX ran the command and reported an error.
	OutcomeError CommandOutcome = "error"
	// OutcomeTimeout: no answer within the command timeout.
	OutcomeTimeout CommandOutcome = "timeout"
	// OutcomeCanceled: the caller gave up before the answer.
	OutcomeCanceled CommandOutcome = "canceled"
	// OutcomeFailed: the child did not answer, or not as ChimeraX does.
	OutcomeFailed CommandOutcome = "failed"
)

// commandOutcome classifies what Client.Run returned.
func commandOutcome(res *Result, err error) CommandOutcome {
	switch {
	case err == nil && res.OK():
		return OutcomeOK
	case err == nil:
		return OutcomeError
	case errors.Is(err, ErrCommandTimeout):
		return OutcomeTimeout
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	}
	return OutcomeFailed
}

// nopObserver is the Observer of a supervisor nobody watches.
type nopObserver struct{}

func (nopObserver) SessionCreated() {}

func (nopObserver) SessionReady(time.Duration) {}

func (nopObserver) SessionEnded(store.Reason, time.Duration) {}

func (nopObserver) CommandDone(CommandOutcome, time.Duration) {}
func (nopObserver) QueueWaited(string, time.Duration)         {}

func (sv *Supervisor) observer() Observer {
	if sv.Observer == nil {
		return nopObserver{}
	}
	return sv.Observer
}

// observeEnd reports the end of a session that finish has just recorded
// (err is the record's update error: nil only if this call ended it).
func (sv *Supervisor) observeEnd(rec store.Session, reason store.Reason, err error) {
	if err == nil {
		sv.observer().SessionEnded(reason, rec.TerminatedAt.Sub(rec.CreatedAt))
	}
}

// observeCommand reports a command's outcome.
func (sv *Supervisor) observeCommand(d time.Duration, res *Result, err error) {
	sv.observer().CommandDone(commandOutcome(res, err), d)
}

// monitor is the supervisor's bookkeeping for metrics and readiness.
// Its fields are guarded by Supervisor.mu.
type monitor struct {
	// opened is when Open started the sweeper.
	opened time.Time
	// retiredCPU is the CPU time, in seconds, of the children that have
	// ended, as the kernel reported it when they were reaped.
	retiredCPU float64
	// procs caches /proc readings of the children's process groups.
	procs process.UsageCache
}

// markOpen records that Open has started the sweeper.
func (sv *Supervisor) markOpen() {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.mon.opened = sv.now()
	// Adopted children answered during the reconcile; their health clock
	// starts now, at serving time, so a slow reconcile kills none.
	for _, c := range sv.children {
		c.lastHealthy = sv.mon.opened
	}
}

// retire adds an ended child's CPU time to the retired total, so that
// Load's CPU total never goes down when a child ends. Called with sv.mu
// held, as the child leaves the live set.
func (sv *Supervisor) retire(c *child) {
	if cpu, ok := exitedCPU(c.proc); ok {
		sv.mon.retiredCPU += cpu
	}
}

// exitedCPU returns the CPU time of a reaped child (itself and the
// processes it waited for), false if p has not been reaped.
func exitedCPU(p runner) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return p.CPUSeconds()
}

// Load is a snapshot of the supervisor's live sessions and what their
// children use.
type Load struct {
	// Sessions counts live sessions by state (starting, ready, stopping);
	// every live state is present.
	Sessions map[store.State]int
	// MaxSessions is limits.max_sessions; 0 means no cap.
	MaxSessions int
	// Queued counts the creates waiting for a place.
	Queued int
	// RSSBytes is the resident memory of the live children's process
	// groups: every process in each child's group, ChimeraX and whatever
	// it started.
	RSSBytes int64
	// CPUSeconds is the CPU time of every child this supervisor has run,
	// live and ended: each child itself and the processes it waited for.
	// It never decreases.
	CPUSeconds float64
	// LastSweep is when the idle sweeper last ran; zero before its first tick.
	LastSweep time.Time
}

// Load returns the current load. It reads /proc at most about once a
// second however often it is called (see procCache), and never the store.
func (sv *Supervisor) Load() Load {
	l := Load{
		Sessions:    map[store.State]int{store.StateStarting: 0, store.StateReady: 0, store.StateStopping: 0},
		MaxSessions: sv.cfg.MaxSessions,
	}
	var pids []int
	sv.mu.Lock()
	for _, c := range sv.children {
		l.Sessions[childState(c)]++
		p := liveProc(c)
		if cpu, ok := exitedCPU(p); ok {
			l.CPUSeconds += cpu // reaped, not yet released
		} else if p != nil && p.PID() > 0 { // a job's processes are on its node
			pids = append(pids, p.PID())
		}
	}
	l.CPUSeconds += sv.mon.retiredCPU
	l.LastSweep = sv.lastSweep
	l.Queued = len(sv.queue)
	sv.mu.Unlock()

	for _, g := range sv.mon.procs.Groups(pids) {
		l.RSSBytes += g.RSSBytes
		l.CPUSeconds += g.LeaderCPUSeconds
	}
	return l
}

// SessionStats returns what a live session's child has done and uses:
// commands run, its CPU time and resident memory, and its directory's
// disk usage as last measured (disk.go). ok is false if the
// session is not live in this supervisor. CPU and memory are zero until
// the child is ready.
func (sv *Supervisor) SessionStats(id string) (stats store.SessionStats, ok bool) {
	sv.mu.Lock()
	c := sv.children[id]
	if c == nil {
		sv.mu.Unlock()
		return stats, false
	}
	stats.Commands = c.commands
	p := liveProc(c)
	sv.mu.Unlock()
	sv.fillStats(&stats, p)
	stats.DiskBytes = sv.diskBytes(c)
	return stats, true
}

// fillStats adds child p's CPU time and memory to stats (nothing for nil).
func (sv *Supervisor) fillStats(stats *store.SessionStats, p runner) {
	if cpu, ok := exitedCPU(p); ok {
		stats.CPUSeconds = cpu
		return
	}
	if p != nil && p.PID() > 0 { // a Slurm job's processes are on its node
		g := sv.mon.procs.Groups([]int{p.PID()})[p.PID()]
		stats.CPUSeconds, stats.RSSBytes = g.LeaderCPUSeconds, g.RSSBytes
	}
}

// finalStats is what a session's record keeps of its child once it ends:
// the commands run and the child's CPU time.
func (sv *Supervisor) finalStats(c *child) *store.SessionStats {
	sv.mu.Lock()
	n := c.commands
	sv.mu.Unlock()
	cpu, _ := exitedCPU(c.proc)
	return &store.SessionStats{Commands: n, CPUSeconds: cpu}
}

// Check is the result of one readiness check.
type Check struct {
	// Name is store, engine, sweeper, capacity or accepting.
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Detail says what is wrong, or what was found.
	Detail string `json:"detail"`
	// Err is the failure's cause, for the log; never shown to clients.
	Err error `json:"-"`
}

// sweepSlack is how many sweep intervals may pass without a sweep before
// the sweeper counts as stalled.
const sweepSlack = 3

// Ready runs the readiness checks: the store is writable, the engine is
// still an executable file, the sweeper ran within three sweep intervals
// (counting from Open before its first tick), the supervisor is not
// closing, and it is under limits.max_sessions. Two more only report: the
// sandbox mode, and how children's memory and CPU are limited.
func (sv *Supervisor) Ready(ctx context.Context) []Check {
	var checks []Check
	add := func(name string, err error, ok string) {
		c := Check{Name: name, OK: err == nil, Detail: ok, Err: err}
		if err != nil {
			c.Detail = err.Error()
		}
		checks = append(checks, c)
	}

	if err := sv.db.Ping(ctx); err != nil {
		add("store", &checkError{"not writable", err}, "")
	} else if sv.db.Full() {
		add("store", &checkError{"the disk is full: the last write failed for want of space", store.ErrNoSpace}, "")
	} else {
		add("store", nil, "writable")
	}

	if sv.cfg.Launcher == LauncherSlurm {
		// ChimeraX is on the nodes: whether it runs shows when a job starts.
		add("engine", nil, sv.engine.Name+" on the Slurm nodes")
	} else if !engine.IsExecutable(sv.engine.Path) {
		add("engine", errors.New("not found or not executable"), "")
	} else {
		add("engine", nil, sv.engine.Name+" found")
	}

	now := sv.now()
	sv.mu.Lock()
	opened, last, closing, live := sv.mon.opened, sv.lastSweep, sv.closing, len(sv.children)
	sv.mu.Unlock()

	interval := sv.cfg.SweepInterval
	switch {
	case interval <= 0:
		add("sweeper", nil, "disabled")
	case opened.IsZero():
		add("sweeper", errors.New("not started"), "")
	default:
		ref := opened // the first tick comes one interval after Open
		if last.After(opened) {
			ref = last
		}
		if age := now.Sub(ref); age > sweepSlack*interval {
			if last.IsZero() {
				add("sweeper", fmt.Errorf("stalled: no sweep in %v since start (interval %v)", age.Round(time.Second), interval), "")
			} else {
				add("sweeper", fmt.Errorf("stalled: last ran %v ago (interval %v)", age.Round(time.Second), interval), "")
			}
		} else if last.IsZero() {
			add("sweeper", nil, "started, first sweep pending")
		} else {
			add("sweeper", nil, fmt.Sprintf("last ran %v ago", now.Sub(last).Round(time.Millisecond)))
		}
	}

	if sv.sandboxed {
		add("sandbox", nil, "namespaces: each child in a network namespace of its own, in a user namespace")
	} else {
		add("sandbox", nil, "off: children's REST ports are on the host's loopback")
	}
	l := sv.Limits()
	add("limits", nil, fmt.Sprintf("memory %s, cpu %s", l.Memory, l.CPU))

	if closing {
		add("accepting", errors.New("shutting down"), "")
	} else {
		add("accepting", nil, "accepting sessions")
	}

	if m := sv.cfg.MaxSessions; m > 0 && live >= m {
		add("capacity", fmt.Errorf("full: %d of %d live sessions", live, m), "")
	} else if m > 0 {
		add("capacity", nil, fmt.Sprintf("%d of %d live sessions", live, m))
	} else {
		add("capacity", nil, fmt.Sprintf("%d live sessions, no limit", live))
	}
	return checks
}

// checkError is a failed check: a short detail for the client, and the
// cause for the log.
type checkError struct {
	detail string
	err    error
}

func (e *checkError) Error() string { return e.detail }

func (e *checkError) Unwrap() error { return e.err }

// Usage returns what the sessions created since since (all if zero) used,
// from their records, with the live sessions' stats from their children;
// see store.DB.Usage.
func (sv *Supervisor) Usage(ctx context.Context, since time.Time) (store.Usage, error) {
	return sv.db.Usage(ctx, store.UsageQuery{Since: since, Now: sv.now(), LiveStats: sv.SessionStats})
}
