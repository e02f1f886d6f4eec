package chimerax

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/chimerad/chimerad/chimerax/fanout"
	"github.com/chimerad/chimerad/chimerax/policy"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/chimerax/slurm"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/store"
)

// Config holds the supervisor's settings. DefaultConfig gives sane values.
type Config struct {
	// DataDir holds sessions/<id>/ for each live session.
	DataDir string
	// StartTimeout bounds a child's start, up to its REST port line, and
	// the opening of the session's structure.
	StartTimeout time.Duration
	// StopGrace is how long a child gets after `exit`, and after SIGTERM.
	StopGrace time.Duration
	// CommandTimeout bounds one command sent to a child.
	CommandTimeout time.Duration
	// LogMaxBytes caps a child's output log file.
	LogMaxBytes int64
	// MaxSessions and MaxSessionsPerUser cap live sessions, counting those
	// still starting; 0 means no cap.
	MaxSessions        int
	MaxSessionsPerUser int
	// QueueSize creates may wait, in order, for a place at MaxSessions,
	// each for up to QueueTimeout (queue.go); 0 queues none.
	QueueSize    int
	QueueTimeout time.Duration
	// MaxUncompressedBytes bounds what a gzip upload may inflate to; the
	// supervisor bounds it further by memory (UncompressedLimit).
	MaxUncompressedBytes int64
	// IdleTimeout ends sessions without activity for that long; 0 never.
	IdleTimeout time.Duration
	// MaxIdleTimeout caps the idle timeout a create may ask for.
	MaxIdleTimeout time.Duration
	// SweepInterval is how often idle sessions are looked for.
	SweepInterval time.Duration
	// BusyTimeout bounds how long one stretch of commands in flight keeps a
	// session from counting as idle; 0 means for ever.
	BusyTimeout time.Duration
	// MaxLifetime ends even an active session that old; 0 means never.
	MaxLifetime time.Duration
	// Retention is how long ended session records are kept; 0 keeps them.
	Retention time.Duration
	// HealthInterval is how often each ready, idle child is probed; 0 never.
	HealthInterval time.Duration
	// HealthTimeout ends a child that has not answered a probe for that long.
	HealthTimeout time.Duration
	// OnRestart is what a starting daemon does with sessions a previous one
	// left live: OnRestartTerminate, OnRestartAdopt or OnRestartResume.
	// With adopt, children also outlive the daemon's own exit; with resume,
	// sessions with a checkpoint start again from it (reconcile.go).
	OnRestart string
	// Shim is the command that runs a session's shim, before its flags;
	// empty means this binary's chimerax-shim subcommand. ShimEnv is added
	// to the shim's environment only (tests use it to impersonate the shim).
	Shim    []string
	ShimEnv []string
	// Sandbox is SandboxAuto, SandboxRequired or SandboxOff: whether each
	// child runs in its own user and network namespaces. Auto falls back to
	// plain loopback, with a warning, where the kernel refuses them.
	Sandbox string
	// MemoryMax caps the resident memory of each child (with all it
	// starts), in bytes; 0 means none. It is the child cgroup's memory.max
	// where a cgroup with the memory controller is managed (Cgroup), else
	// a watch samples each child twice a second and kills one over it
	// (process.MemoryWatch). The default is DefaultMemoryPercent of the
	// machine's memory (MemoryShare).
	MemoryMax int64
	// CPUMax caps each child's CPU, in CPUs (1.5: one and a half), through
	// its cgroup's cpu.max; 0 means none. Without a cgroup with the cpu
	// controller it is not enforced, and Open says so.
	CPUMax float64
	// Cgroup is CgroupAuto, CgroupOff or the path of a cgroup v2 directory
	// chimerad may manage: where children get cgroups of their own. Auto
	// uses chimerad's own cgroup if it was delegated (systemd's Delegate=yes).
	Cgroup string
	// PDB downloads PDB entries for sessions; nil leaves the fetch to
	// ChimeraX itself (which a sandboxed ChimeraX cannot do).
	PDB *structure.Fetcher
	// SandboxProbe tells whether namespaces can be created; nil means
	// ProbeSandbox. Tests replace it to play a refusing kernel.
	SandboxProbe func() error
	// Allow is the command allow-list of Command (see Policy).
	Allow []string
	// IdleWarning is how long before its idle timeout a session's events
	// get an idle_warning; 0 sends none.
	IdleWarning time.Duration
	// CheckpointRetention is how long checkpoints of ended sessions are
	// kept; 0 keeps them for ever.
	CheckpointRetention time.Duration
	// ActivityFlushInterval is how often activity kept in memory is written
	// to the store (activity.go); a crash loses at most that much of it.
	ActivityFlushInterval time.Duration
	// KeepConnected: a session with an open event stream is never idle
	// (Jupyter's cull_connected=False); BusyTimeout and MaxLifetime still
	// apply.
	KeepConnected bool
	// PoolSize children are kept started and ready for creates to take;
	// PoolMaxAge recycles them (pool.go). 0 keeps no pool.
	PoolSize   int
	PoolMaxAge time.Duration
	// DiskMax bounds the bytes in a session's directory that commands
	// writing there may reach (disk.go); 0 means no bound.
	DiskMax int64
	// Launcher is LauncherLocal (each ChimeraX a child process) or
	// LauncherSlurm (each ChimeraX a Slurm job, configured by Slurm).
	Launcher string
	Slurm    SlurmConfig
}

