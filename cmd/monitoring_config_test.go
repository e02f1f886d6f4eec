package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMetricsRequireAuth(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		yaml, env string
		want      bool
	}{
		{yaml: "", want: false}, // default: auto on 127.0.0.1
		{yaml: "http:\n  listen: \"[::1]:8471\"\n", want: false},
		{yaml: "http:\n  listen: localhost:8471\n", want: false},
		{yaml: "http:\n  listen: 0.0.0.0:8471\n", want: true},
		{yaml: "http:\n  listen: \":8471\"\n", want: true},
		{yaml: "http:\n  listen: 192.0.2.7:8471\n", want: true},
		{yaml: "http:\n  listen: 0.0.0.0:8471\nmetrics:\n  require_auth: false\n", want: false},
		{yaml: "metrics:\n  require_auth: true\n", want: true},
		{yaml: "metrics:\n  require_auth: auto\n", want: false},
		{yaml: "http:\n  listen: 0.0.0.0:8471\n", env: "false", want: false},
		{yaml: "", env: "true", want: true},
	} {
		t.Run(strings.ReplaceAll(tc.yaml+tc.env, "\n", " "), func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(file, []byte(tc.yaml), 0o600)
			if tc.env != "" {
				t.Setenv("CHIMERAD_METRICS_REQUIRE_AUTH", tc.env)
			}
			cfg, err := loadFor(t, "--config", file)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.MetricsRequireAuth(); got != tc.want {
				t.Errorf("MetricsRequireAuth() with %q env %q = %v, want %v", tc.yaml, tc.env, got, tc.want)
			}
		})
	}

	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("metrics:\n  require_auth: maybe\n"), 0o600)
	if _, err := loadFor(t, "--config", file); err == nil || !strings.Contains(err.Error(), "metrics.require_auth = maybe") {
		t.Errorf("require_auth: maybe = %v, want an error naming the key", err)
	}
}
