//go:build linux

package chimerax_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/store"
)

// testCgroup makes an empty cgroup v2 directory for one test, and removes
// it at cleanup, failing the test if anything is left in it. It skips the
// test where no cgroup2 file system is writable (not root, cgroup v1 only).
func testCgroup(t *testing.T) string {
	t.Helper()
	for _, mnt := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(mnt, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			continue
		}
		dir, err := os.MkdirTemp(mnt, "chimerad-test-")
		if err != nil {
			t.Skipf("cannot make a cgroup under %s: %v", mnt, err)
		}
		t.Cleanup(func() {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.IsDir() {
					t.Errorf("cgroup %s left behind", e.Name())
					os.WriteFile(filepath.Join(dir, e.Name(), "cgroup.kill"), []byte("1"), 0)
					chimeraxtest.WaitFor(t, 5*time.Second, "left-behind cgroup removable", func() bool {
						return unix.Rmdir(filepath.Join(dir, e.Name())) == nil
					})
				}
			}
			if err := unix.Rmdir(dir); err != nil {
				t.Errorf("remove test cgroup: %v", err)
			}
		})
		return dir
	}
	t.Skip("no cgroup2 file system mounted")
	return ""
}

// cgroupOf returns process pid's cgroup v2 path, relative to the mount.
func cgroupOf(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}

// cgroupStat reads one "key value" line of a cgroup stat file.
func cgroupStat(stat, key string) int {
	for _, l := range strings.Split(stat, "\n") {
		if v, ok := strings.CutPrefix(l, key+" "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// escapedHelper finds the process the simulator left outside its process
// group (CHIMERAX_SIM_ESCAPE) for session id.
func escapedHelper(t *testing.T, sv *chimerax.Supervisor, id string) int {
	t.Helper()
	var pid int
	chimeraxtest.WaitFor(t, 10*time.Second, "the escaped helper running", func() bool {
		for _, p := range process.FindChildren(filepath.Join(sv.Config().DataDir, "sessions"))[id] {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); strings.TrimSpace(string(comm)) == "sleep" {
				pid = p
				return true
			}
		}
		return false
	})
	return pid
}

// alive reports whether pid runs (not gone, not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// TestCgroupPerChild: with a cgroup to manage, each child, with all it
// starts, runs in a cgroup of its own carrying the limits the kernel
// offers; the rest falls back (memory) or is reported unenforced (CPU);
// and ending the session ends even a process that left the child's process
// group, and removes the cgroup.
func TestCgroupPerChild(t *testing.T) {
	for _, sandbox := range []string{chimerax.SandboxOff, chimerax.SandboxRequired} {
		t.Run("sandbox "+sandbox, func(t *testing.T) {
			if sandbox == chimerax.SandboxRequired && process.ProbeSandbox() != nil {
				t.Skip("this kernel refuses the sandbox's namespaces")
			}
			const memoryMax = 3 << 30
			dir := testCgroup(t)
			sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
				c.Sandbox, c.Cgroup = sandbox, dir
				c.MemoryMax, c.CPUMax = memoryMax, 0.5
			}, "CHIMERAX_SIM_ESCAPE=1", "CHIMERAX_SIM_BURN_ON=surface")
			limits := sv.Limits()
			if limits.Cgroup != dir {
				t.Errorf("Limits().Cgroup = %q, want %q", limits.Cgroup, dir)
			}
			offered, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
			wantMemory, wantCPU := "watch", "unenforced"
			if strings.Contains(string(offered), "memory") {
				wantMemory = "cgroup"
			}
			if strings.Contains(string(offered), "cpu") {
				wantCPU = "cgroup"
			}
			if limits.Memory != wantMemory || limits.CPU != wantCPU {
				t.Errorf("Limits() = %+v with controllers %q offered, want memory %s, cpu %s", limits, offered, wantMemory, wantCPU)
			}

			ctx := context.Background()
			rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Upload: mustUpload(t, "pept.pdb"), Wait: true})
			if err != nil {
				t.Fatal(err)
			}
			own := filepath.Join(dir, "session-"+rec.ID)
			rel := strings.TrimPrefix(own, filepath.Dir(dir))
			pids := []int{rec.Process.PID, rec.Process.ShimPID, escapedHelper(t, sv, rec.ID)}
			for _, pid := range pids {
				if pid == 0 {
					continue // no shim without the sandbox
				}
				if got := cgroupOf(pid); !strings.HasSuffix(got, rel) {
					t.Errorf("process %d is in cgroup %q, want %q", pid, got, rel)
				}
			}
			// Without the memory controller the watch bounds it
			// (TestMemoryLimit), not the cgroup.
			if wantMemory == "cgroup" {
				if b, _ := os.ReadFile(filepath.Join(own, "memory.max")); strings.TrimSpace(string(b)) != strconv.Itoa(memoryMax) {
					t.Errorf("memory.max = %q, want %d", b, memoryMax)
				}
			}
			if wantCPU == "cgroup" {
				if b, _ := os.ReadFile(filepath.Join(own, "cpu.max")); strings.TrimSpace(string(b)) != "50000 100000" {
					t.Errorf("cpu.max = %q, want 50000 100000", b)
				}
				// A second of busy CPU at half a CPU: the kernel throttles it
				// to about half a second of CPU time.
				before, _ := os.ReadFile(filepath.Join(own, "cpu.stat"))
				start := time.Now()
				if res, err := sv.RunUnchecked(ctx, rec.ID, "surface"); err != nil || !res.OK() {
					t.Errorf("surface = %+v, %v", res, err)
				}
				wall := time.Since(start)
				after, _ := os.ReadFile(filepath.Join(own, "cpu.stat"))
				used := time.Duration(cgroupStat(string(after), "usage_usec")-cgroupStat(string(before), "usage_usec")) * time.Microsecond
				throttled := cgroupStat(string(after), "nr_throttled") - cgroupStat(string(before), "nr_throttled")
				if throttled == 0 || used < wall/4 || used > wall*3/4 {
					t.Errorf("a busy second under cpu.max 0.5: %v of CPU in %v, throttled %d times; want about half, throttled", used, wall, throttled)
				}
			}
			if res, err := sv.RunUnchecked(ctx, rec.ID, "info models"); err != nil || !res.OK() {
				t.Errorf("info models = %+v, %v", res, err)
			}

			helper := pids[2]
			if _, err := sv.Stop(ctx, rec.ID, store.ReasonDeleted); err != nil {
				t.Fatal(err)
			}
			if alive(helper) {
				syscall.Kill(helper, syscall.SIGKILL)
				t.Errorf("the helper that left ChimeraX's process group (pid %d) outlived its session", helper)
			}
			if _, err := os.Stat(own); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("session cgroup after Stop: %v, want it removed", err)
			}
		})
	}
}

