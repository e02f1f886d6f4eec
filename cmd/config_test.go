package cmd

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/server"
	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"
)

// loadFor runs loadConfig as the serve command would with args.
func loadFor(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	c := NewRootCommand()
	serve, _, err := c.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	serve.InheritedFlags() // merge the root's persistent flags into serve's set
	if err := serve.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return loadConfig(serve)
}

// clearConfigEnv unsets every CHIMERAD_* variable for the test (restored
// after it): CI exports some for the Slurm tests (.ci/slurm-up), and they
// are configuration.
func clearConfigEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "CHIMERAD_") {
			t.Setenv(k, v) // restored at the end
			os.Unsetenv(k)
		}
	}
}

// TestConfigExample keeps config.example.yaml honest: it loads cleanly,
// every key it sets has the default value, and it names every key.
func TestConfigExample(t *testing.T) {
	clearConfigEnv(t)
	example := mustAbs(t, "../config.example.yaml")
	t.Chdir(t.TempDir()) // no ./chimerad.yaml
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cfg, err := loadFor(t, "--config", example)
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	if !reflect.DeepEqual(cfg, def) {
		t.Errorf("config.example.yaml = %+v\nwant defaults %+v", cfg, def)
	}

	raw, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	var inFile map[string]any
	if err := yaml.Unmarshal(raw, &inFile); err != nil {
		t.Fatal(err)
	}
	var defaults map[string]any
	if err := mapstructure.Decode(def, &defaults); err != nil {
		t.Fatal(err)
	}
	fileKeys := flatten("", inFile)
	for key := range flatten("", defaults) {
		if _, ok := fileKeys[key]; !ok && key != "data_dir" && !strings.Contains(string(raw), "# "+key+":") {
			t.Errorf("config.example.yaml does not mention %s", key)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	t.Chdir(t.TempDir())
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("session:\n  idle_timeout: 5m\n  sweep_interval: 7s\nhttp:\n  listen: 127.0.0.1:9000\n"), 0o600)

	cfg, err := loadFor(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Session.IdleTimeout != 5*time.Minute || cfg.Session.SweepInterval != 7*time.Second {
		t.Errorf("file: idle %v sweep %v, want 5m 7s", cfg.Session.IdleTimeout, cfg.Session.SweepInterval)
	}

	t.Setenv("CHIMERAD_SESSION_IDLE_TIMEOUT", "9m")
	t.Setenv("CHIMERAD_HTTP_LISTEN", "127.0.0.1:9001")
	t.Setenv("CHIMERAD_HTTP_ALLOWED_HOSTS", "a.example,b.example")
	cfg, err = loadFor(t, "--config", file, "--listen", "127.0.0.1:9002", "--data-dir", "/tmp/x")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Session.IdleTimeout != 9*time.Minute {
		t.Errorf("env over file: idle = %v, want 9m", cfg.Session.IdleTimeout)
	}
	if cfg.Session.SweepInterval != 7*time.Second {
		t.Errorf("file value without env: sweep = %v, want 7s", cfg.Session.SweepInterval)
	}
	if cfg.HTTP.Listen != "127.0.0.1:9002" || cfg.DataDir != "/tmp/x" {
		t.Errorf("flags over env: listen %q data_dir %q", cfg.HTTP.Listen, cfg.DataDir)
	}
	if !reflect.DeepEqual(cfg.HTTP.AllowedHosts, []string{"a.example", "b.example"}) {
		t.Errorf("list from env = %q", cfg.HTTP.AllowedHosts)
	}

	t.Setenv("CHIMERAD_COMMANDS_ALLOW", "view,color")
	if cfg, err = loadFor(t, "--config", file); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Commands.Allow, []string{"view", "color"}) {
		t.Errorf("commands.allow from env = %q, want [view color]", cfg.Commands.Allow)
	}
}

func TestConfigRejects(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		name, yaml, env, want string
	}{
		{name: "unknown key", yaml: "session:\n  idle_timout: 5m\n", want: "unknown key session.idle_timout (did you mean session.idle_timeout?)"},
		{name: "misspelt section", yaml: "sesion:\n  idle_timeout: 5m\n", want: "unknown key sesion.idle_timeout (did you mean session.idle_timeout?)"},
		{name: "not a duration value", yaml: "session:\n  idle_timeout: soon\n", want: `session.idle_timeout = "soon": want a duration such as 30s`},
		{name: "negative duration", yaml: "session:\n  idle_timeout: -5m\n", want: "session.idle_timeout = -5m0s"},
		{name: "zero sweep", yaml: "session:\n  sweep_interval: 0s\n", want: "session.sweep_interval"},
		{name: "bad address", yaml: "http:\n  listen: nowhere\n", want: "http.listen = nowhere"},
		{name: "bad host", yaml: "http:\n  listen: example.com:80\n", want: "http.listen"},
		{name: "bad level", yaml: "log:\n  level: loud\n", want: "log.level = loud"},
		{name: "bad on_restart", yaml: "session:\n  on_restart: resurrect\n", want: "session.on_restart = resurrect"},
		{name: "not a duration", yaml: "chimerax:\n  stop_grace: soon\n", want: "stop_grace"},
		{name: "env negative", env: "-1", want: "limits.max_sessions = -1"},
		{name: "env not a number", env: "lots", want: `limits.max_sessions = "lots": want a whole number`},
		{name: "never-allowed command", yaml: "commands:\n  allow: [view, runscript]\n", want: "runscript is never allowed"},
		{name: "abbreviation", yaml: "commands:\n  allow: [view, runs]\n", want: `"runs" abbreviates runscript`},
		{name: "not a command name", yaml: "commands:\n  allow: [View]\n", want: "commands.allow"},
		{name: "negative warning", yaml: "session:\n  idle_warning: -1m\n", want: "session.idle_warning"},
		{name: "negative retention", yaml: "session:\n  checkpoint_retention: -1h\n", want: "session.checkpoint_retention"},
		{name: "zero activity flush", yaml: "session:\n  activity_flush_interval: 0s\n", want: "session.activity_flush_interval"},
		{name: "negative pool", yaml: "pool:\n  size: -1\n", want: "pool.size = -1"},
		{name: "pool fills max_sessions", yaml: "pool:\n  size: 4\nlimits:\n  max_sessions: 4\n", want: "pool.size = 4"},
		{name: "zero pool age", yaml: "pool:\n  max_age: 0s\n", want: "pool.max_age"},
		{name: "relative cgroup", yaml: "chimerax:\n  cgroup: mine\n", want: "chimerax.cgroup = mine"},
		{name: "tiny cpu_max", yaml: "chimerax:\n  cpu_max: 0.001\n", want: "chimerax.cpu_max = 0.001"},
		{name: "negative cpu_max", yaml: "chimerax:\n  cpu_max: -1\n", want: "chimerax.cpu_max = -1"},
		{name: "negative disk_max", yaml: "session:\n  disk_max: -1\n", want: "session.disk_max = -1"},
		{name: "tiny memory_max", yaml: "chimerax:\n  memory_max: 100MiB\n", want: "chimerax.memory_max = 100MiB: want 0 (no limit) or at least 256MiB"},
		{name: "memory share past 100%", yaml: "chimerax:\n  memory_max: 150%\n", want: "chimerax.memory_max = 150%: want a share of the machine's memory from 1% to 100%"},
		{name: "memory_max not a size", yaml: "chimerax:\n  memory_max: lots\n", want: "chimerax.memory_max = lots"},
		{name: "negative memory_max", yaml: "chimerax:\n  memory_max: -1\n", want: "chimerax.memory_max = -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(file, []byte(tc.yaml), 0o600)
			if tc.env != "" {
				t.Setenv("CHIMERAD_LIMITS_MAX_SESSIONS", tc.env)
			}
			_, err := loadFor(t, "--config", file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("load = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func mustAbs(tb testing.TB, p string) string {
	tb.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		tb.Fatal(err)
	}
	return abs
}

// TestDefaultsAreThePackages: chimerad's defaults are its packages'
// defaults, so that what ships is what their tests run: the supervisor
// and server configurations built from DefaultConfig equal
// chimerax.DefaultConfig and server.DefaultConfig.
func TestDefaultsAreThePackages(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	pdb := structure.NewFetcher(t.TempDir(), cfg.PDB.Mirrors)
	want := chimerax.DefaultConfig(cfg.DataDir)
	want.PDB = pdb
	if got := cfg.supervisorConfig(pdb); !reflect.DeepEqual(got, want) {
		t.Errorf("supervisor config from defaults = %+v\nwant chimerax.DefaultConfig %+v", got, want)
	}
	srv := server.DefaultConfig()
	srv.AllowedOrigins = []string{}
	if got := cfg.serverConfig(); !reflect.DeepEqual(got, srv) {
		t.Errorf("server config from defaults = %+v\nwant server.DefaultConfig %+v", got, srv)
	}
	if f := structure.NewFetcher(t.TempDir(), nil); cfg.PDB.CacheMaxBytes != f.CacheMaxBytes {
		t.Errorf("pdb.cache_max_bytes default %d, want the fetcher's %d", cfg.PDB.CacheMaxBytes, f.CacheMaxBytes)
	}
}

// TestConfigCORSOrigins: each allowed origin is checked at start; in the
// environment a list is comma-separated, and an origin with spaces (a
// list written with spaces) stops the start naming it.
func TestConfigCORSOrigins(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("CHIMERAD_CORS_ALLOWED_ORIGINS", "http://localhost:3000,https://lab.example.org:8443")
	cfg, err := loadFor(t)
	if err != nil || strings.Join(cfg.CORS.AllowedOrigins, " ") != "http://localhost:3000 https://lab.example.org:8443" {
		t.Errorf("comma-separated origins = %q, %v", cfg.CORS.AllowedOrigins, err)
	}
	for value, want := range map[string]string{
		"http://a http://b":            `cors.allowed_origins[0] = "http://a http://b": want one scheme://host[:port] per entry, without spaces`,
		"http://localhost:3000/app":    "no path",
		"localhost:3000":               "want scheme://host[:port]",
		"*":                            "every web page",
		"http://ok.example,ftp://nope": "cors.allowed_origins[1]",
	} {
		t.Setenv("CHIMERAD_CORS_ALLOWED_ORIGINS", value)
		if _, err := loadFor(t); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("origins %q: %v, want an error with %q", value, err, want)
		}
	}
}

// TestMemoryMaxForms: chimerax.memory_max is a share of the machine's
// memory (the default, 25%), bytes with or without a binary unit, or none.
func TestMemoryMaxForms(t *testing.T) {
	for in, want := range map[string]int64{
		"25%":        chimerax.MemoryShare(25),
		"50%":        chimerax.MemoryShare(50),
		"0":          0,
		"none":       0,
		"4294967296": 4 << 30,
		"4GiB":       4 << 30,
		"512 MiB":    512 << 20,
		"1TiB":       1 << 40,
	} {
		if got, err := parseMemoryMax(in); err != nil || got != want {
			t.Errorf("parseMemoryMax(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if ram := process.PhysicalMemory(); ram > 0 && chimerax.MemoryShare(25) != max(ram/4, chimerax.MinMemoryMax) {
		t.Errorf("MemoryShare(25) = %d on a machine of %d bytes", chimerax.MemoryShare(25), ram)
	}
	t.Chdir(t.TempDir())
	t.Setenv("CHIMERAD_CHIMERAX_MEMORY_MAX", "8GiB")
	cfg, err := loadFor(t)
	if err != nil || cfg.supervisorConfig(nil).MemoryMax != 8<<30 {
		t.Errorf("CHIMERAD_CHIMERAX_MEMORY_MAX=8GiB: %v, %v", cfg.ChimeraX.MemoryMax, err)
	}
}
