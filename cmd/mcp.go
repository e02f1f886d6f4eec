package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chimerad/chimerad/server/mcp"
)

// TokenEnv is the environment variable `chimerad mcp` reads the user's
// token from when no --token-file is given.
const TokenEnv = "CHIMERAD_TOKEN"

func newMCPCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "mcp",
		Short: "Serve MCP on stdio, so that an AI assistant drives the daemon's sessions as one user",
		Long: `Serve the Model Context Protocol on stdin and stdout, for desktop AI
assistants and IDE agents that start an MCP server as a command. It offers
the same tools and resources as the daemon's /mcp endpoint, and calls the
running daemon's REST API (--url, by default http.listen) with a user's
token: from --token-file, else $` + TokenEnv + `, never from a flag's value
(which ps would show). The agent acts as that user, under the same command
policy, limits and idle ends. Logs go to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			log := newLogger(cmd.ErrOrStderr(), cfg.Log)
			file, _ := cmd.Flags().GetString("token-file")
			token, err := readToken(file, os.Getenv(TokenEnv), func(msg string) { log.Warn().Str("token_file", file).Msg(msg) })
			if err != nil {
				return err
			}
			base, _ := cmd.Flags().GetString("url")
			if base == "" {
				base = apiURL(cfg.HTTP.Listen)
			}
			api := newAPIClient(strings.TrimRight(base, "/"), token, "chimerad-mcp/"+version())
			if err := api.check(cmd.Context()); err != nil {
				return err
			}
			mc := mcp.DefaultConfig()
			mc.Version = version()
			mc.MaxStructureBytes = cfg.MCP.MaxStructureBytes
			mc.MaxSnapshotSide = cfg.MCP.MaxSnapshotSide
			mc.Logger = log
			srv := mcp.New(mc, func(string) mcp.Backend { return api })
			log.Info().Str("url", api.base).Msg("chimerad mcp serving on stdio")
			return srv.Serve(cmd.Context(), io.NopCloser(cmd.InOrStdin()), nopWriteCloser{cmd.OutOrStdout()})
		},
	}
	c.Flags().String("url", "", "the daemon's API, e.g. http://127.0.0.1:8471 (default: http.listen)")
	c.Flags().String("token-file", "", "file holding the user's API token (default: $"+TokenEnv+")")
	return c
}

// errNoToken says where `chimerad mcp` looks for a token.
var errNoToken = errors.New("no token: give --token-file FILE or set " + TokenEnv + " (a user's token, from `chimerad users add NAME`)")

// readToken returns the token in file (the first line, trimmed), or else
// env. A file that others may read is used, with a warning.
func readToken(file, env string, warn func(string)) (string, error) {
	token := env
	if file != "" {
		fi, err := os.Stat(file)
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
			warn(fmt.Sprintf("the token file can be read by others (mode %04o): chmod 600 it", fi.Mode().Perm()))
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		token, _, _ = strings.Cut(string(b), "\n")
	}
	token = strings.TrimSpace(token)
	switch {
	case token == "":
		return "", errNoToken
	case strings.ContainsAny(token, " \t\r\n"):
		return "", fmt.Errorf("the token holds white space: want one token, as `chimerad users add` prints it")
	}
	return token, nil
}

// apiURL is the URL of the API on listen: a wildcard address is reached
// on loopback.
func apiURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// check asks the daemon whether it takes the token, so that a wrong one
// stops `chimerad mcp` at once with a message the assistant's log shows.
func (a *apiClient) check(ctx context.Context) error {
	err := a.do(ctx, "GET", "/api/status", nil, "", nil)
	var e *mcp.Error
	if errors.As(err, &e) && e.Code == "unauthorized" {
		return fmt.Errorf("the daemon at %s refuses the token: %s", a.base, e.Detail)
	}
	if errors.As(err, &e) {
		return errors.New(e.Detail)
	}
	return err
}
