package cmd

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/policy"
	"github.com/chimerad/chimerad/chimerax/slurm"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/server"
)

// Config is chimerad's whole configuration. Every key a.b_c can be set in
// the config file, as the environment variable CHIMERAD_A_B_C, or (for a
// few) by a flag; flags win over the environment, which wins over the file,
// which wins over DefaultConfig.
type Config struct {
	DataDir  string         `mapstructure:"data_dir"`
	Log      LogConfig      `mapstructure:"log"`
	HTTP     HTTPConfig     `mapstructure:"http"`
	CORS     CORSConfig     `mapstructure:"cors"`
	ChimeraX ChimeraXConfig `mapstructure:"chimerax"`
	Commands CommandsConfig `mapstructure:"commands"`
	Session  SessionConfig  `mapstructure:"session"`
	Limits   LimitsConfig   `mapstructure:"limits"`
	Pool     PoolConfig     `mapstructure:"pool"`
	PDB      PDBConfig      `mapstructure:"pdb"`
	Metrics  MetricsConfig  `mapstructure:"metrics"`
	MCP      MCPConfig      `mapstructure:"mcp"`
	Slurm    SlurmConfig    `mapstructure:"slurm"`
}

// SlurmConfig configures sessions as Slurm jobs (chimerax.launcher: slurm).
type SlurmConfig struct {
	// Partition and Account are the jobs' (empty: Slurm's defaults).
	Partition string `mapstructure:"partition"`
	Account   string `mapstructure:"account"`
	// TimeLimit, CPUs and Memory (bytes) are each job's limits; 0 leaves
	// Slurm's default.
	TimeLimit time.Duration `mapstructure:"time_limit"`
	CPUs      int           `mapstructure:"cpus"`
	Memory    int64         `mapstructure:"memory"`
	// ExtraArgs are more sbatch options (--name=value each).
	ExtraArgs []string `mapstructure:"extra_args"`
	// ChimeraXPath is ChimeraX on the nodes, or "simulator".
	ChimeraXPath string `mapstructure:"chimerax_path"`
	// ChimeradPath is chimerad on the nodes (empty: this binary's path).
	ChimeradPath string `mapstructure:"chimerad_path"`
	// SessionRoot is the directory shared with the nodes for sessions.
	SessionRoot string `mapstructure:"session_root"`
	// StartTimeout covers a job's time in the queue and its start.
	StartTimeout time.Duration `mapstructure:"start_timeout"`
	// CommandTimeout bounds each sbatch, squeue, scancel.
	CommandTimeout time.Duration `mapstructure:"command_timeout"`
}

// MCPConfig configures the Model Context Protocol server for AI agents:
// /mcp in the daemon, and `chimerad mcp` on stdio (mcp.go).
type MCPConfig struct {
	// Enabled serves /mcp.
	Enabled bool `mapstructure:"enabled"`
	// MaxStructureBytes caps the structure text create_session takes.
	MaxStructureBytes int64 `mapstructure:"max_structure_bytes"`
	// MaxSnapshotSide caps a snapshot's width and height, in pixels.
	MaxSnapshotSide int `mapstructure:"max_snapshot_side"`
	// SessionTimeout closes MCP sessions without a request for that long.
	SessionTimeout time.Duration `mapstructure:"session_timeout"`
}

// PDBConfig says where chimerad downloads PDB entries from.
type PDBConfig struct {
	// Mirrors are URL templates with {id} and {mid}, tried in order.
	Mirrors []string `mapstructure:"mirrors"`
	// CacheMaxBytes bounds the shared cache of downloaded entries.
	CacheMaxBytes int64 `mapstructure:"cache_max_bytes"`
}

// LogConfig configures the daemon's log on stderr.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
	// FlushInterval is how long info and debug lines of the JSON log may
	// wait in memory before they are written together (logbuffer.go);
	// warnings and errors are written at once. 0 writes every line at once.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
}

