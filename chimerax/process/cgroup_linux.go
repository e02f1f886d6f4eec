package process

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Per-child limits through cgroup v2.
//
// Where chimerad has a cgroup v2 directory of its own to manage (a systemd
// unit with Delegate=yes, or chimerax.cgroup naming one), every child runs
// in a cgroup of its own below it, the whole tree at once: the shim, the
// sandbox's init, ChimeraX and anything ChimeraX starts.
//
//	<cgroup>/daemon/          chimerad itself, when <cgroup> is its own (a
//	                          cgroup with limits for its children may hold no
//	                          process of its own)
//	<cgroup>/session-<id>/    one child: memory.max, memory.swap.max=0, cpu.max
//
// A child is cloned straight into its cgroup (CLONE_INTO_CGROUP), so no
// process of it ever runs outside. When the session ends, cgroup.kill ends
// whatever is left, double-forked grandchildren included, and the cgroup is
// removed. The kernel's OOM killer, acting on memory.max, leaves its count
// in memory.events, which is how an out_of_memory end is told from a crash.

// Cgroup modes (Config.Cgroup); anything else is the path of a cgroup v2
// directory that chimerad may manage.
const (
	CgroupAuto = "auto"
	CgroupOff  = "off"
)

// cpuPeriod is the cpu.max period, in microseconds (the kernel's default).
const cpuPeriod = 100000

// Cgroups is the cgroup v2 directory under which children get cgroups of
// their own, and which limits it can enforce there.
type Cgroups struct {
	dir         string
	memory, cpu bool // controllers enabled for the children
}

// OpenCgroups finds the cgroup to manage, per mode, and enables the memory
// and cpu controllers for its children where they are wanted and offered.
// It returns nil, nil when there is no cgroup to manage (mode off, or auto
// without a delegated cgroup), and an error when mode names a directory
// that cannot be used. why says, for the log, what it found.
func OpenCgroups(mode string, wantMemory, wantCPU bool) (g *Cgroups, why string, err error) {
	own, ownErr := OwnCgroup()
	var dir string
	switch mode {
	case CgroupOff:
		return nil, "chimerax.cgroup is off", nil
	case CgroupAuto, "":
		if ownErr != nil {
			return nil, ownErr.Error(), nil
		}
		if ok, why := Delegated(own); !ok {
			return nil, why, nil
		}
		dir = own
	default:
		var st unix.Statfs_t
		if err := unix.Statfs(mode, &st); err != nil {
			return nil, "", fmt.Errorf("chimerax.cgroup %q: %w", mode, err)
		}
		if st.Type != unix.CGROUP2_SUPER_MAGIC {
			return nil, "", fmt.Errorf("chimerax.cgroup %q: not a cgroup v2 directory", mode)
		}
		dir = filepath.Clean(mode)
	}

	// A cgroup whose children have controllers may not hold processes
	// itself: if it is chimerad's own, chimerad moves into a leaf.
	if ownErr == nil && own == dir {
		leaf := filepath.Join(dir, "daemon")
		if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, "", fmt.Errorf("cgroup %s: %w", dir, err)
		}
		if err := writeCgroupFile(leaf, "cgroup.procs", strconv.Itoa(os.Getpid())); err != nil {
			return nil, "", fmt.Errorf("cgroup %s: move chimerad into daemon/: %w", dir, err)
		}
	}
	g = &Cgroups{dir: dir}
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	offered := strings.Fields(string(b))
	why = "cgroup " + dir + " offers controllers " + strings.Join(offered, " ")
	if len(offered) == 0 {
		why = "cgroup " + dir + " offers no controllers"
	}
	enable := func(name string) bool {
		if !slices.Contains(offered, name) {
			return false
		}
		err := writeCgroupFile(dir, "cgroup.subtree_control", "+"+name)
		if err != nil {
			why += "; enabling " + name + " failed: " + err.Error()
		}
		return err == nil
	}
	g.memory = wantMemory && enable("memory")
	g.cpu = wantCPU && enable("cpu")
	return g, why, nil
}

// EnforcesMemory reports whether children's memory is limited by memory.max.
func (g *Cgroups) EnforcesMemory() bool { return g != nil && g.memory }

// EnforcesCPU reports whether children's CPU is limited by cpu.max.
func (g *Cgroups) EnforcesCPU() bool { return g != nil && g.cpu }

// OwnCgroup returns the directory of this process's cgroup v2.
func OwnCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var rel string
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			rel = p
		}
	}
	if rel == "" {
		return "", errors.New("no cgroup v2 (this system has cgroup v1 only)")
	}
	mnt, root, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	rel, ok := strings.CutPrefix(rel, root)
	if !ok {
		return "", fmt.Errorf("cgroup %s is outside the cgroup2 mount at %s", rel, mnt)
	}
	return filepath.Join(mnt, rel), nil
}

// cgroup2Mount returns where the cgroup2 file system is mounted, and which
// of its directories the mount shows at its top.
func cgroup2Mount() (mnt, root string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 25 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, fs := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && len(fs) > 0 && fs[0] == "cgroup2" {
			return fields[4], fields[3], nil
		}
	}
	return "", "", errors.New("no cgroup2 file system is mounted")
}

