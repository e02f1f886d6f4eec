// Package cmd is chimerad's composition root: the cobra commands, each
// built by a constructor, the configuration (one local viper), the logger,
// the wiring of store, supervisor and server, and the admin client that
// talks to a running daemon over its Unix socket.
package cmd

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/chimerax/sim"
	"github.com/chimerad/chimerad/chimerax/slurm"
)

// Version is chimerad's version; release builds set it with
// -ldflags "-X github.com/chimerad/chimerad/cmd.Version=v1.2.3".
var Version = ""

// version is chimerad's version: Version if set, else what the build
// recorded: the module's version (go install …@v1.2.3), or the commit it
// was built from ("dev+1a2b3c4d5e6f", "-dirty" with uncommitted changes),
// else "dev" (go run records neither).
func version() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return "dev"
	}
	return "dev+" + rev + dirty
}

// NewRootCommand returns the chimerad command with all its subcommands.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "chimerad",
		Short: "A session server for headless UCSF ChimeraX",
		Long: `chimerad runs one headless UCSF ChimeraX per user session behind an
authenticated REST API, and ends sessions when asked or when idle.

Run the daemon with "chimerad serve"; manage it with "chimerad users" and
"chimerad sessions", which talk to the running daemon over its Unix socket.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("config", "", "config file (default: first of ./chimerad.yaml, $XDG_CONFIG_HOME/chimerad/config.yaml, /etc/chimerad/config.yaml)")
	root.PersistentFlags().String("data-dir", "", "state directory (default $XDG_STATE_HOME/chimerad)")
	root.AddCommand(
		newServeCommand(),
		newVersionCommand(),
		newUsersCommand(),
		newSessionsCommand(),
		newMCPCommand(),
		newSimulatorCommand(),
		newShimCommand(),
		newAgentCommand(),
		newBenchCommand(),
	)
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print chimerad's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "chimerad", version())
			return err
		},
	}
}

// newSimulatorCommand is the hidden built-in ChimeraX simulator. Its
// arguments are ChimeraX's own, passed through untouched.
func newSimulatorCommand() *cobra.Command {
	return &cobra.Command{
		Use:                chimerax.SimulatorCommand + " [ChimeraX options]",
		Short:              "Run the built-in ChimeraX simulator",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// ChimeraX installs no SIGTERM handler and dies at once; so must
			// the simulator, whatever main asked of the signals.
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			if code := sim.Main(args, os.Stdin, os.Stdout, os.Stderr); code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}

// exitCode is an error that asks main to exit with that status, silently.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// ExitCode returns the exit status err asks for: 0 for nil, the code of an
// exitCode, 1 otherwise.
func ExitCode(err error) (code int, silent bool) {
	if err == nil {
		return 0, true
	}
	if e, ok := err.(exitCode); ok {
		return int(e), true
	}
	return 1, false
}

// newLogger builds the one logger of the process.
func newLogger(w io.Writer, cfg LogConfig) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	if cfg.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// newShimCommand is the hidden per-session shim that holds a ChimeraX
// child's stdio (see process.ShimMain).
func newShimCommand() *cobra.Command {
	return &cobra.Command{
		Use:                process.ShimCommand + " [flags] -- CHIMERAX [ARGS]",
		Short:              "Hold a ChimeraX child's stdio for the daemon",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The shim ends when its work is done, never on a terminal's ^C.
			signal.Ignore(os.Interrupt)
			if code := process.ShimMain(args, os.Stdout, os.Stderr); code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}

// newAgentCommand is the hidden node agent a session's Slurm job runs
// (see slurm.AgentMain).
func newAgentCommand() *cobra.Command {
	return &cobra.Command{
		Use:                slurm.AgentCommand + " --dir DIR [flags] -- CHIMERAX [ARGS]",
		Short:              "Run a session's ChimeraX in a Slurm job and serve the daemon",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Slurm's SIGTERM is the agent's to handle (it ends ChimeraX
			// and reports), not main's context.
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			if code := slurm.AgentMain(args, os.Stderr); code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
}
