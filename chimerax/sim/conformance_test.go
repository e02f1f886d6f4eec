package sim_test

// The protocol conformance tests launch a real process and talk to it over
// real HTTP on loopback, as chimerad does. They run against the simulator,
// which this test binary impersonates when CHIMERAD_SIM_SELF=1 (as Go's
// os/exec tests do), or, unchanged, against a real ChimeraX when the
// -chimerax flag (or CHIMERAX_CONFORMANCE_PATH) names its binary:
//
//	go test -run Conformance ./chimerax/sim -chimerax /usr/bin/chimerax
//
// Tests of the simulator's fault knobs are skipped then, and so are checks
// of where the simulator knowingly differs (the wording of errors, errors
// for models that are not open).

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax/sim"
)

func TestMain(m *testing.M) {
	if os.Getenv("CHIMERAD_SIM_SELF") == "1" {
		os.Exit(sim.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	// The simulator is this test binary: under -race it would sleep a
	// second at exit waiting for late race reports.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	flag.Parse()
	chimeraxPath = *chimeraxFlag
	os.Exit(m.Run())
}

var chimeraxFlag = flag.String("chimerax", os.Getenv("CHIMERAX_CONFORMANCE_PATH"),
	"run the conformance tests against this ChimeraX instead of the simulator")

// chimeraxPath names a real ChimeraX to test instead of the simulator.
var chimeraxPath string

// headless is how chimerad starts ChimeraX.
var headless = []string{"--nogui", "--offscreen", "--nocolor", "--cmd", "remotecontrol rest start port 0 json true"}

// portLine is the line ChimeraX prints when its REST server listens. A
// prompt printed just before it may share its line.
var portLine = regexp.MustCompile(`(?m)^(?:cmd> )*REST server started on host (\S+) port (\d+)\r?$`)

// startTimeout bounds how long a start may take; ChimeraX's clients allow
// 30 to 60 s.
func startTimeout() time.Duration {
	if chimeraxPath != "" {
		return 60 * time.Second
	}
	return 20 * time.Second
}

var client = &http.Client{
	Timeout:   60 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// process is a running ChimeraX or simulator.
type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *output
	stderr *output
	exited chan struct{} // closed when cmd.Wait has returned
	err    error         // cmd.Wait's error, once exited is closed
	base   string        // "http://127.0.0.1:port", once the port is known
}

// launch starts a process with args and the given knobs in its environment,
// stdin a pipe kept open, stdout and stderr drained, a HOME and working
// directory of its own. It is killed and reaped when the test ends.
func launch(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	var cmd *exec.Cmd
	if chimeraxPath != "" {
		cmd = exec.Command(chimeraxPath, args...)
	} else {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(exe, args...)
		cmd.Args[0] = "CHIMERAD_SIM_SELF" // so that ps and pgrep -f can find strays
		env = append(env, "CHIMERAD_SIM_SELF=1")
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHIMERAX_SIM_") && !strings.HasPrefix(kv, "HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = t.TempDir()
	p := &process{cmd: cmd, stdout: newOutput(), stderr: newOutput(), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", p.stdout.tail(), p.stderr.tail())
		}
	})
	return p
}

// start launches a process as chimerad does and waits for its port.
func start(t *testing.T, env ...string) *process {
	t.Helper()
	p := launch(t, env, headless...)
	p.waitPort(t)
	return p
}

// waitPort waits for the port line and returns the output up to it.
func (p *process) waitPort(t *testing.T) string {
	t.Helper()
	out := p.stdout.waitFor(t, p, startTimeout(), "the REST port line", func(s string) bool {
		return strings.Contains(s, "REST server started on host ") && portLine.MatchString(s)
	})
	m := portLine.FindStringSubmatch(out)
	if m[1] != "127.0.0.1" {
		t.Errorf("REST server on host %s, want 127.0.0.1", m[1])
	}
	p.base = "http://127.0.0.1:" + m[2]
	return out
}

// wait waits for the process to exit and returns its exit status.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(startTimeout()):
		t.Fatal("process still running")
	}
	return p.cmd.ProcessState.ExitCode()
}