// SlurmConfig configures LauncherSlurm (launch_slurm.go).
type SlurmConfig struct {
	// Partition and Account are the jobs' (empty: Slurm's defaults).
	Partition, Account string
	// TimeLimit, CPUs and Memory (bytes) are each job's limits; 0 leaves
	// Slurm's defaults.
	TimeLimit time.Duration
	CPUs      int
	Memory    int64
	// ExtraArgs are more sbatch options, checked (slurm.CheckExtraArgs)
	// and passed as arguments, never through a shell.
	ExtraArgs []string
	// ChimeraXPath is ChimeraX on the nodes; SlurmSimulator runs the
	// built-in simulator from chimerad on the nodes. The caller builds the
	// supervisor's Engine from it.
	ChimeraXPath string
	// ChimeradPath is chimerad on the nodes, which runs the node agent;
	// empty means this daemon's own path.
	ChimeradPath string
	// SessionRoot is a directory on the file system shared by this host
	// and the nodes: session directories (and checkpoints) live under it.
	SessionRoot string
	// StartTimeout covers a job's wait in the queue and its start.
	StartTimeout time.Duration
	// CommandTimeout bounds each Slurm command (they hang while
	// slurmctld is down).
	CommandTimeout time.Duration
}

// SlurmSimulator as SlurmConfig.ChimeraXPath runs the simulator.
const SlurmSimulator = "simulator"

// Sandbox modes (Config.Sandbox).
const (
	SandboxAuto     = "auto"
	SandboxRequired = "required"
	SandboxOff      = "off"
)

// What a starting daemon does with sessions left live (Config.OnRestart).
const (
	OnRestartTerminate = "terminate"
	OnRestartAdopt     = "adopt"
	// OnRestartResume: start each session the previous daemon shut down
	// (or died with) again from its checkpoint, under the same id.
	OnRestartResume = "resume"
)

// DefaultConfig returns the supervisor's defaults for dataDir.
func DefaultConfig(dataDir string) Config {
	cfg := Config{
		DataDir:              dataDir,
		StartTimeout:         60 * time.Second,
		StopGrace:            10 * time.Second,
		CommandTimeout:       60 * time.Second,
		LogMaxBytes:          10 << 20,
		MaxSessions:          32,
		MaxSessionsPerUser:   4,
		QueueSize:            16,
		QueueTimeout:         30 * time.Second,
		MaxUncompressedBytes: 1 << 30,
		IdleTimeout:          30 * time.Minute,
		MaxIdleTimeout:       24 * time.Hour,
		SweepInterval:        30 * time.Second,
		Retention:            7 * 24 * time.Hour,
		HealthInterval:       30 * time.Second,
		HealthTimeout:        90 * time.Second,
		OnRestart:            OnRestartTerminate,
		Sandbox:              SandboxAuto,
		Cgroup:               CgroupAuto,
		Allow:                slices.Clone(policy.DefaultAllow),
		IdleWarning:          2 * time.Minute,
		CheckpointRetention:  7 * 24 * time.Hour,
	}
	cfg.ActivityFlushInterval = 5 * time.Second
	cfg.PoolMaxAge = time.Hour
	cfg.DiskMax = 1 << 30
	cfg.MemoryMax = MemoryShare(DefaultMemoryPercent)
	cfg.Launcher = LauncherLocal
	cfg.Slurm = SlurmConfig{CPUs: 1, StartTimeout: 10 * time.Minute, CommandTimeout: 15 * time.Second}
	return cfg
}

