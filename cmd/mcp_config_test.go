package cmd

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestMCPConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct{ name, yaml, want string }{
		{"structure over uploads", "limits:\n  max_upload_bytes: 1000\nmcp:\n  max_structure_bytes: 1001\n", "mcp.max_structure_bytes = 1001"},
		{"no structure", "mcp:\n  max_structure_bytes: 0\n", "mcp.max_structure_bytes = 0"},
		{"huge snapshots", "mcp:\n  max_snapshot_side: 5000\n", "mcp.max_snapshot_side = 5000"},
		{"negative timeout", "mcp:\n  session_timeout: -1m\n", "mcp.session_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(file, []byte(tc.yaml), 0o600)
			if _, err := loadFor(t, "--config", file); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("load = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	t.Setenv("CHIMERAD_MCP_ENABLED", "false")
	t.Setenv("CHIMERAD_MCP_MAX_SNAPSHOT_SIDE", "640")
	cfg, err := loadFor(t)
	if err != nil {
		t.Fatal(err)
	}
	sc := cfg.serverConfig()
	if sc.MCP.Enabled || sc.MCP.MaxSnapshotSide != 640 || !slices.Equal(sc.MCP.Allow, cfg.Commands.Allow) {
		t.Errorf("server MCP config = %+v, want disabled, 640 px, the allow-list", sc.MCP)
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	private := write("private", "chx_abc\n", 0o600)
	open := write("open", "  chx_def  \nsecond line\n", 0o644)
	blank := write("blank", "\n", 0o600)
	for _, tc := range []struct {
		file, env, want, err string
		warned               bool
	}{
		{file: private, env: "chx_env", want: "chx_abc"},
		{file: open, want: "chx_def", warned: runtime.GOOS != "windows"}, // no modes there
		{env: " chx_env\n", want: "chx_env"},
		{err: "--token-file"},
		{file: blank, err: "--token-file"},
		{env: "chx_a chx_b", err: "white space"},
		{file: filepath.Join(dir, "missing"), err: "token file"},
	} {
		var warned bool
		got, err := readToken(tc.file, tc.env, func(string) { warned = true })
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) || warned != tc.warned {
			t.Errorf("readToken(%q, %q) = %q, %v, warned %v; want %q, %q, warned %v", tc.file, tc.env, got, err, warned, tc.want, tc.err, tc.warned)
		}
	}
}

func TestAPIURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8471": "http://127.0.0.1:8471",
		"0.0.0.0:8471":   "http://127.0.0.1:8471",
		":8471":          "http://127.0.0.1:8471",
		"[::]:8471":      "http://[::1]:8471",
		"[::1]:9000":     "http://[::1]:9000",
		"localhost:8471": "http://localhost:8471",
		"192.168.1.2:80": "http://192.168.1.2:80",
	} {
		if got := apiURL(in); got != want {
			t.Errorf("apiURL(%q) = %q, want %q", in, got, want)
		}
	}
}