// output collects what a process writes to a pipe and wakes up waiters.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced at each write
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// tail is the end of the output, for failure messages.
func (o *output) tail() string {
	s := o.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// waitFor waits until match accepts the output, the process exits, or the
// timeout passes, and returns the output.
func (o *output) waitFor(t *testing.T, p *process, timeout time.Duration, what string, match func(string) bool) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		s, changed := o.buf.String(), o.changed
		o.mu.Unlock()
		if match(s) {
			return s
		}
		select {
		case <-changed:
		case <-p.exited:
			if s := o.String(); match(s) {
				return s
			}
			t.Fatalf("waiting for %s: the process exited: %v", what, p.err)
		case <-deadline.C:
			t.Fatalf("waiting for %s: nothing after %v", what, timeout)
		}
	}
}

// reply is a /run reply in JSON mode.
type reply struct {
	raw         string
	contentType string

	JSONValues   []*string `json:"json values"`
	PythonValues []any     `json:"python values"`
	Log          struct {
		Note    []string `json:"note"`
		Warning []string `json:"warning"`
		Error   []string `json:"error"`
		Bug     []string `json:"bug"`
	} `json:"log messages"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// run sends commands as repeated command parameters of GET /run.
func (p *process) run(t *testing.T, commands ...string) *reply {
	t.Helper()
	resp, err := client.Get(p.base + "/run?" + url.Values{"command": commands}.Encode())
	if err != nil {
		t.Fatalf("GET /run %q: %v", commands, err)
	}
	return decodeReply(t, resp)
}

func decodeReply(t *testing.T, resp *http.Response) *reply {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/run status %s, want 200 OK", resp.Status)
	}
	r := &reply{raw: string(body), contentType: resp.Header.Get("Content-Type")}
	if err := json.Unmarshal(body, r); err != nil {
		t.Fatalf("/run reply %s: %v", body, err)
	}
	return r
}

// jsonValue decodes the i'th JSON value, which is itself JSON text.
func (r *reply) jsonValue(t *testing.T, i int, v any) {
	t.Helper()
	if i >= len(r.JSONValues) || r.JSONValues[i] == nil {
		t.Fatalf("reply %s has no JSON value %d", r.raw, i)
	}
	if err := json.Unmarshal([]byte(*r.JSONValues[i]), v); err != nil {
		t.Fatalf("JSON value %q: %v", *r.JSONValues[i], err)
	}
}

func (r *reply) errorMessage() string {
	if r.Error == nil {
		return "<no error>"
	}
	return r.Error.Type + ": " + r.Error.Message
}

func testdataFile(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func simulatorOnly(t *testing.T) {
	if chimeraxPath != "" {
		t.Skip("tests a fault knob of the simulator")
	}
}

func TestConformanceStartup(t *testing.T) {
	t.Parallel()
	p := launch(t, nil, headless...)
	before := p.waitPort(t)
	if !strings.Contains(before, "Executing: remotecontrol rest start port 0 json true") {
		t.Errorf("stdout before the port line lacks the --cmd echo:\n%s", before)
	}
	p.stdout.waitFor(t, p, startTimeout(), "the INFO block and the prompt", func(s string) bool {
		return strings.Contains(s, "INFO:\nREST server started on host 127.0.0.1 port ") &&
			strings.Contains(s, "/cmdline.html for CLI interface\n") &&
			strings.Contains(s, "INFO:\nUCSF ChimeraX version: ") &&
			strings.HasSuffix(s, "cmd> ")
	})
}

func TestConformanceVersion(t *testing.T) {
	t.Parallel()
	p := start(t)
	r := p.run(t, "version")
	keys := []string{`{"json values": [`, `], "python values": [`, `], "log messages": {"note": [`,
		`], "warning": [`, `], "error": [`, `], "bug": [`, `]}, "error": null}`}
	rest := r.raw
	for _, k := range keys {
		i := strings.Index(rest, k)
		if i < 0 {
			t.Fatalf("version reply lacks %s in order:\n%s", k, r.raw)
		}
		rest = rest[i+len(k):]
	}
	if !strings.HasPrefix(r.raw, keys[0]) || rest != "" {
		t.Errorf("version reply is not exactly the envelope:\n%s", r.raw)
	}
	if len(r.Log.Note) < 2 || !strings.HasPrefix(r.Log.Note[0], "UCSF ChimeraX version: ") || !strings.HasSuffix(r.Log.Note[0], "\n") {
		t.Errorf("version notes = %q, want the version line first", r.Log.Note)
	}
	if !strings.Contains(r.raw, `"\u00a9 2016-`) {
		t.Errorf("version reply does not write © as \\u00a9:\n%s", r.raw)
	}
	if len(r.JSONValues) != 1 || r.JSONValues[0] != nil || r.Error != nil {
		t.Errorf("version: json values %v, error %s, want [null] and no error", r.JSONValues, r.errorMessage())
	}
	wantType := []string{"application/json", "text/plain"}
	if chimeraxPath == "" {
		wantType = wantType[:1]
	}
	if !slices.Contains(wantType, r.contentType) {
		t.Errorf("Content-Type %q, want one of %q", r.contentType, wantType)
	}
}