// HTTPConfig configures the API listener.
type HTTPConfig struct {
	Listen       string   `mapstructure:"listen"`
	AllowedHosts []string `mapstructure:"allowed_hosts"`
	// SignedURLLifetime is how long the signed URLs for a browser's <img>
	// and EventSource work (POST /api/sessions/{id}/urls).
	SignedURLLifetime time.Duration `mapstructure:"signed_url_lifetime"`
	// MaxConnsPerClient caps the connections one client address holds at
	// once; 0 means no cap.
	MaxConnsPerClient int `mapstructure:"max_conns_per_client"`
	// MinUploadRate is the slowest a request body may arrive, bytes/s.
	MinUploadRate int64 `mapstructure:"min_upload_rate"`
}

// CORSConfig lists the browser origins allowed to call the API.
type CORSConfig struct {
	AllowedOrigins []string `mapstructure:"allowed_origins"`
}

// ChimeraXConfig says which ChimeraX runs sessions and how it is handled.
type ChimeraXConfig struct {
	// Launcher is local (each ChimeraX a child process) or slurm (each a
	// Slurm job; see SlurmConfig).
	Launcher     string        `mapstructure:"launcher"`
	Path         string        `mapstructure:"path"`
	StartTimeout time.Duration `mapstructure:"start_timeout"`
	StopGrace    time.Duration `mapstructure:"stop_grace"`
	LogMaxBytes  int64         `mapstructure:"log_max_bytes"`
	// HealthInterval is how often an idle child is probed; 0 turns probes off.
	HealthInterval time.Duration `mapstructure:"health_interval"`
	// HealthTimeout ends a child that has not answered for that long.
	HealthTimeout time.Duration `mapstructure:"health_timeout"`
	// Sandbox is auto, required or off: each child in its own user and
	// network namespaces.
	Sandbox string `mapstructure:"sandbox"`
	// MemoryMax caps each child's memory: a share of the machine's
	// ("25%"), bytes (4294967296, or 4GiB), or 0 for none (parseMemoryMax).
	MemoryMax string `mapstructure:"memory_max"`
	// CPUMax caps each child's CPU, in CPUs; 0 means none.
	CPUMax float64 `mapstructure:"cpu_max"`
	// Cgroup is auto, off, or a cgroup v2 directory chimerad may manage.
	Cgroup string `mapstructure:"cgroup"`
}

// CommandsConfig configures commands sent to a session's ChimeraX.
type CommandsConfig struct {
	Timeout time.Duration `mapstructure:"timeout"`
	// Allow lists the ChimeraX command words clients may run, in full
	// (see policy.Policy).
	Allow []string `mapstructure:"allow"`
}

// SessionConfig configures session lifetimes.
type SessionConfig struct {
	IdleTimeout    time.Duration `mapstructure:"idle_timeout"`
	MaxIdleTimeout time.Duration `mapstructure:"max_idle_timeout"`
	SweepInterval  time.Duration `mapstructure:"sweep_interval"`
	BusyTimeout    time.Duration `mapstructure:"busy_timeout"`
	MaxLifetime    time.Duration `mapstructure:"max_lifetime"`
	Retention      time.Duration `mapstructure:"retention"`
	// OnRestart is what a starting daemon does with sessions left live:
	// terminate them, or adopt the ones whose ChimeraX still runs.
	OnRestart string `mapstructure:"on_restart"`
	// IdleWarning is how long before the idle end a session's events warn.
	IdleWarning time.Duration `mapstructure:"idle_warning"`
	// CheckpointRetention is how long ended sessions' checkpoints are kept.
	CheckpointRetention time.Duration `mapstructure:"checkpoint_retention"`
	// ActivityFlushInterval is how often activity (kept in memory) is
	// written to the store; a crash loses at most that much of it.
	ActivityFlushInterval time.Duration `mapstructure:"activity_flush_interval"`
	// KeepConnected: a session with an open event stream is never idle.
	KeepConnected bool `mapstructure:"keep_connected"`
	// DiskMax bounds, in bytes, the files of a session's directory that
	// its commands may write up to; 0 means no bound.
	DiskMax int64 `mapstructure:"disk_max"`
}

// PoolConfig configures the warm pool of started ChimeraX children.
type PoolConfig struct {
	// Size children are kept started for creates to take; 0 keeps none.
	Size int `mapstructure:"size"`
	// MaxAge recycles a pool child that has waited this long.
	MaxAge time.Duration `mapstructure:"max_age"`
}