// Supervisor runs one ChimeraX child per live session: it starts them,
// relays commands, notices when they die, ends idle ones, and stops them
// all on Close. Children live as long as the supervisor, never as long as
// the request that created them.
type Supervisor struct {
	db     *store.DB
	engine Engine
	cfg    Config

	// Logger receives one line per lifecycle event.
	Logger zerolog.Logger
	// clock is the time source; SetClock replaces it (tests control time).
	clock atomic.Pointer[func() time.Time]
	// version is the engine's, once probeVersion has learnt it.
	version atomic.Pointer[string]
	// Observer, if set, is told of lifecycle events (observe.go).
	Observer Observer

	ctx       context.Context // ends when Close begins
	cancel    context.CancelFunc
	wg        sync.WaitGroup // every goroutine the supervisor starts
	sweepDone chan struct{}  // closed when the sweeper has stopped
	wake      chan struct{}  // wakes the sweeper (wakeSweeper)
	sweepAt   atomic.Int64   // when the sweeper means to look next, unix ns; 0 while sweeping

	mu        sync.Mutex
	closing   bool
	sandboxed bool             // decided by Open
	cg        *process.Cgroups // decided by Open; nil: no cgroups
	// memWatch bounds children's memory where no cgroup can; decided by
	// Open, nil where memory.max does it or there is no bound.
	memWatch *process.MemoryWatch
	// zygote starts sandboxed children that need no shim; decided by
	// Open, nil if there are none.
	zygote    *process.Zygote
	lastSweep time.Time
	children  map[string]*child // live sessions, by id
	perUser   map[string]int
	lastPurge time.Time // of old checkpoints
	// inSessionDir matches a session directory's prefix in a text (Public).
	inSessionDir *regexp.Regexp
	// unended are sessions of a previous daemon a full disk kept
	// Reconcile from marking ended (reconcile.go).
	unended []string
	mon     monitor // metrics and readiness bookkeeping (observe.go)

	dirty map[string]struct{} // sessions with activity not yet flushed (activity.go)
	pool  pool                // warm children (pool.go)
	queue []*waiter           // creates waiting for a place (queue.go)

	cluster *slurm.Cluster // the jobs' limits, with LauncherSlurm
}

// child is the supervisor's view of one live session.
type child struct {
	id, owner   string
	idleTimeout time.Duration
	startCtx    context.Context // ends when the start is to be abandoned
	cancelStart context.CancelFunc

	started  chan struct{} // closed once the start succeeded or failed
	startErr error         // why the start failed; read after started

	// Set once started is closed and startErr is nil; a Restart replaces
	// them, under Supervisor.mu (read them with handle where it may run).
	proc   runner
	client *Client
	warm   *warmChild // the pool child it took, if any (pool.go)

	created time.Time // for MaxLifetime

	// Guarded by Supervisor.mu.
	lastActivity time.Time
	busy         int           // commands in flight
	busySince    time.Time     // when busy last rose from 0
	lastHealthy  time.Time     // when the child last answered (a probe or a command)
	probing      bool          // a health probe is in flight
	commands     int64         // commands sent to the child
	ending       bool          // someone has claimed the end of this session
	ended        chan struct{} // closed once the end is recorded

	events       *fanout.Topic[Event] // the session's event stream (events.go)
	idleWarned   time.Time            // the last activity of the idle stretch warned about
	endScheduled bool                 // the sweeper is ending it (guarded by Supervisor.mu)
	restarting   bool                 // Restart is replacing its child (guarded by Supervisor.mu)
	openCmd      string               // what opened its structure at start, for Restart

	// diskMu makes the commands that write into the session directory
	// run one at a time, each between its two quota checks (disk.go).
	diskMu sync.Mutex
	// diskBytes is the directory's usage when last measured, if
	// diskMeasured (guarded by Supervisor.mu).
	diskBytes    int64
	diskMeasured bool

	// queuePos is the session's place among the partition's pending jobs
	// while its Slurm job waits (guarded by Supervisor.mu).
	queuePos int
}