func TestConformanceErrors(t *testing.T) {
	t.Parallel()
	p := start(t)
	tests := []struct{ command, want string }{
		{"chimeradnosuchcommand x y", "UserError: Unknown command: chimeradnosuchcommand x y"},
		{"open pdb:abc", `UserError: PDB identifiers are either 4 or 8 characters long, got "abc"`},
		{"open /nonexistent/x.pdb", "UserError: No such file/path: /nonexistent/x.pdb"},
		{"open /nonexistent/x.xyz", "UserError: Unrecognized file suffix '.xyz'"},
	}
	for _, tt := range tests {
		r := p.run(t, tt.command)
		if got := r.errorMessage(); got != tt.want {
			t.Errorf("%s: error %q, want %q", tt.command, got, tt.want)
		}
		if len(r.JSONValues) != 0 || len(r.PythonValues) != 0 {
			t.Errorf("%s: values %v and %v, want none", tt.command, r.JSONValues, r.PythonValues)
		}
	}
}

func TestConformanceRemoteControl(t *testing.T) {
	t.Parallel()
	p := start(t)
	r := p.run(t, "remotecontrol rest start port 0 json true")
	if want := []string{"REST server is already running\n"}; !slices.Equal(r.Log.Error, want) || r.Error != nil {
		t.Errorf("a second rest start: errors %q, error %s, want %q and no exception", r.Log.Error, r.errorMessage(), want)
	}
	r = p.run(t, "remotecontrol rest port")
	port := p.base[strings.LastIndexByte(p.base, ':')+1:]
	if want := []string{"REST server is listening on host 127.0.0.1 port " + port + "\n"}; !slices.Equal(r.Log.Note, want) {
		t.Errorf("rest port: notes %q, want %q", r.Log.Note, want)
	}
}

func TestConformanceOpenInfoClose(t *testing.T) {
	t.Parallel()
	p := start(t)
	r := p.run(t, "open "+testdataFile(t, "1hpv.pdb"))
	var opened struct {
		Specs []string `json:"model specs"`
	}
	r.jsonValue(t, 0, &opened)
	if !slices.Equal(opened.Specs, []string{"#1"}) || r.Error != nil {
		t.Fatalf("open 1hpv.pdb: model specs %q, error %s, want [#1]", opened.Specs, r.errorMessage())
	}
	r = p.run(t, "info models")
	if !slices.ContainsFunc(r.Log.Note, func(n string) bool { return strings.HasPrefix(n, "model id #1 type AtomicStructure name ") }) {
		t.Errorf("info models notes %q lack model #1", r.Log.Note)
	}
	var infos []struct {
		Spec  string `json:"spec"`
		Class string `json:"class"`
	}
	r.jsonValue(t, 0, &infos)
	if len(infos) == 0 || infos[0].Spec != "#1" || infos[0].Class != "AtomicStructure" {
		t.Errorf("info models JSON value %+v, want #1 an AtomicStructure first", infos)
	}
	p.run(t, "close")
	// With no models ChimeraX logs an empty message.
	if r = p.run(t, "info models"); strings.TrimSpace(strings.Join(r.Log.Note, "")) != "" {
		t.Errorf("info models after close: notes %q, want none but blank ones", r.Log.Note)
	}
}

