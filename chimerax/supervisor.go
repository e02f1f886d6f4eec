package chimerax

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/chimerad/chimerad/chimerax/policy"
	"github.com/chimerad/chimerad/chimerax/process"
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
	// MaxUncompressedBytes bounds what a gzip upload may inflate to.
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
	// left live: OnRestartTerminate or OnRestartAdopt. With adopt, children
	// also outlive the daemon's own exit.
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
	// MemoryMax caps each child's memory, in bytes; 0 means none. It is
	// the child cgroup's memory.max where a cgroup with the memory
	// controller is managed (Cgroup), else the address space (RLIMIT_AS).
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
	// PoolSize children are kept started and ready for creates to take;
	// PoolMaxAge recycles them (pool.go). 0 keeps no pool.
	PoolSize   int
	PoolMaxAge time.Duration
}

// Sandbox modes (Config.Sandbox).
const (
	SandboxAuto     = "auto"
	SandboxRequired = "required"
	SandboxOff      = "off"
)

// ErrSandbox: sandbox required, but this system cannot create it.
var ErrSandbox = errors.New("chimerax: sandbox unavailable")

// ErrCgroup: chimerax.cgroup names a directory chimerad cannot use.
var ErrCgroup = errors.New("chimerax: cgroup unavailable")

// What a starting daemon does with sessions left live (Config.OnRestart).
const (
	OnRestartTerminate = "terminate"
	OnRestartAdopt     = "adopt"
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
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Observer, if set, is told of lifecycle events (observe.go).
	Observer Observer

	ctx    context.Context // ends when Close begins
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the supervisor starts
	sweep  chan struct{}  // closed when the sweeper has stopped

	mu        sync.Mutex
	closing   bool
	sandboxed bool             // decided by Open
	cg        *process.Cgroups // decided by Open; nil: no cgroups
	lastSweep time.Time
	children  map[string]*child // live sessions, by id
	perUser   map[string]int
	lastPurge time.Time // of old checkpoints
	mon       monitor   // metrics and readiness bookkeeping (observe.go)

	dirty map[string]struct{} // sessions with activity not yet flushed (activity.go)
	pool  pool                // warm children (pool.go)
}

// child is the supervisor's view of one live session.
type child struct {
	id, owner   string
	idleTimeout time.Duration
	startCtx    context.Context // ends when the start is to be abandoned
	cancelStart context.CancelFunc

	started  chan struct{} // closed once the start succeeded or failed
	startErr error         // why the start failed; read after started

	// Set once started is closed and startErr is nil.
	proc   *process.Process
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

	events           sessionEvents // subscribers to the session's events
	idleCheckpointed bool          // the sweeper has begun its checkpoint; guarded by Supervisor.mu
}

