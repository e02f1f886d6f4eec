//go:build linux

package cmd_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
)

// sessionJSON is what these tests read of a session.
type sessionJSON struct {
	ID                string `json:"id"`
	Owner             string `json:"owner"`
	State             string `json:"state"`
	TerminationReason string `json:"termination_reason"`
	CheckpointAt      string `json:"checkpoint_at"`
	Error             string `json:"error"`
}

// mustToken adds user name to the store in dir and returns its token.
func mustToken(t *testing.T, dir, name string) string {
	t.Helper()
	out, _, err := chimerad(t, dir, "users", "add", name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// session reads a session.
func (d *daemon) session(t *testing.T, token, id string) sessionJSON {
	t.Helper()
	code, body := d.get(t, "/api/sessions/"+id, token)
	var s sessionJSON
	if code != 200 || json.Unmarshal(body, &s) != nil {
		t.Fatalf("session %s = %d %s", id, code, body)
	}
	return s
}

// create creates a session from body and returns it.
func (d *daemon) create(t *testing.T, token, body string) sessionJSON {
	t.Helper()
	code, b := d.do(t, "POST", "/api/sessions", token, body)
	var s sessionJSON
	if code != 201 || json.Unmarshal(b, &s) != nil {
		t.Fatalf("create %s = %d %s", body, code, b)
	}
	return s
}

// command runs a command line and fails the test unless ChimeraX ran it.
func (d *daemon) command(t *testing.T, token, id, line string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"command": line})
	code, out := d.do(t, "POST", "/api/sessions/"+id+"/commands", token, string(b))
	if code != 200 || !strings.Contains(string(out), `"ok":true`) {
		t.Fatalf("command %q = %d %s", line, code, out)
	}
	return string(out)
}

// stop ends the daemon with sig and waits for it.
func (d *daemon) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	d.cmd.Process.Signal(sig)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not exit on %v: %s", sig, d.log())
	}
}

// waitReady polls a session until it is ready, failing on an end.
func (d *daemon) waitReady(t *testing.T, token, id string) sessionJSON {
	t.Helper()
	var s sessionJSON
	chimeraxtest.WaitFor(t, 20*time.Second, "session "+id+" ready", func() bool {
		s = d.session(t, token, id)
		if s.State == "terminated" || s.State == "failed" {
			t.Fatalf("session %s ended %s: %s", id, s.TerminationReason, s.Error)
		}
		return s.State == "ready"
	})
	return s
}

// TestShutdownCheckpoints: a planned stop (SIGTERM) checkpoints every ready
// session before ending it, so resume_from works with the next daemon.
func TestShutdownCheckpoints(t *testing.T) {
	dir := t.TempDir()
	token := mustToken(t, dir, "alice")
	d := startDaemon(t, dir)
	s := d.create(t, token, `{"pdb_id":"3al1"}`)
	d.command(t, token, s.ID, "open 3al1") // a second model, #2
	d.stop(t, syscall.SIGTERM)
	if d.cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("exit status %v after SIGTERM: %s", d.cmd.ProcessState, d.log())
	}

	d = startDaemon(t, dir)
	ended := d.session(t, token, s.ID)
	if ended.TerminationReason != "shutdown" || ended.CheckpointAt == "" {
		t.Fatalf("session after the stop = %+v, want ended shutdown with a checkpoint", ended)
	}
	resumed := d.create(t, token, `{"resume_from":"`+s.ID+`"}`)
	if out := d.command(t, token, resumed.ID, "info models"); !strings.Contains(out, "#2") {
		t.Errorf("resumed session's models = %s, want #1 and #2 as at shutdown", out)
	}
	d.stop(t, syscall.SIGTERM)
}