// LimitsConfig caps what clients may use.
type LimitsConfig struct {
	MaxSessions        int `mapstructure:"max_sessions"`
	MaxSessionsPerUser int `mapstructure:"max_sessions_per_user"`
	// QueueSize creates may wait at max_sessions, each up to QueueTimeout.
	QueueSize            int           `mapstructure:"queue_size"`
	QueueTimeout         time.Duration `mapstructure:"queue_timeout"`
	MaxUploadBytes       int64         `mapstructure:"max_upload_bytes"`
	MaxUncompressedBytes int64         `mapstructure:"max_uncompressed_bytes"`
}

// MetricsConfig configures GET /metrics (monitoring.go).
type MetricsConfig struct {
	// RequireAuth is auto, true or false: whether /metrics takes an admin
	// token. auto is false while http.listen is a loopback address, true
	// otherwise; see Config.MetricsRequireAuth.
	RequireAuth string `mapstructure:"require_auth"`
}

// DefaultListen is where the API listens unless told otherwise: loopback only.
const DefaultListen = "127.0.0.1:8471"

// DefaultConfig returns chimerad's defaults: those of the packages it
// configures (chimerax.DefaultConfig, server.DefaultConfig, structure's),
// so that what ships is what their tests run.
func DefaultConfig() Config {
	sv, srv := chimerax.DefaultConfig(""), server.DefaultConfig()
	return Config{
		DataDir: defaultDataDir(),
		Log:     LogConfig{Level: "info", Format: "json", FlushInterval: 100 * time.Millisecond},
		HTTP: HTTPConfig{
			Listen:            DefaultListen,
			AllowedHosts:      slices.Clone(srv.AllowedHosts),
			SignedURLLifetime: srv.SignedURLLifetime,
			MaxConnsPerClient: srv.MaxConnsPerClient,
			MinUploadRate:     srv.MinUploadRate,
		},
		CORS: CORSConfig{AllowedOrigins: append([]string{}, srv.AllowedOrigins...)},
		ChimeraX: ChimeraXConfig{
			Launcher:       sv.Launcher,
			StartTimeout:   sv.StartTimeout,
			StopGrace:      sv.StopGrace,
			LogMaxBytes:    sv.LogMaxBytes,
			HealthInterval: sv.HealthInterval,
			HealthTimeout:  sv.HealthTimeout,
			Sandbox:        sv.Sandbox,
			MemoryMax:      strconv.Itoa(chimerax.DefaultMemoryPercent) + "%",
			CPUMax:         sv.CPUMax,
			Cgroup:         sv.Cgroup,
		},
		Commands: CommandsConfig{Timeout: sv.CommandTimeout, Allow: slices.Clone(sv.Allow)},
		Session: SessionConfig{
			IdleTimeout:           sv.IdleTimeout,
			MaxIdleTimeout:        sv.MaxIdleTimeout,
			SweepInterval:         sv.SweepInterval,
			BusyTimeout:           sv.BusyTimeout,
			MaxLifetime:           sv.MaxLifetime,
			Retention:             sv.Retention,
			OnRestart:             sv.OnRestart,
			IdleWarning:           sv.IdleWarning,
			CheckpointRetention:   sv.CheckpointRetention,
			ActivityFlushInterval: sv.ActivityFlushInterval,
			KeepConnected:         sv.KeepConnected,
			DiskMax:               sv.DiskMax,
		},
		Limits: LimitsConfig{
			MaxSessions:          sv.MaxSessions,
			MaxSessionsPerUser:   sv.MaxSessionsPerUser,
			QueueSize:            sv.QueueSize,
			QueueTimeout:         sv.QueueTimeout,
			MaxUploadBytes:       srv.MaxUploadBytes,
			MaxUncompressedBytes: sv.MaxUncompressedBytes,
		},
		Pool: PoolConfig{Size: sv.PoolSize, MaxAge: sv.PoolMaxAge},
		PDB: PDBConfig{
			Mirrors:       slices.Clone(structure.DefaultPDBMirrors),
			CacheMaxBytes: structure.DefaultCacheMaxBytes,
		},
		Metrics: MetricsConfig{RequireAuth: "auto"},
		MCP: MCPConfig{
			Enabled:           srv.MCP.Enabled,
			MaxStructureBytes: srv.MCP.MaxStructureBytes,
			MaxSnapshotSide:   srv.MCP.MaxSnapshotSide,
			SessionTimeout:    srv.MCP.SessionTimeout,
		},
		Slurm: SlurmConfig{
			Partition:      sv.Slurm.Partition,
			Account:        sv.Slurm.Account,
			TimeLimit:      sv.Slurm.TimeLimit,
			CPUs:           sv.Slurm.CPUs,
			Memory:         sv.Slurm.Memory,
			ExtraArgs:      append([]string{}, sv.Slurm.ExtraArgs...),
			ChimeraXPath:   sv.Slurm.ChimeraXPath,
			ChimeradPath:   sv.Slurm.ChimeradPath,
			SessionRoot:    sv.Slurm.SessionRoot,
			StartTimeout:   sv.Slurm.StartTimeout,
			CommandTimeout: sv.Slurm.CommandTimeout,
		},
	}
}