// NewSupervisor returns a supervisor that starts engine for each session
// and records sessions in db. Call Close to stop every child.
func NewSupervisor(db *store.DB, engine Engine, cfg Config) *Supervisor {
	// Children are found again by their working directory, which the
	// kernel reports as an absolute path.
	if abs, err := filepath.Abs(cfg.DataDir); err == nil {
		cfg.DataDir = abs
	}
	if cfg.Slurm.SessionRoot != "" {
		if abs, err := filepath.Abs(cfg.Slurm.SessionRoot); err == nil {
			cfg.Slurm.SessionRoot = abs
		}
	}
	if len(cfg.Shim) == 0 {
		if self, err := os.Executable(); err == nil {
			cfg.Shim = []string{self, process.ShimCommand}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Supervisor{
		db:           db,
		engine:       engine,
		cfg:          cfg,
		Logger:       zerolog.Nop(),
		ctx:          ctx,
		cancel:       cancel,
		children:     make(map[string]*child),
		wake:         make(chan struct{}, 1),
		perUser:      make(map[string]int),
		inSessionDir: regexp.MustCompile(regexp.QuoteMeta(filepath.Join(sharedRoot(cfg), "sessions")) + `[/\\][0-9a-f-]+[/\\]?`),
		cluster:      newCluster(cfg.Slurm),
	}
}

// sharedRoot is where session directories and checkpoints live: the data
// dir, or with LauncherSlurm the session root the nodes share.
func sharedRoot(cfg Config) string {
	if cfg.Launcher == LauncherSlurm && cfg.Slurm.SessionRoot != "" {
		return cfg.Slurm.SessionRoot
	}
	return cfg.DataDir
}

// sessionsDir holds a directory for each live session.
func (sv *Supervisor) sessionsDir() string { return filepath.Join(sharedRoot(sv.cfg), "sessions") }

// Engine returns the program the supervisor starts.
func (sv *Supervisor) Engine() Engine { return sv.engine }

// Config returns the supervisor's settings.
func (sv *Supervisor) Config() Config { return sv.cfg }

func (sv *Supervisor) now() time.Time {
	if f := sv.clock.Load(); f != nil {
		return (*f)().UTC()
	}
	return time.Now().UTC()
}

// SetClock makes now the supervisor's clock (time.Now by default): tests
// control time with it. Safe while the supervisor runs.
func (sv *Supervisor) SetClock(now func() time.Time) { sv.clock.Store(&now) }

func (sv *Supervisor) sessionDir(id string) string {
	return filepath.Join(sv.sessionsDir(), id)
}

// liveProc returns c's child once its start has completed, nil before.
// Reading c.proc is safe only after c.started is closed. Called with sv.mu held.
func liveProc(c *child) runner {
	select {
	case <-c.started:
		return c.proc
	default:
		return nil
	}
}

// childState is the state of a live child as the supervisor sees it.
func childState(c *child) store.State {
	switch {
	case c.ending:
		return store.StateStopping
	case liveProc(c) == nil:
		return store.StateStarting
	}
	return store.StateReady
}

// Cgroup modes (Config.Cgroup); anything else is the path of a cgroup v2
// directory that chimerad may manage.
const (
	CgroupAuto = process.CgroupAuto
	CgroupOff  = process.CgroupOff
)

// newChild makes the supervisor's view of a live session, not yet in the
// index: created is its record's creation (for MaxLifetime), active its
// last activity.
func (sv *Supervisor) newChild(id, owner string, idle time.Duration, created, active time.Time) *child {
	ctx, cancel := context.WithCancel(sv.ctx)
	c := &child{
		id:           id,
		owner:        owner,
		idleTimeout:  idle,
		startCtx:     ctx,
		cancelStart:  cancel,
		started:      make(chan struct{}),
		ended:        make(chan struct{}),
		created:      created,
		lastActivity: active,
	}
	c.events = sv.newTopic(c)
	return c
}

// handle returns c's child and client as they are now: a Restart may
// replace them.
func (sv *Supervisor) handle(c *child) (runner, *Client) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return c.proc, c.client
}