// TestCgroupOffLeavesEscapee is the control of TestCgroupPerChild: without
// a cgroup, a process that left ChimeraX's process group survives the
// session's end (until a restart's Reconcile finds it).
func TestCgroupOffLeavesEscapee(t *testing.T) {
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.Sandbox, c.Cgroup = chimerax.SandboxOff, chimerax.CgroupOff
	}, "CHIMERAX_SIM_ESCAPE=1")
	if l := sv.Limits(); l.Cgroup != "" || l.Memory != "watch" || l.CPU != "none" {
		t.Errorf("Limits() = %+v, want no cgroup, the default memory bound by the watch, no CPU limit", l)
	}
	ctx := context.Background()
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	helper := escapedHelper(t, sv, rec.ID)
	if _, err := sv.Stop(ctx, rec.ID, store.ReasonDeleted); err != nil {
		t.Fatal(err)
	}
	if !alive(helper) {
		t.Errorf("the helper (pid %d) died with its session without a cgroup; TestCgroupPerChild shows nothing", helper)
	}
	syscall.Kill(helper, syscall.SIGKILL)
	chimeraxtest.WaitFor(t, 5*time.Second, "the helper gone", func() bool { return !alive(helper) })
}

// TestCgroupReconcile: a session cgroup a dead daemon left, with a process
// still in it, is emptied and removed when the next supervisor opens; one
// of a session that is not this daemon's (another chimerad sharing
// chimerax.cgroup) is left alone.
func TestCgroupReconcile(t *testing.T) {
	dir := testCgroup(t)
	const staleID, foreignID = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	sleepIn := func(id string) (cgroup string, done <-chan struct{}) {
		cgroup = filepath.Join(dir, "session-"+id)
		if err := os.Mkdir(cgroup, 0o755); err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Open(cgroup, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		sleeper := exec.Command("sleep", "3600")
		sleeper.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		err = sleeper.Start()
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan struct{})
		go func() { sleeper.Wait(); close(ch) }()
		t.Cleanup(func() {
			sleeper.Process.Kill()
			<-ch
			unix.Rmdir(cgroup)
		})
		return cgroup, ch
	}
	stale, staleDone := sleepIn(staleID)
	foreign, foreignDone := sleepIn(foreignID)

	chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.Cgroup = dir
		// The stale child's directory, as a child started but never
		// recorded leaves it.
		if err := os.MkdirAll(filepath.Join(c.DataDir, "sessions", staleID), 0o700); err != nil {
			t.Fatal(err)
		}
	})
	select {
	case <-staleDone:
	case <-time.After(10 * time.Second):
		t.Error("the process in the stale session cgroup still runs after Open")
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale session cgroup after Open: %v, want it removed", err)
	}
	select {
	case <-foreignDone:
		t.Error("the process in another daemon's session cgroup ended at Open")
	default:
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("another daemon's session cgroup after Open: %v, want it kept", err)
	}
}

