package cmd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/server"
	"github.com/chimerad/chimerad/store"
)

// SocketName is the admin socket's file name in the data directory.
const SocketName = "chimerad.sock"

// shutdownGrace bounds how long in-flight requests may finish at shutdown.
const shutdownGrace = 15 * time.Second

func newServeCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the chimerad daemon",
		Long: `Run the daemon: the REST API on --listen (loopback by default), the admin
socket in the data directory, and one ChimeraX child per live session.
Without ChimeraX installed, sessions run on the built-in simulator.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			w, flush := cmd.ErrOrStderr(), func() error { return nil }
			if cfg.Log.Format == "json" {
				w, flush = newLogBuffer(w, cfg.Log.FlushInterval)
			}
			defer flush()
			return serve(cmd.Context(), cfg, newLogger(w, cfg.Log), flush)
		},
	}
	c.Flags().String("listen", "", "API address, host:port (default "+DefaultListen+")")
	c.Flags().String("chimerax", "", `ChimeraX executable, or "simulator" (default: found on PATH or in the usual places, else the simulator)`)
	return c
}

// serve runs the daemon until ctx ends: config, logger, store, supervisor,
// reconcile, server; and shuts down in reverse. flushLog writes the log
// lines that wait (logbuffer.go), once it serves.
func serve(ctx context.Context, cfg Config, log zerolog.Logger, flushLog func() error) (err error) {
	engine, fellBack, err := findEngine(cfg)
	if err != nil {
		return err
	}
	if fellBack {
		log.Warn().Str("engine_path", engine.Path).
			Msg("ChimeraX not found on PATH or in the usual places; sessions run on the built-in simulator. Set chimerax.path (or --chimerax, or CHIMERAD_CHIMERAX_PATH) to a ChimeraX executable to use the real one")
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	db, err := store.Open(cfg.DataDir, time.Second)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()

	pdb := structure.NewFetcher(filepath.Join(cfg.DataDir, "pdb-cache"), cfg.PDB.Mirrors)
	pdb.CacheMaxBytes = cfg.PDB.CacheMaxBytes
	pdb.MaxUncompressed = cfg.Limits.MaxUncompressedBytes
	sv := chimerax.NewSupervisor(db, engine, cfg.supervisorConfig(pdb))
	sv.Logger = log
	metrics, err := server.NewMetrics(prometheus.NewRegistry(), sv)
	if err != nil {
		return err
	}
	sv.Observer = metrics
	if err := sv.Open(ctx); err != nil {
		return fmt.Errorf("reconcile sessions: %w", err)
	}
	defer func() {
		// A checkpoint of each session (stop_grace at most), then its stop (two graces).
		ctx, cancel := context.WithTimeout(context.Background(), 3*cfg.ChimeraX.StopGrace+10*time.Second)
		defer cancel()
		err = errors.Join(err, sv.Close(ctx))
	}()

	spool := filepath.Join(cfg.DataDir, "spool")
	os.RemoveAll(spool) // uploads a previous daemon was reading when it died
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return fmt.Errorf("create spool dir: %w", err)
	}
	scfg := cfg.serverConfig()
	scfg.Version = version()
	scfg.SpoolDir = spool
	scfg.Metrics = metrics
	if scfg.URLKey, err = urlKey(cfg.DataDir); err != nil {
		return err
	}
	if !scfg.MetricsRequireAuth && !isLoopbackListen(cfg.HTTP.Listen) {
		log.Warn().Str("listen", cfg.HTTP.Listen).Msg("GET /metrics answers without a token on a non-loopback address (metrics.require_auth is false)")
	}
	srv := server.New(scfg, sv, db, log)

	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP.Listen, err)
	}
	sock, err := listenSocket(filepath.Join(cfg.DataDir, SocketName))
	if err != nil {
		ln.Close()
		return err
	}
	api, admin := srv.HTTPServer(false), srv.HTTPServer(true)
	errc := make(chan error, 2)
	go func() { errc <- server.Serve(api, srv.LimitListener(ln)) }()
	go func() { errc <- server.Serve(admin, sock) }()
	log.Info().Str("listen", ln.Addr().String()).Str("socket", sock.Addr().String()).
		Str("engine", engine.Name).Str("engine_path", engine.Path).Str("data_dir", cfg.DataDir).
		Bool("sandbox", sv.Sandboxed()).
		Str("version", version()).Msg("chimerad serving")
	flushLog() // whoever waits for the daemon learns it serves at once

	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case err = <-errc:
		log.Error().Err(err).Msg("server stopped")
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	return errors.Join(err, api.Shutdown(sctx), admin.Shutdown(sctx))
}

// listenSocket listens on the admin Unix socket, mode 0600. A stale socket
// file is replaced: the store's lock proves no other daemon uses it.
func listenSocket(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return ln, nil
}

// urlKey returns the key that signs this daemon's URLs (server's signed
// URLs), from <data-dir>/url.key, made (32 random bytes, 0600) if absent.
// Deleting the file ends every signed URL at the next start.
func urlKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "url.key")
	key, err := os.ReadFile(path)
	if err == nil && len(key) == 32 {
		return key, nil
	}
	key = make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("write the URL signing key: %w", err)
	}
	return key, nil
}

// findEngine decides what runs sessions: chimerax.path here, or with the
// Slurm launcher slurm.chimerax_path on the nodes ("simulator": chimerad's
// simulator, from chimerad on the nodes; empty: as chimerax.path here).
func findEngine(cfg Config) (chimerax.Engine, bool, error) {
	if cfg.ChimeraX.Launcher != chimerax.LauncherSlurm || cfg.Slurm.ChimeraXPath == "" {
		return chimerax.FindEngine(cfg.ChimeraX.Path)
	}
	if cfg.Slurm.ChimeraXPath != chimerax.SlurmSimulator {
		return chimerax.Engine{Name: chimerax.EngineChimeraX, Path: cfg.Slurm.ChimeraXPath}, false, nil
	}
	e, _, err := chimerax.FindEngine(chimerax.SlurmSimulator)
	if p := cfg.Slurm.ChimeradPath; p != "" {
		e.Path = p
	}
	return e, false, err
}