func TestConformanceCommandSplitting(t *testing.T) {
	t.Parallel()
	p := start(t)
	r := p.run(t, "version; version")
	if len(r.JSONValues) != 2 || len(r.Log.Note) != 4 {
		t.Errorf("version; version: %d values, %d notes, want 2 and 4", len(r.JSONValues), len(r.Log.Note))
	}
	// Log messages collect over repeated parameters; values come from the last.
	r = p.run(t, "version", "version; version")
	if len(r.JSONValues) != 2 || len(r.Log.Note) != 6 {
		t.Errorf("command=version&command=version;version: %d values, %d notes, want 2 and 6", len(r.JSONValues), len(r.Log.Note))
	}
	// A failure stops the rest.
	r = p.run(t, "version", "chimeradnosuchcommand", "version")
	if r.Error == nil || len(r.JSONValues) != 0 || len(r.Log.Note) != 3 {
		t.Errorf("a failing middle command: error %s, %d values, notes %q; want an error, none, 2 version notes and the error",
			r.errorMessage(), len(r.JSONValues), r.Log.Note)
	}
}

func TestConformancePOST(t *testing.T) {
	t.Parallel()
	p := start(t)

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("command", "version")
	mw.Close()
	resp, err := client.Post(p.base+"/run", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	if r := decodeReply(t, resp); len(r.Log.Note) != 2 || r.Error != nil {
		t.Errorf("multipart POST of version: notes %q, error %s, want the 2 version notes", r.Log.Note, r.errorMessage())
	}

	missing := []string{"\"command\" parameter missing\n"}
	resp, err = client.PostForm(p.base+"/run", url.Values{"command": {"version"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := decodeReply(t, resp); !slices.Equal(r.Log.Error, missing) || r.Error != nil || len(r.Log.Note) != 0 {
		t.Errorf("URL-encoded POST: errors %q, error %s, notes %q, want only %q", r.Log.Error, r.errorMessage(), r.Log.Note, missing)
	}
	resp, err = client.Get(p.base + "/run")
	if err != nil {
		t.Fatal(err)
	}
	if r := decodeReply(t, resp); !slices.Equal(r.Log.Error, missing) || r.Error != nil {
		t.Errorf("GET /run without command: errors %q, error %s, want only %q", r.Log.Error, r.errorMessage(), missing)
	}
}

func TestConformanceStaticAndMethods(t *testing.T) {
	t.Parallel()
	p := start(t)
	tests := []struct {
		method, path string
		status       []int
		contentType  string
	}{
		{"GET", "/cmdline.html", []int{200}, "text/html"},
		{"GET", "/nope", []int{404}, "text/html;charset=utf-8"},
		{"PUT", "/run", []int{501}, "text/html;charset=utf-8"},
		{"DELETE", "/run", []int{501}, "text/html;charset=utf-8"},
		// 405 at ChimeraX's head without cors; releases up to 1.11 have
		// no OPTIONS handler, hence 501.
		{"OPTIONS", "/run", []int{405, 501}, "text/html;charset=utf-8"},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, p.base+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if !slices.Contains(tt.status, resp.StatusCode) || resp.Header.Get("Content-Type") != tt.contentType {
			t.Errorf("%s %s = %d %q, want %v %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, tt.contentType)
		}
		if server := resp.Header.Get("Server"); !strings.HasPrefix(server, "BaseHTTP/0.6 Python/3.") {
			t.Errorf("%s %s: Server %q, want Python's BaseHTTP", tt.method, tt.path, server)
		}
		if resp.Proto != "HTTP/1.0" {
			t.Errorf("%s %s: protocol %s, want HTTP/1.0", tt.method, tt.path, resp.Proto)
		}
	}
}

func TestConformanceSaveImage(t *testing.T) {
	t.Parallel()
	p := start(t)
	p.run(t, "open "+testdataFile(t, "1hpv.pdb"))
	path := filepath.Join(t.TempDir(), "x.png")
	r := p.run(t, fmt.Sprintf("save %s width 64 height 48 supersample 2", path))
	if r.Error != nil && strings.Contains(r.Error.Message, "OpenGL") && chimeraxPath != "" {
		t.Skipf("no offscreen rendering here: %s", r.errorMessage())
	}
	if r.Error != nil {
		t.Fatalf("save: %s", r.errorMessage())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 48 {
		t.Errorf("saved image is %dx%d, want 64x48", b.Dx(), b.Dy())
	}
	r = p.run(t, "save /nonexistent/dir/x.png")
	if got, want := r.errorMessage(), `UserError: Directory "/nonexistent/dir" does not exist`; got != want {
		t.Errorf("save into a missing directory: %q, want %q", got, want)
	}
}

func TestConformanceSession(t *testing.T) {
	t.Parallel()
	p := start(t)
	path := filepath.Join(t.TempDir(), "s.cxs")
	p.run(t, "open "+testdataFile(t, "1hpv.pdb"))
	if r := p.run(t, "save "+path); r.Error != nil {
		t.Fatalf("save %s: %s", path, r.errorMessage())
	}
	p.run(t, "close session")
	if r := p.run(t, "open "+path); r.Error != nil {
		t.Fatalf("open %s: %s", path, r.errorMessage())
	}
	r := p.run(t, "info models")
	if !slices.ContainsFunc(r.Log.Note, func(n string) bool { return strings.HasPrefix(n, "model id #1 type AtomicStructure name ") }) {
		t.Errorf("info models after restoring the session: notes %q, want model #1", r.Log.Note)
	}
}

func TestConformanceExitOverREST(t *testing.T) {
	t.Parallel()
	p := start(t)
	resp, err := client.Get(p.base + "/run?command=exit")
	if err == nil {
		resp.Body.Close()
		t.Errorf("exit answered %s, want the connection closed without a reply", resp.Status)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("exit status %d after exit, want 0", code)
	}
}

func TestConformanceStdin(t *testing.T) {
	t.Parallel()
	t.Run("EOF", func(t *testing.T) {
		t.Parallel()
		p := start(t)
		p.stdin.Close()
		if code := p.wait(t); code != 0 {
			t.Errorf("exit status %d after stdin closed, want 0", code)
		}
		if out := p.stdout.String(); !regexp.MustCompile(`(?m)EOF$`).MatchString(out) {
			t.Errorf("stdout lacks EOF:\n%s", p.stdout.tail())
		}
	})
	t.Run("exit", func(t *testing.T) {
		t.Parallel()
		p := start(t)
		io.WriteString(p.stdin, "version\n")
		p.stdout.waitFor(t, p, startTimeout(), "the echo of version", func(s string) bool {
			return strings.Contains(s, "INFO:\nExecuting: version\nINFO:\nUCSF ChimeraX version: ")
		})
		io.WriteString(p.stdin, "exit\n")
		if code := p.wait(t); code != 0 {
			t.Errorf("exit status %d after exit on stdin, want 0", code)
		}
	})
}

func TestConformanceCommandLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		status int
		stdout string // a substring of stdout
		stderr string // a substring of stderr
	}{
		{"unknown option", []string{"--nogui", "--chimeradbogus"}, 64, "", "usage: "},
		{"help", []string{"--help"}, 64, "usage: ", ""},
		{"version", []string{"--version"}, 0, "UCSF ChimeraX version: ", ""},
		{"exit after startup", append(slices.Clone(headless), "--exit"), 0, "Executing: remotecontrol rest start", ""},
		{"failing --cmd", []string{"--nogui", "--nocolor", "--cmd", "chimeradnosuchcommand"}, 70, "", "Unknown command: chimeradnosuchcommand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := launch(t, nil, tt.args...)
			if code := p.wait(t); code != tt.status {
				t.Errorf("%q: exit status %d, want %d", tt.args, code, tt.status)
			}
			if !strings.Contains(p.stdout.String(), tt.stdout) || !strings.Contains(p.stderr.String(), tt.stderr) {
				t.Errorf("%q: stdout %q, stderr %q; want them to contain %q and %q", tt.args, p.stdout.tail(), p.stderr.tail(), tt.stdout, tt.stderr)
			}
		})
	}
}

// The simulator's fault knobs.

func TestSimulatorStartDelay(t *testing.T) {
	simulatorOnly(t)
	t.Parallel()
	const delay = 400 * time.Millisecond
	begin := time.Now()
	start(t, "CHIMERAX_SIM_START_DELAY="+delay.String())
	if elapsed := time.Since(begin); elapsed < delay {
		t.Errorf("port line after %v, want at least %v", elapsed, delay)
	}
}

func TestSimulatorNoPort(t *testing.T) {
	simulatorOnly(t)
	t.Parallel()
	p := launch(t, []string{"CHIMERAX_SIM_NO_PORT=1"}, headless...)
	p.stdout.waitFor(t, p, startTimeout(), "the prompt", func(s string) bool { return strings.HasSuffix(s, "cmd> ") })
	io.WriteString(p.stdin, "remotecontrol rest port\n")
	out := p.stdout.waitFor(t, p, startTimeout(), "the port report", func(s string) bool {
		return strings.Contains(s, "INFO:\nREST server is not running\n")
	})
	if portLine.MatchString(out) {
		t.Errorf("a port line with CHIMERAX_SIM_NO_PORT=1:\n%s", out)
	}
	p.stdin.Close()
	if code := p.wait(t); code != 0 {
		t.Errorf("exit status %d after stdin closed, want 0", code)
	}
}

func TestSimulatorCrashAfter(t *testing.T) {
	simulatorOnly(t)
	t.Parallel()
	p := start(t, "CHIMERAX_SIM_CRASH_AFTER=2")
	p.run(t, "version")
	p.run(t, "version")
	if resp, err := client.Get(p.base + "/run?command=version"); err == nil {
		resp.Body.Close()
		t.Errorf("the third command answered %s, want no reply", resp.Status)
	}
	if code := p.wait(t); code != 70 {
		t.Errorf("exit status %d, want 70", code)
	}
	if errs := p.stderr.String(); !strings.Contains(errs, "Traceback (most recent call last):\n") {
		t.Errorf("stderr lacks a traceback:\n%s", errs)
	}
}

func TestSimulatorCrashOn(t *testing.T) {
	simulatorOnly(t)
	t.Parallel()
	p := start(t, "CHIMERAX_SIM_CRASH_ON=color")
	if r := p.run(t, "version"); r.Error != nil {
		t.Fatalf("version: %s", r.errorMessage())
	}
	if resp, err := client.Get(p.base + "/run?command=color%20red"); err == nil {
		resp.Body.Close()
		t.Errorf("color answered %s, want no reply", resp.Status)
	}
	if code := p.wait(t); code != 70 {
		t.Errorf("exit status %d, want 70", code)
	}
	if errs := p.stderr.String(); !strings.Contains(errs, "Traceback (most recent call last):\n") {
		t.Errorf("stderr lacks a traceback:\n%s", errs)
	}
}

func TestSimulatorHangOn(t *testing.T) {
	simulatorOnly(t)
	t.Parallel()
	p := start(t, "CHIMERAX_SIM_HANG_ON=wait")
	impatient := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := impatient.Get(p.base + "/run?command=wait%201"); err == nil {
		resp.Body.Close()
		t.Fatalf("wait answered %s, want no answer", resp.Status)
	}
	// One request at a time: the page waits behind the hung command.
	if resp, err := impatient.Get(p.base + "/cmdline.html"); err == nil {
		resp.Body.Close()
		t.Errorf("/cmdline.html answered %s behind a hung command, want no answer", resp.Status)
	}
}

func TestSimulatorSlow(t *testing.T) {
	simulatorOnly(t)
	t.Parallel()
	const slow = 300 * time.Millisecond
	p := start(t, "CHIMERAX_SIM_SLOW="+slow.String())
	begin := time.Now()
	p.run(t, "version")
	if elapsed := time.Since(begin); elapsed < slow {
		t.Errorf("version took %v, want at least %v", elapsed, slow)
	}
}

func TestSimulatorSlowOn(t *testing.T) {
	simulatorOnly(t)
	t.Parallel()
	const slow = 500 * time.Millisecond
	p := start(t, "CHIMERAX_SIM_SLOW="+slow.String(), "CHIMERAX_SIM_SLOW_ON=info")
	timed := func(command string) time.Duration {
		begin := time.Now()
		if r := p.run(t, command); r.Error != nil {
			t.Fatalf("%s: %s", command, r.errorMessage())
		}
		return time.Since(begin)
	}
	if d := timed("info models"); d < slow {
		t.Errorf("info models took %v, want at least %v", d, slow)
	}
	if d := timed("version"); d >= slow {
		t.Errorf("version took %v, want less than %v: only info is slow", d, slow)
	}
}

func TestSimulatorLeakOn(t *testing.T) {
	simulatorOnly(t)
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	t.Parallel()
	const leak = 32 << 20
	p := start(t, fmt.Sprintf("CHIMERAX_SIM_LEAK=%d", leak), "CHIMERAX_SIM_LEAK_ON=info")
	rss := func() int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no VmRSS in /proc/%d/status", p.cmd.Process.Pid)
		}
		kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return kb << 10
	}
	p.run(t, "version")
	before := rss()
	for range 4 {
		p.run(t, "version")
	}
	if grown := rss() - before; grown >= leak {
		t.Errorf("resident memory grew by %d MiB over 4 version commands, want less than %d: only info leaks", grown>>20, leak>>20)
	}
	before = rss()
	for range 4 {
		p.run(t, "info")
	}
	if grown := rss() - before; grown < 4*leak*9/10 {
		t.Errorf("resident memory grew by %d MiB over 4 info commands, want at least %d", grown>>20, 4*leak*9/10>>20)
	}
}

func TestSimulatorSIGTERM(t *testing.T) {
	simulatorOnly(t)
	t.Parallel()
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		p := start(t)
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(t)
		if p.err == nil || p.err.Error() != "signal: terminated" {
			t.Errorf("after SIGTERM: %v, want signal: terminated", p.err)
		}
	})
	t.Run("ignored", func(t *testing.T) {
		t.Parallel()
		p := start(t, "CHIMERAX_SIM_IGNORE_SIGTERM=1")
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.run(t, "version") // still serving
		select {
		case <-p.exited:
			t.Fatalf("exited after SIGTERM: %v", p.err)
		default:
		}
		p.cmd.Process.Kill()
		p.wait(t)
		if p.err == nil || p.err.Error() != "signal: killed" {
			t.Errorf("after SIGKILL: %v, want signal: killed", p.err)
		}
	})
}