// TestCgroupRefused: chimerax.cgroup naming a directory that is not a
// cgroup v2 stops Open with ErrCgroup.
func TestCgroupRefused(t *testing.T) {
	notCgroup := t.TempDir()
	err := openErr(t, t.TempDir(), func(c *chimerax.Config) { c.Cgroup = notCgroup })
	if !errors.Is(err, chimerax.ErrCgroup) || !strings.Contains(err.Error(), "not a cgroup v2") {
		t.Errorf("Open with chimerax.cgroup %s = %v, want ErrCgroup: not a cgroup v2 directory", notCgroup, err)
	}
}

// TestCgroupDelegated: auto mode takes a cgroup only when it is marked as
// delegated the way systemd marks Delegate=yes (the trusted.delegate
// extended attribute), and never the root cgroup.
func TestCgroupDelegated(t *testing.T) {
	dir := testCgroup(t)
	if ok, why := process.Delegated(dir); ok {
		t.Errorf("Delegated(%s) = true without the mark", dir)
	} else if !strings.Contains(why, "not delegated") {
		t.Errorf("Delegated(%s) says %q, want it to say not delegated", dir, why)
	}
	if err := unix.Setxattr(dir, "trusted.delegate", []byte("1"), 0); err != nil {
		t.Skipf("cannot mark a cgroup delegated here: %v", err)
	}
	if ok, why := process.Delegated(dir); !ok {
		t.Errorf("Delegated(%s) = false (%s) with trusted.delegate=1", dir, why)
	}

	own, err := process.OwnCgroup()
	if err != nil {
		t.Fatalf("OwnCgroup: %v", err)
	}
	if _, err := os.Stat(filepath.Join(own, "cgroup.procs")); err != nil {
		t.Errorf("OwnCgroup() = %s, not a cgroup directory: %v", own, err)
	}
	if filepath.Dir(dir) == own { // this test runs in the root cgroup
		if ok, _ := process.Delegated(own); ok {
			t.Errorf("Delegated(%s) = true for the root cgroup", own)
		}
		sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) { c.Cgroup, c.MemoryMax = chimerax.CgroupAuto, 1<<32 })
		if l := sv.Limits(); l.Cgroup != "" || l.Memory != "watch" {
			t.Errorf("auto in the root cgroup: Limits() = %+v, want no cgroup, memory by the watch", l)
		}
	}
}

// TestCgroupOutOfMemory: over its cgroup's memory.max the kernel kills the
// child, and the session
// ends out_of_memory, told by memory.events. It needs a cgroup v2 that
// offers the memory controller (.ci/cgroup-vm boots one).
func TestCgroupOutOfMemory(t *testing.T) {
	dir := testCgroup(t)
	if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers")); !strings.Contains(string(b), "memory") {
		t.Skipf("cgroup %s offers no memory controller (%q)", dir, strings.TrimSpace(string(b)))
	}
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.Cgroup, c.MemoryMax = dir, 256<<20
	}, "CHIMERAX_SIM_HOG_ON=surface")
	if l := sv.Limits(); l.Memory != "cgroup" {
		t.Fatalf("Limits() = %+v, want memory by cgroup", l)
	}
	ctx := context.Background()
	rec, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sv.RunUnchecked(ctx, rec.ID, "surface"); !errors.Is(err, chimerax.ErrUnavailable) {
		t.Errorf("Run(surface) past memory.max = %v, want ErrUnavailable", err)
	}
	var got chimerax.Info
	chimeraxtest.WaitFor(t, 20*time.Second, "ended", func() bool {
		got, _ = sv.Session(ctx, rec.ID)
		return !got.State.Live()
	})
	if got.State != store.StateFailed || got.TerminationReason != store.ReasonOutOfMemory || got.Process.Signal != "killed" {
		t.Errorf("session over memory.max = %q/%q, signal %q (%s); want failed/out_of_memory, killed", got.State, got.TerminationReason, got.Process.Signal, got.Error)
	}
}