// supervisorConfig is the supervisor's configuration: its defaults, with
// every setting that chimerad's configuration has taken from it.
func (c *Config) supervisorConfig(pdb *structure.Fetcher) chimerax.Config {
	sc := chimerax.DefaultConfig(c.DataDir)
	sc.StartTimeout = c.ChimeraX.StartTimeout
	sc.StopGrace = c.ChimeraX.StopGrace
	sc.LogMaxBytes = c.ChimeraX.LogMaxBytes
	sc.HealthInterval = c.ChimeraX.HealthInterval
	sc.HealthTimeout = c.ChimeraX.HealthTimeout
	sc.Sandbox = c.ChimeraX.Sandbox
	sc.MemoryMax, _ = parseMemoryMax(c.ChimeraX.MemoryMax) // Validate checked it
	sc.CPUMax = c.ChimeraX.CPUMax
	sc.Cgroup = c.ChimeraX.Cgroup
	sc.CommandTimeout = c.Commands.Timeout
	sc.Allow = c.Commands.Allow
	sc.IdleTimeout = c.Session.IdleTimeout
	sc.MaxIdleTimeout = c.Session.MaxIdleTimeout
	sc.SweepInterval = c.Session.SweepInterval
	sc.BusyTimeout = c.Session.BusyTimeout
	sc.MaxLifetime = c.Session.MaxLifetime
	sc.Retention = c.Session.Retention
	sc.OnRestart = c.Session.OnRestart
	sc.IdleWarning = c.Session.IdleWarning
	sc.CheckpointRetention = c.Session.CheckpointRetention
	sc.ActivityFlushInterval = c.Session.ActivityFlushInterval
	sc.KeepConnected = c.Session.KeepConnected
	sc.DiskMax = c.Session.DiskMax
	sc.MaxSessions = c.Limits.MaxSessions
	sc.MaxSessionsPerUser = c.Limits.MaxSessionsPerUser
	sc.QueueSize, sc.QueueTimeout = c.Limits.QueueSize, c.Limits.QueueTimeout
	sc.MaxUncompressedBytes = c.Limits.MaxUncompressedBytes
	sc.PoolSize, sc.PoolMaxAge = c.Pool.Size, c.Pool.MaxAge
	sc.PDB = pdb
	sc.Launcher = c.ChimeraX.Launcher
	sc.Slurm = chimerax.SlurmConfig{
		Partition: c.Slurm.Partition, Account: c.Slurm.Account,
		TimeLimit: c.Slurm.TimeLimit, CPUs: c.Slurm.CPUs, Memory: c.Slurm.Memory,
		ChimeraXPath: c.Slurm.ChimeraXPath, ChimeradPath: c.Slurm.ChimeradPath,
		SessionRoot:  c.Slurm.SessionRoot,
		StartTimeout: c.Slurm.StartTimeout, CommandTimeout: c.Slurm.CommandTimeout,
	}
	if len(c.Slurm.ExtraArgs) > 0 {
		sc.Slurm.ExtraArgs = c.Slurm.ExtraArgs
	}
	return sc
}