// Delegated reports whether cgroup dir was handed to this process to
// manage: systemd marks a unit's cgroup with Delegate=yes by the extended
// attribute trusted.delegate (user.delegate for an unprivileged manager),
// and hands it to the unit's user. The root cgroup is never delegated.
func Delegated(dir string) (bool, string) {
	if mnt, _, err := cgroup2Mount(); err == nil && filepath.Clean(dir) == filepath.Clean(mnt) {
		return false, "chimerad runs in the root cgroup, which is not delegated to it"
	}
	buf := make([]byte, 8)
	for _, attr := range []string{"trusted.delegate", "user.delegate"} {
		if n, err := unix.Getxattr(dir, attr, buf); err == nil && string(buf[:n]) == "1" {
			return true, ""
		}
	}
	var st syscall.Stat_t
	if uid := os.Geteuid(); uid != 0 && syscall.Stat(dir, &st) == nil && int(st.Uid) == uid &&
		unix.Access(filepath.Join(dir, "cgroup.procs"), unix.W_OK) == nil {
		return true, ""
	}
	return false, "cgroup " + dir + " is not delegated to chimerad (systemd's Delegate=yes, or name one in chimerax.cgroup)"
}

// sessionCgroup is one child's cgroup. Its methods do nothing on nil, the
// child of a daemon without cgroups.
type sessionCgroup struct {
	path string
}

// create makes the cgroup of session id with the limits this directory can
// enforce: memoryMax bytes (0: none) and cpuMax CPUs (0: none).
func (g *Cgroups) create(id string, memoryMax int64, cpuMax float64) (*sessionCgroup, error) {
	if g == nil {
		return nil, nil
	}
	cg := &sessionCgroup{path: filepath.Join(g.dir, "session-"+id)}
	cg.destroy() // left by a crash before Reconcile could see it
	if err := os.Mkdir(cg.path, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	set := func(file, value string) error {
		if err := writeCgroupFile(cg.path, file, value); err != nil {
			cg.destroy()
			return fmt.Errorf("cgroup: %w", err)
		}
		return nil
	}
	if g.memory && memoryMax > 0 {
		if err := set("memory.max", strconv.FormatInt(memoryMax, 10)); err != nil {
			return nil, err
		}
		// Swap would only slow a child past its limit down; where swap is
		// accounted, allow none.
		writeCgroupFile(cg.path, "memory.swap.max", "0")
	}
	if g.cpu && cpuMax > 0 {
		quota := max(int64(cpuMax*cpuPeriod), 1000)
		if err := set("cpu.max", fmt.Sprintf("%d %d", quota, cpuPeriod)); err != nil {
			return nil, err
		}
	}
	return cg, nil
}

// session returns the existing cgroup of session id, or nil.
func (g *Cgroups) session(id string) *sessionCgroup {
	if g == nil {
		return nil
	}
	cg := &sessionCgroup{path: filepath.Join(g.dir, "session-"+id)}
	if _, err := os.Stat(cg.path); err != nil {
		return nil
	}
	return cg
}

// Dir is the managed cgroup v2 directory; empty for nil.
func (g *Cgroups) Dir() string {
	if g == nil {
		return ""
	}
	return g.dir
}

// DestroySession ends whatever runs in session id's cgroup, if it has one,
// and removes the cgroup.
func (g *Cgroups) DestroySession(id string) { g.session(id).destroy() }

// SessionIDs lists the sessions that have a cgroup.
func (g *Cgroups) SessionIDs() []string {
	if g == nil {
		return nil
	}
	entries, _ := os.ReadDir(g.dir)
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutPrefix(e.Name(), "session-"); ok && e.IsDir() {
			ids = append(ids, id)
		}
	}
	return ids
}

// procAttr has the child cloned into cg; the returned function closes the
// descriptor once the child is started.
func (cg *sessionCgroup) procAttr(attr *syscall.SysProcAttr) (func(), error) {
	if cg == nil {
		return func() {}, nil
	}
	fd, err := unix.Open(cg.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	attr.UseCgroupFD, attr.CgroupFD = true, fd
	return func() { unix.Close(fd) }, nil
}

// oomKills returns how many processes the kernel's OOM killer ended in cg
// for being over its memory.max.
func (cg *sessionCgroup) oomKills() int {
	if cg == nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(cg.path, "memory.events"))
	if err != nil {
		return 0
	}
	return parseOOMKills(string(b))
}

// parseOOMKills reads the oom_kill count of a memory.events file.
func parseOOMKills(events string) int {
	for _, l := range strings.Split(events, "\n") {
		if v, ok := strings.CutPrefix(l, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// destroy kills every process left in cg and removes it. A process that
// escaped the child's process group (a double fork, a new session) cannot
// escape its cgroup.
func (cg *sessionCgroup) destroy() {
	if cg == nil {
		return
	}
	if _, err := os.Stat(cg.path); err != nil {
		return
	}
	killAll := func() {
		if writeCgroupFile(cg.path, "cgroup.kill", "1") == nil {
			return
		}
		// Before Linux 5.14: kill what cgroup.procs lists.
		b, _ := os.ReadFile(filepath.Join(cg.path, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	// rmdir fails with EBUSY until the last process is gone.
	deadline := time.Now().Add(5 * time.Second)
	for {
		killAll()
		err := unix.Rmdir(cg.path)
		if err == nil || errors.Is(err, unix.ENOENT) || !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writeCgroupFile writes value to a cgroup's control file.
func writeCgroupFile(dir, file, value string) error {
	return os.WriteFile(filepath.Join(dir, file), []byte(value), 0)
}