// NewSupervisor returns a supervisor that starts engine for each session
// and records sessions in db. Call Close to stop every child.
func NewSupervisor(db *store.DB, engine Engine, cfg Config) *Supervisor {
	// Children are found again by their working directory, which the
	// kernel reports as an absolute path.
	if abs, err := filepath.Abs(cfg.DataDir); err == nil {
		cfg.DataDir = abs
	}
	if len(cfg.Shim) == 0 {
		if self, err := os.Executable(); err == nil {
			cfg.Shim = []string{self, process.ShimCommand}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Supervisor{
		db:       db,
		engine:   engine,
		cfg:      cfg,
		Logger:   zerolog.Nop(),
		Now:      time.Now,
		ctx:      ctx,
		cancel:   cancel,
		children: make(map[string]*child),
		perUser:  make(map[string]int),
	}
}

// Engine returns the program the supervisor starts.
func (sv *Supervisor) Engine() Engine { return sv.engine }

// Config returns the supervisor's settings.
func (sv *Supervisor) Config() Config { return sv.cfg }

func (sv *Supervisor) now() time.Time { return sv.Now().UTC() }

func (sv *Supervisor) sessionDir(id string) string {
	return filepath.Join(sv.cfg.DataDir, "sessions", id)
}

// CreateRequest describes a new session.
type CreateRequest struct {
	Owner string
	Name  string
	// PDBID, if set, is an entry ChimeraX fetches and opens.
	PDBID string
	// Upload, if set, is a checked structure file (see structure.SaveUpload) that
	// Create moves into the session directory and opens.
	Upload *structure.Upload
	// IdleTimeout asks for this session's own idle timeout; 0 takes the
	// default. It may not exceed Config.MaxIdleTimeout.
	IdleTimeout time.Duration
	// Wait makes Create return only once the session is ready or failed
	// (or ctx ends); otherwise it returns as soon as the child is starting.
	Wait bool
	// ResumeFrom, if set, is an ended session of Owner whose latest
	// checkpoint the new session opens (see Checkpoint).
	ResumeFrom string
}

const maxNameBytes = 200

// Create starts a new session for req.Owner. A request refused for its
// input or a limit leaves no record, no file and no process. Once the
// record exists, a failed start ends it `failed` with the reason, and Create
// (with Wait) returns that record together with ErrStartFailed,
// ErrStartTimeout, ErrOpenFailed or ErrOutOfMemory.
func (sv *Supervisor) Create(ctx context.Context, req CreateRequest) (store.Session, error) {
	rec := store.Session{
		ID:        uuid.NewString(),
		Owner:     req.Owner,
		Name:      req.Name,
		State:     store.StateStarting,
		Engine:    sv.engine.Name,
		Structure: store.Structure{Source: store.SourceNone},
	}
	if len(req.Name) > maxNameBytes || strings.ContainsFunc(req.Name, isControl) {
		return store.Session{}, fmt.Errorf("%w: name: at most %d bytes, no control characters", ErrInvalid, maxNameBytes)
	}
	if req.IdleTimeout < 0 || (sv.cfg.MaxIdleTimeout > 0 && req.IdleTimeout > sv.cfg.MaxIdleTimeout) {
		return store.Session{}, fmt.Errorf("%w: idle timeout %v: want between 0 and %v", ErrInvalid, req.IdleTimeout, sv.cfg.MaxIdleTimeout)
	}
	rec.IdleTimeout = req.IdleTimeout
	if req.PDBID != "" && req.Upload != nil {
		return store.Session{}, fmt.Errorf("%w: give a pdb_id or a file, not both", ErrInvalid)
	}
	if req.PDBID != "" {
		id, err := structure.NormalizePDBID(req.PDBID)
		if err != nil {
			return store.Session{}, err
		}
		rec.Structure = store.Structure{Source: store.SourcePDB, PDBID: id}
	}

	resume, err := sv.resumeSource(ctx, req, &rec)
	if err != nil {
		return store.Session{}, err
	}

	c, err := sv.reserve(rec.ID, req.Owner, rec.IdleTimeout)
	if err != nil {
		return store.Session{}, err
	}
	if c.warm != nil { // the record takes the pool child's id and directory
		rec.ID, rec.FromPool = c.warm.id, true
	}
	created := false
	dir := sv.sessionDir(rec.ID)
	defer func() {
		if !created {
			if c.warm != nil {
				c.warm.proc.Kill()
			}
			os.RemoveAll(dir)
			sv.release(c)
		}
	}()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return store.Session{}, fmt.Errorf("create session dir: %w", err)
	}
	var openPath string
	if rec.Structure.Source == store.SourcePDB && sv.cfg.PDB != nil {
		cached, err := sv.cfg.PDB.Fetch(ctx, rec.Structure.PDBID)
		if err != nil {
			return store.Session{}, err
		}
		openPath = filepath.Join(dir, "structure.cif.gz")
		if err := linkOrCopy(cached, openPath); err != nil {
			return store.Session{}, fmt.Errorf("create session: %w", err)
		}
		rec.Structure.Format = string(structure.FormatMMCIF)
	}
	if u := req.Upload; u != nil {
		openPath = filepath.Join(dir, "structure"+filepath.Ext(strings.TrimSuffix(u.Path, ".gz")))
		if u.Gzip {
			openPath += ".gz"
		}
		if err := os.Rename(u.Path, openPath); err != nil {
			return store.Session{}, fmt.Errorf("create session: move upload: %w", err)
		}
		rec.Structure = store.Structure{
			Source:    store.SourceUpload,
			Filename:  u.Filename,
			Format:    string(u.Format),
			SizeBytes: u.Size,
		}
	}
	if resume != nil {
		if openPath, err = resume.copyInto(dir); err != nil {
			return store.Session{}, err
		}
	}

	now := sv.now()
	rec.CreatedAt, rec.LastActivityAt = now, now
	rec.Process = &store.Process{Dir: dir}
	// A pool child is ready already: a create that waits writes its record
	// once, when the structure is open (start), saving a write and its
	// fsync. If the daemon dies in between, Reconcile kills the unrecorded
	// child by its session id, and the client never got an answer.
	unrecorded := c.warm != nil && req.Wait
	if !unrecorded {
		if err := sv.db.CreateSession(ctx, &rec); err != nil {
			return store.Session{}, fmt.Errorf("create session: %w", err)
		}
	}
	created = true
	sv.Logger.Info().Str("session_id", rec.ID).Str("user", rec.Owner).Str("state", string(rec.State)).Msg("session created")
	sv.observer().SessionCreated()

	sv.wg.Add(1)
	go func() {
		defer sv.wg.Done()
		sv.start(c, rec, openPath, unrecorded)
	}()
	if !req.Wait {
		return rec, nil
	}
	select {
	case <-c.started:
	case <-ctx.Done():
		return sv.Session(context.WithoutCancel(ctx), rec.ID)
	}
	got, err := sv.Session(context.WithoutCancel(ctx), rec.ID)
	if err != nil {
		return got, err
	}
	return got, c.startErr
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// reserve takes a place for a new session under the limits.
func (sv *Supervisor) reserve(id, owner string, idle time.Duration) (*child, error) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.closing {
		return nil, ErrShuttingDown
	}
	if sv.cfg.MaxSessionsPerUser > 0 && sv.perUser[owner] >= sv.cfg.MaxSessionsPerUser {
		return nil, fmt.Errorf("%w: limits.max_sessions_per_user (%d live sessions for %s)", ErrLimit, sv.cfg.MaxSessionsPerUser, owner)
	}
	// A pool child's place becomes the session's; pool children count.
	warm := sv.takeWarm()
	if warm != nil {
		id = warm.id
	} else if sv.cfg.MaxSessions > 0 && len(sv.children)+sv.pool.count() >= sv.cfg.MaxSessions {
		return nil, fmt.Errorf("%w: limits.max_sessions (%d live sessions in all)", ErrLimit, sv.cfg.MaxSessions)
	}
	ctx, cancel := context.WithCancel(sv.ctx)
	c := &child{
		warm:         warm,
		id:           id,
		owner:        owner,
		idleTimeout:  idle,
		startCtx:     ctx,
		cancelStart:  cancel,
		started:      make(chan struct{}),
		ended:        make(chan struct{}),
		created:      sv.now(),
		lastActivity: sv.now(),
	}
	sv.children[id] = c
	sv.perUser[owner]++
	return c, nil
}

// release gives a session's place back.
func (sv *Supervisor) release(c *child) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.children[c.id] != c {
		return
	}
	delete(sv.children, c.id)
	sv.retire(c)
	if sv.perUser[c.owner]--; sv.perUser[c.owner] <= 0 {
		delete(sv.perUser, c.owner)
	}
	c.cancelStart()
}

// linkOrCopy puts a cached file into a session directory: a hard link
// where the file system allows, else a copy.
func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Cgroup modes (Config.Cgroup); anything else is the path of a cgroup v2
// directory that chimerad may manage.
const (
	CgroupAuto = process.CgroupAuto
	CgroupOff  = process.CgroupOff
)