// serverConfig is the API server's configuration: its defaults, with every
// setting that chimerad's configuration has taken from it.
func (c *Config) serverConfig() server.Config {
	sc := server.DefaultConfig()
	sc.AllowedHosts = c.HTTP.AllowedHosts
	sc.AllowedOrigins = c.CORS.AllowedOrigins
	sc.SignedURLLifetime = c.HTTP.SignedURLLifetime
	sc.MaxConnsPerClient, sc.MinUploadRate = c.HTTP.MaxConnsPerClient, c.HTTP.MinUploadRate
	sc.MaxUploadBytes = c.Limits.MaxUploadBytes
	sc.MaxUncompressedBytes = c.Limits.MaxUncompressedBytes
	sc.MetricsRequireAuth = c.MetricsRequireAuth()
	sc.MCP = server.MCPConfig{
		Enabled:           c.MCP.Enabled,
		MaxStructureBytes: c.MCP.MaxStructureBytes,
		MaxSnapshotSide:   c.MCP.MaxSnapshotSide,
		SessionTimeout:    c.MCP.SessionTimeout,
		Allow:             c.Commands.Allow,
	}
	return sc
}

// defaultDataDir is $XDG_STATE_HOME/chimerad, i.e. ~/.local/state/chimerad.
func defaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "chimerad")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "chimerad-state"
	}
	return filepath.Join(home, ".local", "state", "chimerad")
}

