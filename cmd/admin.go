package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// errNoDaemon says that no daemon answers on the data dir's socket.
var errNoDaemon = errors.New("no chimerad is running")

// adminClient talks to a running daemon over its Unix socket. Every
// request on that socket is an admin request; the socket's file mode (0600,
// in a 0700 directory) is the authentication.
type adminClient struct {
	socket string
	http   *http.Client
}

func newAdminClient(dataDir string) *adminClient {
	socket := filepath.Join(dataDir, SocketName)
	var d net.Dialer
	return &adminClient{
		socket: socket,
		http: &http.Client{
			Timeout: 2 * time.Minute,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return d.DialContext(ctx, "unix", socket)
				},
			},
		},
	}
}

// problem is the part of an RFC 9457 body the CLI prints.
type problem struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out. An error answer becomes an error carrying its detail.
func (a *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://chimerad"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w on this data dir (no answer on %s)", errNoDaemon, a.socket)
		}
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var p problem
		if json.Unmarshal(data, &p) == nil && p.Detail != "" {
			return fmt.Errorf("%s (%s)", p.Detail, p.Code)
		}
		return fmt.Errorf("daemon answered %s", resp.Status)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}

// adminDataDir resolves the data dir for an admin command from its flags,
// the environment and the config file, like serve does.
func adminDataDir(cmd *cobra.Command) (string, error) {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return "", err
	}
	return cfg.DataDir, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
