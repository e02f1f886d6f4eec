//go:build linux

package cmd_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/store"
)

// binary is chimerad, built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chimerad-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "chimerad")
	// -buildvcs=true: the version names the commit (GOFLAGS may say false).
	build := exec.Command("go", "build", "-buildvcs=true", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build chimerad:", err)
		os.Exit(1)
	}
	// A local stand-in for the PDB mirrors: tests never reach the internet.
	mirror := chimeraxtest.StartPDBMirror(filepath.Join("..", "testdata"))
	mirrorURL = mirror.Template()
	code := m.Run()
	mirror.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mirrorURL is the PDB mirror template the test daemons use.
var mirrorURL string

// testEnv is a clean environment: no ChimeraX on PATH, no config file.
func testEnv(t *testing.T) []string {
	home := t.TempDir()
	return []string{
		"PATH=" + filepath.Dir(mustLookPath(t, "go")) + ":/usr/bin:/bin",
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"CHIMERAX_SIM_FETCH_CACHE=" + mustAbs(t, "../testdata"),
		"CHIMERAD_PDB_MIRRORS=" + mirrorURL,
	}
}

// chimerad runs an admin command to completion.
func chimerad(t *testing.T, dataDir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	c := exec.Command(binary, append(args, "--data-dir", dataDir)...)
	c.Env = testEnv(t)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	c.WaitDelay = 5 * time.Second
	done := make(chan error, 1)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- c.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		c.Process.Kill()
		t.Fatalf("chimerad %v did not finish", args)
	}
	return out.String(), errb.String(), err
}

// daemon is a running `chimerad serve`.
type daemon struct {
	cmd    *exec.Cmd
	dir    string
	url    string
	mu     sync.Mutex
	logs   bytes.Buffer
	exited chan struct{}
}

func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.String()
}

// startDaemon starts `chimerad serve` on a free loopback port and waits
// until it logs where it listens. The daemon is killed at cleanup if the
// test has not stopped it.
func startDaemon(t *testing.T, dir string, extra ...string) *daemon {
	t.Helper()
	return startDaemonCmd(t, dir, nil, extra...)
}

