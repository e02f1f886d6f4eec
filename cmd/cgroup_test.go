//go:build linux

package cmd_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDelegatedCgroupEndToEnd runs the real daemon as systemd runs a unit
// with Delegate=yes: started inside a cgroup of its own marked delegated.
// With chimerax.cgroup at its default (auto) the daemon moves itself into
// <cgroup>/daemon, each child runs in <cgroup>/session-<id>, /healthz says
// so, and a deleted session's cgroup is gone.
func TestDelegatedCgroupEndToEnd(t *testing.T) {
	var unit string
	for _, mnt := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(mnt, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			var err error
			if unit, err = os.MkdirTemp(mnt, "chimerad-unit-"); err != nil {
				t.Skipf("cannot make a cgroup under %s: %v", mnt, err)
			}
			break
		}
	}
	if unit == "" {
		t.Skip("no cgroup2 file system mounted")
	}
	t.Cleanup(func() {
		for _, sub := range []string{"daemon", ""} {
			if err := unix.Rmdir(filepath.Join(unit, sub)); err != nil && !os.IsNotExist(err) {
				t.Errorf("remove cgroup %s/%s: %v (something is left in it)", unit, sub, err)
			}
		}
	})
	if err := unix.Setxattr(unit, "trusted.delegate", []byte("1"), 0); err != nil {
		t.Skipf("cannot mark a cgroup delegated here: %v", err)
	}
	fd, err := unix.Open(unit, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	dir := t.TempDir()
	token, _, err := chimerad(t, dir, "users", "add", "root", "--admin")
	if err != nil {
		t.Fatal(err)
	}
	token = strings.TrimSpace(token)
	d := startDaemonCmd(t, dir, func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}, "--config", writeConfig(t, "chimerax:\n  memory_max: 4294967296\n"))
	rel := func(path string) string { return strings.TrimPrefix(path, filepath.Dir(unit)) }

	if got := procCgroup(d.cmd.Process.Pid); got != rel(unit)+"/daemon" {
		t.Errorf("daemon's cgroup = %q, want %q", got, rel(unit)+"/daemon")
	}
	_, body := d.get(t, "/healthz", "")
	var health struct {
		Limits struct{ Memory, CPU, Cgroup string }
	}
	json.Unmarshal(body, &health)
	if health.Limits.Cgroup != unit || health.Limits.Memory == "none" {
		t.Errorf("healthz limits = %+v, want cgroup %s and a memory limit", health.Limits, unit)
	}

	code, body := d.do(t, "POST", "/api/sessions?wait=true", token, `{}`)
	var s struct {
		ID      string
		Process struct{ PID int }
	}
	if json.Unmarshal(body, &s); code != 201 || s.Process.PID == 0 {
		t.Fatalf("create = %d %s", code, body)
	}
	own := filepath.Join(unit, "session-"+s.ID)
	if got := procCgroup(s.Process.PID); got != rel(own) {
		t.Errorf("child's cgroup = %q, want %q", got, rel(own))
	}
	if code, body := d.do(t, "DELETE", "/api/sessions/"+s.ID, token, ""); code != 200 {
		t.Fatalf("delete = %d %s", code, body)
	}
	if _, err := os.Stat(own); !os.IsNotExist(err) {
		t.Errorf("session cgroup after delete: %v, want it removed", err)
	}
	d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not exit on SIGINT")
	}
}

// procCgroup returns process pid's cgroup v2 path, relative to the mount.
func procCgroup(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}