func TestSimulatorFlood(t *testing.T) {
	simulatorOnly(t)
	t.Parallel()
	const flood = 4 << 20 // far more than a pipe holds
	p := launch(t, []string{fmt.Sprintf("CHIMERAX_SIM_FLOOD=%d", flood)}, headless...)
	before := p.waitPort(t)
	if len(before) < flood {
		t.Errorf("%d bytes before the port line, want at least %d", len(before), flood)
	}
	if r := p.run(t, "version"); len(r.Log.Note) != 2 {
		t.Errorf("version after the flood: notes %q", r.Log.Note)
	}
}

func TestSimulatorVersion(t *testing.T) {
	simulatorOnly(t)
	t.Parallel()
	tests := []struct {
		version, contentType string
		pythonModel          string // "open"'s Python value
	}{
		{"1.8", "text/plain", `[null]`},
		{"1.9", "text/plain", `[null]`},
		{"1.10", "text/plain", `[null]`},
		{"1.11", "application/json", `["pept.pdb #1"]`},
	}
	for _, tt := range tests {
		for _, how := range []string{"flag", "env"} {
			t.Run(tt.version+"/"+how, func(t *testing.T) {
				t.Parallel()
				var p *process
				if how == "flag" {
					p = launch(t, nil, append([]string{"--chimerax-version", tt.version}, headless...)...)
				} else {
					p = launch(t, []string{"CHIMERAX_SIM_VERSION=" + tt.version}, headless...)
				}
				p.waitPort(t)
				r := p.run(t, "version")
				if r.contentType != tt.contentType || !strings.HasPrefix(r.Log.Note[0], "UCSF ChimeraX version: "+tt.version+" (") {
					t.Errorf("version %s: Content-Type %q, note %q, want %q and that version", tt.version, r.contentType, r.Log.Note[0], tt.contentType)
				}
				r = p.run(t, "open "+testdataFile(t, "pept.pdb"))
				if got, _ := json.Marshal(r.PythonValues); string(got) != "["+tt.pythonModel+"]" || r.Error != nil {
					t.Errorf("version %s: open's python values %s, error %s, want [%s]", tt.version, got, r.errorMessage(), tt.pythonModel)
				}
			})
		}
	}
	// The log option of "remotecontrol rest start" came in 1.9: in 1.8 it
	// is a UserError, which in --cmd ends ChimeraX with status 70.
	for _, version := range []string{"1.8", "1.9"} {
		t.Run("log option/"+version, func(t *testing.T) {
			t.Parallel()
			p := launch(t, nil, "--chimerax-version", version, "--nogui", "--offscreen", "--nocolor",
				"--cmd", "remotecontrol rest start port 0 json true log true")
			if version == "1.9" {
				p.waitPort(t)
				return
			}
			if code := p.wait(t); code != 70 || !strings.Contains(p.stderr.String(), "UserError: Expected a keyword") {
				t.Errorf("1.8 with rest start log true: exit status %d, stderr %q, want 70 and the UserError", code, p.stderr.tail())
			}
		})
	}
	for _, bad := range [][]string{{"CHIMERAX_SIM_VERSION=2.0"}, nil} {
		args := headless
		if bad == nil {
			args = append([]string{"--chimerax-version", "2.0"}, headless...)
		}
		p := launch(t, bad, args...)
		code := p.wait(t)
		if bad != nil && (code != 78 || !strings.Contains(p.stderr.String(), `CHIMERAX_SIM_VERSION="2.0"`)) {
			t.Errorf("CHIMERAX_SIM_VERSION=2.0: exit status %d, stderr %q, want 78 and the knob named", code, p.stderr.String())
		}
		if bad == nil && (code != 64 || !strings.Contains(p.stderr.String(), "--chimerax-version 2.0")) {
			t.Errorf("--chimerax-version 2.0: exit status %d, stderr %q, want 64 and the option named", code, p.stderr.String())
		}
	}
}

func TestSimulatorFetchCache(t *testing.T) {
	simulatorOnly(t)
	t.Parallel()
	cache := t.TempDir()
	data, err := os.ReadFile(testdataFile(t, "3al1.cif"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "3al1.cif"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, "CHIMERAX_SIM_FETCH_CACHE="+cache)
	r := p.run(t, "open 3AL1")
	if r.Error != nil || len(r.PythonValues) != 1 || fmt.Sprint(r.PythonValues[0]) != "[3al1 #1]" {
		t.Errorf("open 3AL1 from the cache: python values %v, error %s, want [[3al1 #1]]", r.PythonValues, r.errorMessage())
	}
	r = p.run(t, "open 9zzz")
	if got, want := r.errorMessage(), "UserError: Fetching url http://files.rcsb.org/download/9zzz.cif failed:\nHTTP Error 404: Not Found"; got != want {
		t.Errorf("open 9zzz missing from the cache: %q, want %q", got, want)
	}
}