// startDaemonCmd is startDaemon with tune applied to the command first.
func startDaemonCmd(t *testing.T, dir string, tune func(*exec.Cmd), extra ...string) *daemon {
	t.Helper()
	d := &daemon{dir: dir, exited: make(chan struct{})}
	d.cmd = exec.Command(binary, append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, extra...)...)
	// A slow simulator start keeps creates in flight long enough to be hit.
	d.cmd.Env = append(testEnv(t), "CHIMERAD_CHIMERAX_STOP_GRACE=2s", "CHIMERAX_SIM_START_DELAY=200ms",
		"CHIMERAX_SIM_HOG_ON=surface") // see TestMemoryLimitEndToEnd
	if tune != nil {
		tune(d.cmd)
	}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listen := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.logs.Write(sc.Bytes())
			d.logs.WriteByte('\n')
			d.mu.Unlock()
			var line struct{ Message, Listen string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "chimerad serving" {
				listen <- line.Listen
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.exited
		// Children die with the daemon (their parent-death signal), not
		// the same instant: give them a moment.
		deadline := time.Now().Add(5 * time.Second)
		for len(chimeraxtest.Children(dir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if pids := chimeraxtest.Children(dir); len(pids) > 0 {
			for _, ps := range pids {
				for _, pid := range ps {
					syscall.Kill(-pid, syscall.SIGKILL)
				}
			}
			t.Errorf("children left by the daemon: %v", pids)
		}
	})
	select {
	case addr := <-listen:
		d.url = "http://" + addr
	case <-d.exited:
		t.Fatalf("daemon exited at start: %s", d.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not start: %s", d.log())
	}
	return d
}

func (d *daemon) get(t *testing.T, path, token string) (int, []byte) {
	t.Helper()
	return d.do(t, "GET", path, token, "")
}

func (d *daemon) do(t *testing.T, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, d.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	if !strings.Contains(d.log(), `"level":"warn"`) || !strings.Contains(d.log(), "built-in simulator") {
		t.Errorf("no WARN line about the simulator fallback in:\n%s", d.log())
	}

	code, body := d.get(t, "/healthz", "")
	var h map[string]any
	json.Unmarshal(body, &h)
	if code != 200 || h["status"] != "ok" || h["engine"] != "simulator" || h["engine_path"] != binary {
		t.Errorf("healthz = %d %s", code, body)
	}

	// A second daemon on the same data dir refuses at once.
	start := time.Now()
	_, stderr, err := chimerad(t, dir, "serve", "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(stderr, "another chimerad is using "+dir) {
		t.Errorf("second daemon = %v, stderr %q; want a non-zero exit naming the dir", err, stderr)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("second daemon took %v to give up", time.Since(start))
	}

	// Users through the admin socket: stdout is the token alone.
	token, stderr, err := chimerad(t, dir, "users", "add", "alice")
	token = strings.TrimSpace(token)
	if err != nil || !strings.HasPrefix(token, "chx_") || strings.Contains(token, "\n") {
		t.Fatalf("users add = %q, %v (%s)", token, err, stderr)
	}
	if info, err := os.Stat(filepath.Join(dir, "chimerad.sock")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("admin socket = %v, %v; want mode 0600", info, err)
	}

	code, body = d.do(t, "POST", "/api/sessions", token, `{"pdb_id":"3al1","name":"e2e"}`)
	var s struct{ ID, State string }
	json.Unmarshal(body, &s)
	if code != 201 || s.State != "ready" {
		t.Fatalf("create = %d %s", code, body)
	}

	out, stderr, err := chimerad(t, dir, "sessions", "list")
	if err != nil || !strings.Contains(out, s.ID) || !strings.Contains(out, "alice") || !strings.Contains(out, "pdb:3al1") {
		t.Errorf("sessions list = %q, %v (%s)", out, err, stderr)
	}
	out, _, err = chimerad(t, dir, "sessions", "list", "-o", "json", "--user", "alice", "--state", "ready")
	var listed []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 || listed[0]["process"] == nil {
		t.Errorf("sessions list -o json = %q, %v", out, err)
	}
	out, _, err = chimerad(t, dir, "sessions", "show", s.ID)
	if err != nil || !strings.Contains(out, `"pid"`) {
		t.Errorf("sessions show = %q, %v", out, err)
	}
	out, _, err = chimerad(t, dir, "sessions", "kill", s.ID)
	if err != nil || !strings.Contains(out, "terminated (admin_kill)") {
		t.Errorf("sessions kill = %q, %v", out, err)
	}

	// One more live session, for the shutdown to stop.
	code, body = d.do(t, "POST", "/api/sessions", token, `{}`)
	if code != 201 {
		t.Fatalf("create = %d %s", code, body)
	}
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not exit after SIGINT")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGINT = %d, want 0; log:\n%s", code, d.log())
	}
	if pids := chimeraxtest.Children(dir); len(pids) > 0 {
		t.Errorf("children left after SIGINT: %v", pids)
	}
	if _, err := os.Stat(filepath.Join(dir, "chimerad.sock")); !os.IsNotExist(err) {
		t.Errorf("socket left after exit: %v", err)
	}
}

// TestDaemonKilledDuringBurst kills the daemon with SIGKILL while a burst of
// creates is starting, then restarts it: no child is left, no record stays
// starting or ready, and the store passes bbolt's consistency check.
func TestDaemonKilledDuringBurst(t *testing.T) {
	dir := t.TempDir()
	token, _, err := chimerad(t, dir, "users", "add", "alice")
	if err != nil {
		t.Fatal(err)
	}
	token = strings.TrimSpace(token)
	d := startDaemon(t, dir, "--chimerax", "simulator")
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", d.url+"/api/sessions", strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	sessions := filepath.Join(dir, "sessions")
	deadline := time.Now().Add(10 * time.Second)
	for len(process.FindChildren(sessions)) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(process.FindChildren(sessions)) == 0 {
		t.Fatal("no child started during the burst")
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	wg.Wait()

	d = startDaemon(t, dir)
	if pids := process.FindChildren(sessions); len(pids) > 0 {
		t.Errorf("children alive after restart: %v", pids)
	}
	code, body := d.get(t, "/api/sessions", token)
	var list struct {
		Sessions []struct {
			ID, State         string
			TerminationReason string `json:"termination_reason"`
		}
	}
	json.Unmarshal(body, &list)
	if code != 200 || len(list.Sessions) == 0 {
		t.Fatalf("list after restart = %d %s", code, body)
	}
	for _, s := range list.Sessions {
		if s.State != "terminated" || s.TerminationReason != "daemon_restart" {
			t.Errorf("session %s after restart = %s/%s, want terminated/daemon_restart", s.ID, s.State, s.TerminationReason)
		}
	}
	d.cmd.Process.Signal(os.Interrupt)
	<-d.exited
	db, err := store.Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Errorf("store after kill -9 and restart: %v", err)
	}
}

