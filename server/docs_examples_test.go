//go:build linux

package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
)

// example is one curl command of a Markdown file's sh blocks.
type example struct {
	line    int
	command string
}

// curlExamples returns the commands that start with curl in the ```sh
// blocks of a Markdown file, with their backslash continuations.
func curlExamples(tb testing.TB, path string) []example {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var out []example
	inSh, cont := false, false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "```"):
			inSh, cont = trimmed == "```sh", false
		case !inSh:
		case cont:
			out[len(out)-1].command += "\n" + line
			cont = strings.HasSuffix(trimmed, `\`)
		case strings.HasPrefix(trimmed, "curl "):
			out = append(out, example{line: n, command: trimmed})
			cont = strings.HasSuffix(trimmed, `\`)
		}
	}
	return out
}

var (
	exampleURL    = regexp.MustCompile(`"?(?:\$URL|http://127\.0\.0\.1:8471|http://chimerad)(/[^"?\s]*)`)
	exampleMethod = regexp.MustCompile(`-X\s+([A-Z]+)`)
)

// operation says which documented operation an example calls, e.g.
// "DELETE /api/sessions/{id}".
func operation(tb testing.TB, cmd string) string {
	tb.Helper()
	m := exampleURL.FindStringSubmatch(cmd)
	if m == nil {
		tb.Fatalf("example without a URL: %s", cmd)
	}
	method := "GET"
	if x := exampleMethod.FindStringSubmatch(cmd); x != nil {
		method = x[1]
	} else if strings.Contains(cmd, " -d ") || strings.Contains(cmd, " -F ") {
		method = "POST"
	}
	req, _ := http.NewRequest(method, "http://127.0.0.1"+strings.ReplaceAll(m[1], "$ID", "ID"), nil)
	_, router := api()
	route, _, err := router.FindRoute(req)
	if err != nil {
		tb.Errorf("example %s %s is no documented operation: %v", method, m[1], err)
		return ""
	}
	return method + " " + route.Path
}

// TestDocsExamples runs the curl examples of docs/api.md and README.md
// against a live daemon, in order, each with sh -c: each must succeed
// (curl -f fails on an error status). docs/api.md must have an example of
// every documented operation.
func TestDocsExamples(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skipf("curl not installed: %v", err)
	}
	t.Logf("using %s", curl)
	root := mustAbs(t, "..")
	for _, doc := range []string{"docs/api.md", "README.md"} {
		t.Run(doc, func(t *testing.T) {
			examples := curlExamples(t, filepath.Join(root, doc))
			if len(examples) == 0 {
				t.Fatalf("%s has no curl examples", doc)
			}
			if doc == "docs/api.md" {
				spec, _ := api()
				covered := map[string]bool{}
				for _, ex := range examples {
					covered[operation(t, ex.command)] = true
				}
				for path, item := range spec.Paths.Map() {
					for method := range item.Operations() {
						if !covered[method+" "+path] {
							t.Errorf("%s has no example of %s %s", doc, method, path)
						}
					}
				}
			}
			runExamples(t, root, examples)
		})
	}
}

// runExamples runs examples in order against a fresh daemon, with URL,
// TOKEN (alice's), ADMIN_TOKEN, SOCK and ID (a ready session of alice's
// with 1hpv) set, in a directory with testdata/.
func runExamples(t *testing.T, root string, examples []example) {
	d := MustServe(t, options{sv: func(c *chimerax.Config) { c.MaxSessionsPerUser = 16 }})
	token := d.mustUser(t, "alice", false)
	admin := d.mustUser(t, "root", true)
	resp, body := d.call(t, "POST", "/api/sessions", token, map[string]any{"pdb_id": "1hpv"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	id := decode[struct{ ID string }](t, body).ID

	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(root, "testdata"), filepath.Join(dir, "testdata")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"URL="+d.URL, "TOKEN="+token, "ADMIN_TOKEN="+admin, "ID="+id,
		"SOCK="+filepath.Join(d.Dir, "chimerad.sock"))
	for _, ex := range examples {
		// The README's examples name the default address.
		command := strings.ReplaceAll(ex.command, "http://127.0.0.1:8471", d.URL)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, "sh", "-c", command)
		cmd.Dir, cmd.Env = dir, env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		// An event stream ends at the session's end or at --max-time
		// (curl's exit 28) once it has sent the state.
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 28 && strings.Contains(command, "--max-time") &&
			strings.Contains(stdout.String(), "event: state") {
			err = nil
		}
		if err != nil {
			t.Errorf("line %d: %s\n%v: %s%s", ex.line, command, err, stderr.String(), tail(stdout.String(), 500))
		}
	}
}