// TestResumeOnRestart: with session.on_restart resume, a session the
// previous daemon shut down (SIGTERM), or died with (kill -9, given a
// checkpoint), starts again from its checkpoint under the same id and
// owner: a polling client sees it starting, then ready. A kill -9 while
// sessions are resuming leaves no record stuck and no child behind: the
// next daemon resumes them again. A session that died without a
// checkpoint ends daemon_restart.
func TestResumeOnRestart(t *testing.T) {
	dir := t.TempDir()
	token := mustToken(t, dir, "alice")
	config := "--config=" + writeConfig(t, "session:\n  on_restart: resume\n")
	d := startDaemon(t, dir, config)
	a := d.create(t, token, `{"pdb_id":"3al1","name":"a"}`)
	d.command(t, token, a.ID, "open 3al1")

	t.Log("SIGTERM: every ready session is checkpointed and resumed")
	d.stop(t, syscall.SIGTERM)
	d = startDaemon(t, dir, config)
	if got := d.session(t, token, a.ID); got.State != "starting" && got.State != "ready" {
		t.Fatalf("after the restart, session = %+v, want starting or ready", got)
	}
	if got := d.waitReady(t, token, a.ID); got.Owner != "alice" {
		t.Errorf("resumed session's owner = %q", got.Owner)
	}
	if out := d.command(t, token, a.ID, "info models"); !strings.Contains(out, "#2") {
		t.Errorf("resumed session's models = %s, want both (#1, #2)", out)
	}

	t.Log("kill -9: sessions with a checkpoint resume, others end")
	if code, body := d.do(t, "POST", "/api/sessions/"+a.ID+"/checkpoint", token, ""); code != 201 {
		t.Fatalf("checkpoint = %d %s", code, body)
	}
	b := d.create(t, token, `{"name":"b"}`) // never checkpointed
	d.stop(t, syscall.SIGKILL)
	// Slow starts, so that the next kill -9 comes while they resume.
	d = startDaemonCmd(t, dir, func(c *exec.Cmd) { c.Env = append(c.Env, "CHIMERAX_SIM_START_DELAY=2s") }, config)
	if got := d.session(t, token, b.ID); got.State != "terminated" || got.TerminationReason != "daemon_restart" {
		t.Errorf("session without a checkpoint after kill -9 = %+v, want terminated daemon_restart", got)
	}
	if got := d.session(t, token, a.ID); got.State != "starting" {
		t.Fatalf("session with a checkpoint after kill -9 = %+v, want starting (a 2 s start)", got)
	}
	chimeraxtest.WaitFor(t, 10*time.Second, "the resumed child started", func() bool { return len(chimeraxtest.Children(dir)[a.ID]) > 0 })

	t.Log("kill -9 while it resumes: the next daemon resumes it again")
	d.stop(t, syscall.SIGKILL)
	d = startDaemon(t, dir, config)
	d.waitReady(t, token, a.ID)
	if kids := chimeraxtest.Children(dir); len(kids) != 1 || len(kids[a.ID]) == 0 {
		t.Errorf("children after the restarts = %v, want only session %s's", kids, a.ID)
	}
	d.command(t, token, a.ID, "info models")
	d.stop(t, syscall.SIGTERM)
}

// TestCLIWithoutTraps: a store-writing command with no daemon on the data
// dir says which store it wrote; session ids take unique prefixes, and an
// ambiguous one lists the candidates.
func TestCLIWithoutTraps(t *testing.T) {
	dir := t.TempDir()
	_, stderr, err := chimerad(t, dir, "users", "add", "alice")
	if want := "wrote " + filepath.Join(dir, "chimerad.db") + "; no daemon is running on it"; err != nil || !strings.Contains(stderr, want) {
		t.Errorf("users add without a daemon: stderr %q, %v; want %q", stderr, err, want)
	}
	if _, stderr, _ := chimerad(t, dir, "users", "list"); stderr != "" {
		t.Errorf("users list (reads) said %q", stderr)
	}
	d := startDaemon(t, dir)
	var tokens []string
	for i := range 5 {
		out, stderr, err := chimerad(t, dir, "users", "add", "u"+strconv.Itoa(i))
		if err != nil || stderr != "" {
			t.Fatalf("users add with a daemon: %v, stderr %q (want none)", err, stderr)
		}
		tokens = append(tokens, strings.TrimSpace(out))
	}
	var ids []string
	for _, tok := range tokens {
		for range 4 { // 20 ids: two share their first hex digit
			ids = append(ids, d.create(t, tok, `{}`).ID)
		}
	}
	out, stderr, err := chimerad(t, dir, "sessions", "show", ids[0][:8])
	if err != nil || !strings.Contains(out, ids[0]) {
		t.Errorf("sessions show %s = %q %q %v, want session %s", ids[0][:8], out, stderr, err, ids[0])
	}
	byFirst := map[byte][]string{}
	for _, id := range ids {
		byFirst[id[0]] = append(byFirst[id[0]], id)
	}
	for first, same := range byFirst {
		if len(same) < 2 {
			continue
		}
		_, stderr, err := chimerad(t, dir, "sessions", "kill", string(first))
		if err == nil || !strings.Contains(stderr, same[0]) || !strings.Contains(stderr, same[1]) {
			t.Errorf("sessions kill %c (ambiguous) = %v %q, want an error listing %v", first, err, stderr, same)
		}
		break
	}
	if _, stderr, err := chimerad(t, dir, "sessions", "kill", "zzz"); err == nil || !strings.Contains(stderr, "prefix") {
		t.Errorf("sessions kill zzz = %v %q, want a clear error", err, stderr)
	}
	d.stop(t, syscall.SIGTERM)
}