// TestAdoptAfterKill: with session.on_restart adopt, a session created
// before the daemon is killed with SIGKILL is ready and usable after the
// restart, and deleting it then ends its ChimeraX.
func TestAdoptAfterKill(t *testing.T) {
	dir := t.TempDir()
	token, _, err := chimerad(t, dir, "users", "add", "alice")
	if err != nil {
		t.Fatal(err)
	}
	token = strings.TrimSpace(token)
	d := startDaemon(t, dir, "--config", writeConfig(t, "session:\n  on_restart: adopt\n"))
	code, body := d.do(t, "POST", "/api/sessions", token, `{"pdb_id":"3al1"}`)
	var s struct{ ID, State string }
	json.Unmarshal(body, &s)
	if code != 201 {
		t.Fatalf("create = %d %s", code, body)
	}
	out, _, err := chimerad(t, dir, "sessions", "show", s.ID)
	var shown struct {
		Process struct {
			PID     int `json:"pid"`
			ShimPID int `json:"shim_pid"`
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &shown) != nil || shown.Process.PID == 0 || shown.Process.ShimPID == 0 {
		t.Fatalf("sessions show = %q, %v", out, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-shown.Process.PID, syscall.SIGKILL)
		syscall.Kill(-shown.Process.ShimPID, syscall.SIGKILL)
	})

	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	if !alive(shown.Process.PID) {
		t.Fatal("ChimeraX died with the daemon in adopt mode")
	}

	d = startDaemon(t, dir, "--config", writeConfig(t, "session:\n  on_restart: adopt\n"))
	code, body = d.get(t, "/api/sessions/"+s.ID, token)
	json.Unmarshal(body, &s)
	if code != 200 || s.State != "ready" {
		t.Fatalf("session after restart = %d %s, want ready", code, body)
	}
	if code, body := d.do(t, "PUT", "/api/sessions/"+s.ID+"/heartbeat", token, ""); code != 200 {
		t.Errorf("heartbeat on the adopted session = %d %s", code, body)
	}
	if code, body := d.do(t, "DELETE", "/api/sessions/"+s.ID, token, ""); code != 200 {
		t.Fatalf("delete adopted = %d %s", code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(shown.Process.PID) || alive(shown.Process.ShimPID) {
		if time.Now().After(deadline) {
			t.Fatalf("after delete: ChimeraX alive %v, shim alive %v", alive(shown.Process.PID), alive(shown.Process.ShimPID))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie does not count).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

func writeConfig(t *testing.T, yaml string) string {
	p := filepath.Join(t.TempDir(), "chimerad.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMemoryLimitEndToEnd: a session whose ChimeraX goes over
// chimerax.memory_max ends failed/out_of_memory (the simulator allocates
// 4 GiB on `surface` with CHIMERAX_SIM_HOG_ON).
func TestMemoryLimitEndToEnd(t *testing.T) {
	dir := t.TempDir()
	token, _, err := chimerad(t, dir, "users", "add", "alice")
	if err != nil {
		t.Fatal(err)
	}
	token = strings.TrimSpace(token)
	d := startDaemon(t, dir, "--config", writeConfig(t, "chimerax:\n  memory_max: 3GiB\n"))
	code, body := d.do(t, "POST", "/api/sessions", token, `{}`)
	var s struct {
		ID, State         string
		TerminationReason string `json:"termination_reason"`
	}
	if json.Unmarshal(body, &s); code != 201 {
		t.Fatalf("create = %d %s", code, body)
	}
	code, body = d.do(t, "POST", "/api/sessions/"+s.ID+"/commands", token, `{"command":"surface"}`)
	if code < 500 {
		t.Errorf("command past the memory limit = %d %s, want a 5xx (the child died)", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = d.get(t, "/api/sessions/"+s.ID, token)
		json.Unmarshal(body, &s)
		if s.State != "ready" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.State != "failed" || s.TerminationReason != "out_of_memory" {
		t.Errorf("session after the limit = %s/%s, want failed/out_of_memory", s.State, s.TerminationReason)
	}
}

// TestMemoryLimitAtCreate: a structure whose opening goes over
// chimerax.memory_max (the simulator allocates on `open`) answers the
// create with 422 out_of_memory, naming the failed session.
func TestMemoryLimitAtCreate(t *testing.T) {
	dir := t.TempDir()
	token, _, err := chimerad(t, dir, "users", "add", "alice")
	if err != nil {
		t.Fatal(err)
	}
	token = strings.TrimSpace(token)
	d := startDaemonCmd(t, dir, func(c *exec.Cmd) { c.Env = append(c.Env, "CHIMERAX_SIM_HOG_ON=open") },
		"--config", writeConfig(t, "chimerax:\n  memory_max: 3221225472\n"))
	code, body := d.do(t, "POST", "/api/sessions", token, `{"pdb_id":"3al1"}`)
	var p struct {
		Code, Detail string
		SessionID    string `json:"session_id"`
	}
	if json.Unmarshal(body, &p); code != 422 || p.Code != "out_of_memory" || p.SessionID == "" || !strings.Contains(p.Detail, "memory_max") {
		t.Fatalf("create past the memory limit = %d %s, want 422 out_of_memory naming the session and memory_max", code, body)
	}
	var s struct {
		State             string
		TerminationReason string `json:"termination_reason"`
	}
	_, body = d.get(t, "/api/sessions/"+p.SessionID, token)
	if json.Unmarshal(body, &s); s.State != "failed" || s.TerminationReason != "out_of_memory" {
		t.Errorf("session = %s, want failed/out_of_memory", body)
	}
}

func TestAdminWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	token, stderr, err := chimerad(t, dir, "users", "add", "bob", "--admin")
	if err != nil || !strings.HasPrefix(token, "chx_") {
		t.Fatalf("users add without daemon = %q, %v (%s)", token, err, stderr)
	}
	out, _, err := chimerad(t, dir, "users", "list")
	if err != nil || !strings.Contains(out, "bob") || !strings.Contains(out, "true") {
		t.Errorf("users list = %q, %v", out, err)
	}
	fresh, _, err := chimerad(t, dir, "users", "token", "bob")
	if err != nil || !strings.HasPrefix(fresh, "chx_") || fresh == token {
		t.Errorf("users token = %q, %v", fresh, err)
	}
	if _, stderr, err := chimerad(t, dir, "users", "add", "bob"); err == nil || !strings.Contains(stderr, "exists") {
		t.Errorf("duplicate add = %v %q, want an error saying it exists", err, stderr)
	}
	if _, _, err := chimerad(t, dir, "users", "remove", "bob"); err != nil {
		t.Errorf("users remove = %v", err)
	}
	_, stderr, err = chimerad(t, dir, "sessions", "list")
	if err == nil || !strings.Contains(stderr, "no chimerad is running") {
		t.Errorf("sessions list without daemon = %v %q, want a clear message", err, stderr)
	}

	// The token made without a daemon works once one runs.
	d := startDaemon(t, dir)
	if _, _, err := chimerad(t, dir, "users", "add", "carol"); err != nil {
		t.Fatal(err)
	}
	fresh2, _, _ := chimerad(t, dir, "users", "token", "carol")
	if code, body := d.get(t, "/api/sessions", strings.TrimSpace(fresh2)); code != 200 {
		t.Errorf("token = %d %s", code, body)
	}
}

func TestVersionAndHiddenSimulator(t *testing.T) {
	out, _, err := chimerad(t, t.TempDir(), "version")
	if err != nil || !strings.HasPrefix(out, "chimerad ") {
		t.Errorf("version = %q, %v", out, err)
	}
	// Built from a git checkout: the version names its commit, not "dev".
	if rev, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		if commit := strings.TrimSpace(string(rev))[:12]; !strings.Contains(out, commit) {
			t.Errorf("version = %q, want it to name commit %s", out, commit)
		}
	}
	help, _, _ := chimerad(t, t.TempDir(), "--help")
	if strings.Contains(help, "chimerax-sim") {
		t.Errorf("help lists the hidden simulator:\n%s", help)
	}
	c := exec.Command(binary, "chimerax-sim", "--version")
	out2, err := c.Output()
	if err != nil || !strings.Contains(string(out2), "ChimeraX") {
		t.Errorf("chimerax-sim --version = %q, %v", out2, err)
	}
}

func mustLookPath(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustAbs(t *testing.T, p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