// Validate reports every invalid value, naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key string, val any, why string) {
		errs = append(errs, fmt.Errorf("config: %s = %v: %s", key, val, why))
	}
	if c.DataDir == "" {
		bad("data_dir", `""`, "must name a directory")
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("log.level", c.Log.Level, "want trace, debug, info, warn or error")
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		bad("log.format", c.Log.Format, "want json or console")
	}
	if c.Log.FlushInterval < 0 || c.Log.FlushInterval > 10*time.Second {
		bad("log.flush_interval", c.Log.FlushInterval.String(), "want 0 (every line at once) to 10s")
	}
	if host, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen", c.HTTP.Listen, "want host:port, e.g. "+DefaultListen)
	} else if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		bad("http.listen", c.HTTP.Listen, "host must be an IP address or localhost")
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		bad("http.listen", c.HTTP.Listen, "bad port")
	}
	if !slices.Contains([]string{chimerax.SandboxAuto, chimerax.SandboxRequired, chimerax.SandboxOff}, c.ChimeraX.Sandbox) {
		bad("chimerax.sandbox", c.ChimeraX.Sandbox, "want auto, required or off")
	}
	if cg := c.ChimeraX.Cgroup; cg != chimerax.CgroupAuto && cg != chimerax.CgroupOff && !filepath.IsAbs(cg) {
		bad("chimerax.cgroup", cg, "want auto, off or the absolute path of a cgroup v2 directory")
	}
	if m := c.ChimeraX.CPUMax; m != 0 && !(m >= 0.01 && m <= 1024) {
		bad("chimerax.cpu_max", m, "want 0 (no limit) or a number of CPUs from 0.01 to 1024, e.g. 1.5")
	}
	switch c.ChimeraX.Launcher {
	case chimerax.LauncherLocal:
	case chimerax.LauncherSlurm:
		if r := c.Slurm.SessionRoot; r == "" || !filepath.IsAbs(r) {
			bad("slurm.session_root", strconv.Quote(r), "want the absolute path of a directory shared by this host and the Slurm nodes")
		}
	default:
		bad("chimerax.launcher", c.ChimeraX.Launcher, "want local or slurm")
	}
	if err := slurm.CheckExtraArgs(c.Slurm.ExtraArgs); err != nil {
		bad("slurm.extra_args", c.Slurm.ExtraArgs, err.Error())
	}
	if n := c.Slurm.CPUs; n < 0 {
		bad("slurm.cpus", n, "must not be negative (0: Slurm's default)")
	}
	if n := c.Slurm.Memory; n < 0 {
		bad("slurm.memory", n, "must not be negative (0: Slurm's default)")
	}
	if d := c.Slurm.TimeLimit; d < 0 {
		bad("slurm.time_limit", d, "must not be negative (0: the partition's default)")
	}
	if d := c.Slurm.StartTimeout; d <= 0 {
		bad("slurm.start_timeout", d, "must be positive")
	}
	if d := c.Slurm.CommandTimeout; d <= 0 {
		bad("slurm.command_timeout", d, "must be positive")
	}
	if !slices.Contains([]string{chimerax.OnRestartTerminate, chimerax.OnRestartAdopt, chimerax.OnRestartResume}, c.Session.OnRestart) {
		bad("session.on_restart", c.Session.OnRestart, "want terminate, adopt or resume")
	}
	for i, o := range c.CORS.AllowedOrigins {
		if why := originProblem(o); why != "" {
			bad(fmt.Sprintf("cors.allowed_origins[%d]", i), strconv.Quote(o), why)
		}
	}
	if d := c.HTTP.SignedURLLifetime; d < time.Second || d > 24*time.Hour {
		bad("http.signed_url_lifetime", d, "want 1s to 24h")
	}
	if n := c.HTTP.MaxConnsPerClient; n < 0 || n > 0 && n < 8 {
		bad("http.max_conns_per_client", n, "want 0 (no cap) or at least 8 (a browser opens 6 at once)")
	}
	if r := c.HTTP.MinUploadRate; r < 1024 {
		bad("http.min_upload_rate", r, "want at least 1024 bytes per second")
	}
	if len(c.HTTP.AllowedHosts) == 0 {
		bad("http.allowed_hosts", "[]", `must name at least one host ("*" allows any)`)
	}
	for key, d := range map[string]time.Duration{
		"chimerax.start_timeout": c.ChimeraX.StartTimeout,
		"chimerax.stop_grace":    c.ChimeraX.StopGrace,
		"commands.timeout":       c.Commands.Timeout,
		"session.sweep_interval": c.Session.SweepInterval,
	} {
		if d <= 0 {
			bad(key, d, "must be positive")
		}
	}
	for key, d := range map[string]time.Duration{
		"session.activity_flush_interval": c.Session.ActivityFlushInterval,
		"pool.max_age":                    c.Pool.MaxAge,
		"limits.queue_timeout":            c.Limits.QueueTimeout,
	} {
		if d <= 0 {
			bad(key, d, "must be positive")
		}
	}
	for key, d := range map[string]time.Duration{
		"session.idle_timeout":         c.Session.IdleTimeout,
		"session.max_idle_timeout":     c.Session.MaxIdleTimeout,
		"session.busy_timeout":         c.Session.BusyTimeout,
		"session.max_lifetime":         c.Session.MaxLifetime,
		"session.retention":            c.Session.Retention,
		"chimerax.health_interval":     c.ChimeraX.HealthInterval,
		"chimerax.health_timeout":      c.ChimeraX.HealthTimeout,
		"session.idle_warning":         c.Session.IdleWarning,
		"session.checkpoint_retention": c.Session.CheckpointRetention,
	} {
		if d < 0 {
			bad(key, d, "must not be negative (0 means never)")
		}
	}
	for i, m := range c.PDB.Mirrors {
		if u, err := url.Parse(m); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !strings.Contains(m, "{id}") {
			bad(fmt.Sprintf("pdb.mirrors[%d]", i), m, "want an http(s) URL template with {id} (and optionally {mid})")
		}
	}
	if err := (policy.Policy{Allow: c.Commands.Allow}).Validate(); err != nil {
		bad("commands.allow", c.Commands.Allow, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	for key, n := range map[string]int64{
		"pdb.cache_max_bytes":           c.PDB.CacheMaxBytes,
		"chimerax.log_max_bytes":        c.ChimeraX.LogMaxBytes,
		"limits.max_upload_bytes":       c.Limits.MaxUploadBytes,
		"limits.max_uncompressed_bytes": c.Limits.MaxUncompressedBytes,
	} {
		if n <= 0 {
			bad(key, n, "must be positive")
		}
	}
	if n := c.Session.DiskMax; n < 0 {
		bad("session.disk_max", n, "must not be negative (0 means no bound)")
	}
	if _, err := parseMemoryMax(c.ChimeraX.MemoryMax); err != nil {
		bad("chimerax.memory_max", c.ChimeraX.MemoryMax, err.Error())
	}
	for key, n := range map[string]int{
		"limits.max_sessions":          c.Limits.MaxSessions,
		"limits.max_sessions_per_user": c.Limits.MaxSessionsPerUser,
		"limits.queue_size":            c.Limits.QueueSize,
		"pool.size":                    c.Pool.Size,
	} {
		if n < 0 {
			bad(key, n, "must not be negative (0 means no limit)")
		}
	}
	if c.Pool.Size > 0 && c.Limits.MaxSessions > 0 && c.Pool.Size >= c.Limits.MaxSessions {
		bad("pool.size", c.Pool.Size, fmt.Sprintf("must be below limits.max_sessions (%d): pool children count against it", c.Limits.MaxSessions))
	}
	if n := c.MCP.MaxStructureBytes; n <= 0 || n > c.Limits.MaxUploadBytes {
		bad("mcp.max_structure_bytes", n, fmt.Sprintf("want 1 to limits.max_upload_bytes (%d)", c.Limits.MaxUploadBytes))
	}
	if n := c.MCP.MaxSnapshotSide; n < 1 || n > chimerax.MaxSnapshotSide {
		bad("mcp.max_snapshot_side", n, fmt.Sprintf("want 1 to %d pixels", chimerax.MaxSnapshotSide))
	}
	if c.MCP.SessionTimeout < 0 {
		bad("mcp.session_timeout", c.MCP.SessionTimeout, "must not be negative (0 means never)")
	}
	if _, err := parseAutoBool(c.Metrics.RequireAuth); err != nil {
		bad("metrics.require_auth", c.Metrics.RequireAuth, err.Error())
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// loadConfig builds the configuration for cmd: defaults, then the config
// file, then CHIMERAD_* variables, then the flags cmd was given.
func loadConfig(cmd *cobra.Command) (Config, error) {
	cfg := DefaultConfig()
	v := viper.New()
	v.SetEnvPrefix("CHIMERAD")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	// Register every key with its default, so the environment reaches all.
	var defaults map[string]any
	if err := mapstructure.Decode(cfg, &defaults); err != nil {
		return cfg, err
	}
	for key, val := range flatten("", defaults) {
		v.SetDefault(key, val)
	}
	for flag, key := range map[string]string{
		"data-dir": "data_dir",
		"listen":   "http.listen",
		"chimerax": "chimerax.path",
	} {
		if f := cmd.Flags().Lookup(flag); f != nil {
			if err := v.BindPFlag(key, f); err != nil {
				return cfg, err
			}
		}
	}

	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		path = findConfigFile()
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return cfg, fmt.Errorf("config: read %s: %w", path, err)
		}
	}
	known := flatten("", defaults)
	if err := checkKeys(v, known); err != nil {
		return cfg, fmt.Errorf("config %s: %w", orDefault(path, "(no file)"), err)
	}
	err := v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)))
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", orDefault(path, "(no file)"), err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// findConfigFile returns the first config file that exists of
// ./chimerad.yaml, $XDG_CONFIG_HOME/chimerad/config.yaml and
// /etc/chimerad/config.yaml, or "".
func findConfigFile() string {
	xdg := os.Getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(xdg) {
		if home, err := os.UserHomeDir(); err == nil {
			xdg = filepath.Join(home, ".config")
		}
	}
	for _, p := range []string{"chimerad.yaml", filepath.Join(xdg, "chimerad", "config.yaml"), "/etc/chimerad/config.yaml"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// flatten turns nested maps into dotted keys.
func flatten(prefix string, m map[string]any) map[string]any {
	out := make(map[string]any)
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map {
			sub := make(map[string]any)
			for _, mk := range rv.MapKeys() {
				sub[mk.String()] = rv.MapIndex(mk).Interface()
			}
			for fk, fv := range flatten(key, sub) {
				out[fk] = fv
			}
			continue
		}
		out[key] = v
	}
	return out
}

// MetricsRequireAuth resolves metrics.require_auth: "auto" requires an
// admin token for /metrics unless http.listen is a loopback address (then
// only local programs reach it, as they reach the daemon's other
// unauthenticated endpoints).
func (c *Config) MetricsRequireAuth() bool {
	v, err := parseAutoBool(c.Metrics.RequireAuth)
	if err != nil || v == nil {
		return !isLoopbackListen(c.HTTP.Listen)
	}
	return *v
}

// parseAutoBool reads "auto" (or "") as nil, and a boolean as itself. A
// YAML true reaches it as "1" (viper decodes weakly), which ParseBool takes.
func parseAutoBool(s string) (*bool, error) {
	if s == "" || strings.EqualFold(s, "auto") {
		return nil, nil
	}
	b, err := strconv.ParseBool(strings.ToLower(s))
	if err != nil {
		return nil, errors.New("want auto, true or false")
	}
	return &b, nil
}

// isLoopbackListen reports whether a host:port listens on loopback only.
// An empty host, 0.0.0.0 or :: listen everywhere.
func isLoopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// originProblem says what is wrong with a CORS origin, or "": an origin is
// scheme://host[:port], no path, no spaces. Lists in an environment
// variable are comma-separated: "http://a http://b" is one bad origin.
func originProblem(o string) string {
	u, err := url.Parse(o)
	switch {
	case o == "*":
		return `want scheme://host[:port]; "*" would let every web page drive the API`
	case strings.ContainsAny(o, " \t"):
		return "want one scheme://host[:port] per entry, without spaces (separate several with commas: CHIMERAD_CORS_ALLOWED_ORIGINS=http://a,http://b)"
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "want scheme://host[:port], e.g. http://localhost:3000"
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return "want scheme://host[:port] alone: a browser's Origin has no path, query or user"
	}
	return ""
}

// checkKeys reports, naming the key, the value and what is wanted, every
// key of v that chimerad does not know (with the nearest it does) and
// every value that is not of its key's type: viper's own errors name
// neither the value nor the key (” has invalid keys: sesion).
func checkKeys(v *viper.Viper, known map[string]any) error {
	var errs []error
	for _, key := range v.AllKeys() {
		def, ok := known[key]
		if !ok {
			if near := nearest(key, known); near != "" {
				errs = append(errs, fmt.Errorf("config: unknown key %s (did you mean %s?)", key, near))
			} else {
				errs = append(errs, fmt.Errorf("config: unknown key %s", key))
			}
			continue
		}
		raw := v.Get(key)
		s, isString := raw.(string)
		if !isString {
			continue // YAML typed it; the decoder checks the rest
		}
		var why string
		switch def.(type) {
		case time.Duration:
			if _, err := time.ParseDuration(s); err != nil {
				why = "want a duration such as 30s, 5m or 1h30m"
			}
		case int, int64:
			if _, err := strconv.ParseInt(s, 10, 64); err != nil {
				why = "want a whole number"
			}
		case float64:
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				why = "want a number"
			}
		case bool:
			if _, err := strconv.ParseBool(s); err != nil {
				why = "want true or false"
			}
		}
		if why != "" {
			errs = append(errs, fmt.Errorf("config: %s = %q: %s", key, s, why))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// nearest returns the known key closest to key (by edit distance, at most
// a third of its length), or "".
func nearest(key string, known map[string]any) string {
	best, bestD := "", len(key)/3+1
	for k := range known {
		if d := editDistance(key, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// parseMemoryMax reads chimerax.memory_max: a share of the machine's
// memory ("25%"), bytes with or without a binary unit ("4294967296",
// "4GiB", "512MiB"), or "0" / "none" for no bound.
func parseMemoryMax(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "0" || strings.EqualFold(s, "none") {
		return 0, nil
	}
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if err != nil || f <= 0 || f > 100 {
			return 0, errors.New("want a share of the machine's memory from 1% to 100% (\"25%\"), bytes (\"4GiB\"), or 0 for no limit")
		}
		return chimerax.MemoryShare(f), nil
	}
	num, mult := s, int64(1)
	for i, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			num, mult = strings.TrimSpace(n), 1<<(10*(i+1))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errors.New("want a share of the machine's memory (\"25%\"), bytes (\"4GiB\", \"4294967296\"), or 0 for no limit")
	}
	if n*mult < chimerax.MinMemoryMax {
		return 0, errors.New("want 0 (no limit) or at least 256MiB: ChimeraX does not start in less")
	}
	return n * mult, nil
}
