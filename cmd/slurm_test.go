//go:build linux

package cmd_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
)

// The Slurm tests run chimerad with chimerax.launcher: slurm against a
// real Slurm, the one-node cluster .ci/slurm-up brings up (export its
// output: SLURM_CONF, CHIMERAD_SLURM_SESSION_ROOT, CHIMERAD_SLURM_PARTITION).
// The job runs the node agent and the simulator from the test's chimerad
// binary, which the node (this host) reaches. Without a reachable Slurm
// they skip, saying why.

// slurmCluster is a daemon's view of the test cluster.
type slurmCluster struct {
	env  []string // for the daemon: SLURM_CONF and the slurm.* settings
	root string   // this test's slurm.session_root
}

// mustSlurm skips the test unless Slurm answers, and returns the settings
// for a daemon whose jobs live under a session root of the test's own. At
// cleanup (after the daemons', registered later) it cancels every job
// left under that root and waits until squeue shows none.
func mustSlurm(t *testing.T) *slurmCluster {
	t.Helper()
	conf := os.Getenv("SLURM_CONF")
	if conf == "" {
		t.Skip("no Slurm: SLURM_CONF is not set (run .ci/slurm-up and export its output)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "sinfo", "-h", "-o", "%t").CombinedOutput(); err != nil {
		t.Skipf("no Slurm: sinfo failed (%v): %s", err, out)
	}
	base := os.Getenv("CHIMERAD_SLURM_SESSION_ROOT")
	if base == "" {
		base = os.TempDir()
	}
	root, err := os.MkdirTemp(base, "test-")
	if err != nil {
		t.Fatal(err)
	}
	s := &slurmCluster{root: root, env: []string{
		"SLURM_CONF=" + conf,
		"CHIMERAD_CHIMERAX_LAUNCHER=slurm",
		"CHIMERAD_SLURM_SESSION_ROOT=" + root,
		"CHIMERAD_SLURM_CHIMERAX_PATH=simulator",
		"CHIMERAD_SLURM_PARTITION=" + os.Getenv("CHIMERAD_SLURM_PARTITION"),
	}}
	t.Cleanup(func() {
		left := s.jobs(t)
		for _, id := range left {
			exec.Command("scancel", id).Run()
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(s.jobs(t)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		os.RemoveAll(root)
	})
	return s
}

// jobs lists the ids of the jobs (pending or running) under the test's
// session root. A failed squeue fails the test: it is no empty queue.
func (s *slurmCluster) jobs(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "squeue", "-h", "-o", "%i|%j|%Z").Output()
	if err != nil {
		t.Fatalf("squeue: %v", err)
	}
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		if len(f) == 3 && strings.HasPrefix(f[2], s.root+"/") {
			ids = append(ids, f[0])
		}
	}
	return ids
}

// waitNoJobs waits until no job of the test's is pending or running.
func (s *slurmCluster) waitNoJobs(t *testing.T, what string) {
	t.Helper()
	chimeraxtest.WaitFor(t, 30*time.Second, "without Slurm jobs "+what, func() bool { return len(s.jobs(t)) == 0 })
}

// start starts a daemon on dir that runs sessions as Slurm jobs.
func (s *slurmCluster) start(t *testing.T, dir string, env ...string) *daemon {
	t.Helper()
	return startDaemonCmd(t, dir, func(c *exec.Cmd) {
		c.Env = append(append(c.Env, s.env...), env...)
	})
}

// schedulerOf reads a session's Slurm job as admins see it.
func schedulerOf(t *testing.T, dir, id string) (jobID, state string) {
	t.Helper()
	out, _, err := chimerad(t, dir, "sessions", "show", id)
	var shown struct {
		Process struct {
			Scheduler struct {
				JobID string `json:"job_id"`
				State string `json:"state"`
			} `json:"scheduler"`
		} `json:"process"`
	}
	if err != nil || json.Unmarshal([]byte(out), &shown) != nil {
		t.Fatalf("sessions show %s = %q, %v", id, out, err)
	}
	return shown.Process.Scheduler.JobID, shown.Process.Scheduler.State
}

// jobName is the name squeue gives job id.
func jobName(t *testing.T, id string) string {
	t.Helper()
	out, err := exec.Command("squeue", "-h", "-j", id, "-o", "%j").Output()
	if err != nil {
		t.Fatalf("squeue -j %s: %v", id, err)
	}
	return strings.TrimSpace(string(out))
}

// waitEnded polls a session until it has ended and returns it.
func (d *daemon) waitEnded(t *testing.T, token, id string) sessionJSON {
	t.Helper()
	var s sessionJSON
	chimeraxtest.WaitFor(t, 30*time.Second, "session "+id+" ended", func() bool {
		s = d.session(t, token, id)
		return s.State == "terminated" || s.State == "failed"
	})
	return s
}

// TestSlurmEndToEnd: a session created from an upload runs as a job named
// chimerad-<id>, answers commands and a snapshot, and its delete leaves no
// job in squeue.
func TestSlurmEndToEnd(t *testing.T) {
	sl := mustSlurm(t)
	dir := t.TempDir()
	token := mustToken(t, dir, "alice")
	d := sl.start(t, dir)

	code, body := uploadTo(t, d, token, "pept.pdb", mustReadFile(t, "../testdata/pept.pdb"))
	var s sessionJSON
	if code != 201 || json.Unmarshal(body, &s) != nil {
		t.Fatalf("create from upload = %d %s", code, body)
	}
	s = d.waitReady(t, token, s.ID)
	jobID, state := schedulerOf(t, dir, s.ID)
	if jobID == "" || state != "RUNNING" {
		t.Fatalf("scheduler of the ready session = job %q %q, want a RUNNING job", jobID, state)
	}
	if name := jobName(t, jobID); name != "chimerad-"+s.ID {
		t.Errorf("job %s is named %q, want chimerad-%s", jobID, name, s.ID)
	}
	if _, body := d.get(t, "/api/sessions/"+s.ID, token); strings.Contains(string(body), `"scheduler"`) {
		t.Errorf("the owner sees the scheduler: %s", body)
	}
	d.command(t, token, s.ID, "cartoon")
	code, png := d.get(t, "/api/sessions/"+s.ID+"/snapshot?width=64&height=48", token)
	if code != 200 || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("snapshot = %d %.80q", code, png)
	}
	// A checkpoint is written by ChimeraX on the node, under the shared root.
	if code, body := d.do(t, "POST", "/api/sessions/"+s.ID+"/checkpoint", token, ""); code != 201 {
		t.Fatalf("checkpoint = %d %s", code, body)
	}
	// A restart replaces the job: the old one leaves the queue.
	if code, body := d.do(t, "POST", "/api/sessions/"+s.ID+"/restart", token, ""); code != 200 {
		t.Fatalf("restart = %d %s", code, body)
	}
	newJob, _ := schedulerOf(t, dir, s.ID)
	if ids := sl.jobs(t); newJob == jobID || len(ids) != 1 || ids[0] != newJob {
		t.Errorf("after the restart: job %s (was %s), jobs in squeue %v", newJob, jobID, ids)
	}
	d.command(t, token, s.ID, "cartoon")
	if code, body := d.do(t, "DELETE", "/api/sessions/"+s.ID, token, ""); code != 200 {
		t.Fatalf("delete = %d %s", code, body)
	}
	if ids := sl.jobs(t); len(ids) > 0 {
		t.Errorf("jobs in squeue after the delete returned: %v", ids)
	}
	resumed := d.create(t, token, `{"resume_from":"`+s.ID+`"}`)
	resumed = d.waitReady(t, token, resumed.ID)
	if code, body := d.do(t, "DELETE", "/api/sessions/"+resumed.ID, token, ""); code != 200 {
		t.Fatalf("delete the resumed session = %d %s", code, body)
	}
	if ids := sl.jobs(t); len(ids) > 0 {
		t.Errorf("jobs in squeue after the second delete: %v", ids)
	}
}

// TestSlurmExternalCancel: a job cancelled outside chimerad ends its
// session failed, scheduler_cancelled.
func TestSlurmExternalCancel(t *testing.T) {
	sl := mustSlurm(t)
	dir := t.TempDir()
	token := mustToken(t, dir, "alice")
	d := sl.start(t, dir)
	s := d.create(t, token, `{"name":"cancel me"}`)
	d.waitReady(t, token, s.ID)
	jobID, _ := schedulerOf(t, dir, s.ID)
	if out, err := exec.Command("scancel", jobID).CombinedOutput(); err != nil {
		t.Fatalf("scancel %s: %v %s", jobID, err, out)
	}
	s = d.waitEnded(t, token, s.ID)
	if s.State != "failed" || s.TerminationReason != "scheduler_cancelled" {
		t.Errorf("after scancel: %s/%s (%s), want failed/scheduler_cancelled", s.State, s.TerminationReason, s.Error)
	}
	sl.waitNoJobs(t, "after scancel")
}

// TestSlurmUnschedulable: a job Slurm refuses (more CPUs than the
// partition has; EnforcePartLimits) fails the create with Slurm's reason,
// and one that stays pending fails start_timeout naming why it waits.
// Neither leaves a job.
func TestSlurmUnschedulable(t *testing.T) {
	sl := mustSlurm(t)
	dir := t.TempDir()
	token := mustToken(t, dir, "alice")
	cpus := 4096
	if n, err := strconv.Atoi(os.Getenv("CHIMERAD_TEST_SLURM_NODE_CPUS")); err == nil {
		cpus = 2 * n
	}
	d := sl.start(t, dir, "CHIMERAD_SLURM_CPUS="+strconv.Itoa(cpus))
	code, body := d.do(t, "POST", "/api/sessions", token, `{}`)
	if code != 502 || !strings.Contains(string(body), "start_failed") || !strings.Contains(string(body), "sbatch refused the job") {
		t.Errorf("create asking %d CPUs = %d %s, want 502 start_failed with sbatch's reason", cpus, code, body)
	}
	if strings.Contains(string(body), sl.root) {
		t.Errorf("the owner's error shows the session root: %s", body)
	}
	d.stop(t, syscall.SIGTERM)

	// --begin keeps the job pending (BeginTime): the session is starting,
	// admins see why its job waits, its owner its place in the queue, and
	// a delete cancels the pending job.
	d = sl.start(t, dir, "CHIMERAD_SLURM_EXTRA_ARGS=--begin=now+1hour", "CHIMERAD_SLURM_START_TIMEOUT=3s")
	code, body = d.do(t, "POST", "/api/sessions?wait=false", token, `{}`)
	var pending struct {
		ID            string `json:"id"`
		State         string `json:"state"`
		QueuePosition *int   `json:"queue_position"`
	}
	if code != 202 || json.Unmarshal(body, &pending) != nil {
		t.Fatalf("create without waiting = %d %s", code, body)
	}
	chimeraxtest.WaitFor(t, 10*time.Second, "the pending job's place in the queue", func() bool {
		_, body := d.get(t, "/api/sessions/"+pending.ID, token)
		json.Unmarshal(body, &pending)
		return pending.State == "starting" && pending.QueuePosition != nil && *pending.QueuePosition >= 1
	})
	if jobID, state := schedulerOf(t, dir, pending.ID); jobID == "" || state != "PENDING" {
		t.Errorf("admins see job %q %q for the waiting session, want a PENDING job", jobID, state)
	}
	if code, body := d.do(t, "DELETE", "/api/sessions/"+pending.ID, token, ""); code != 200 {
		t.Fatalf("delete the waiting session = %d %s", code, body)
	}
	sl.waitNoJobs(t, "after deleting the waiting session")
	code, body = d.do(t, "POST", "/api/sessions", token, `{}`)
	if code != 504 || !strings.Contains(string(body), "start_timeout") || !strings.Contains(string(body), "PENDING (BeginTime)") {
		t.Errorf("create of a job that stays pending = %d %s, want 504 start_timeout naming PENDING (BeginTime)", code, body)
	}
	sl.waitNoJobs(t, "after failed creates")
}

// TestSlurmIdleSweep: the idle sweeper ends a Slurm session like a local one.
func TestSlurmIdleSweep(t *testing.T) {
	sl := mustSlurm(t)
	dir := t.TempDir()
	token := mustToken(t, dir, "alice")
	d := sl.start(t, dir, "CHIMERAD_SESSION_IDLE_TIMEOUT=2s", "CHIMERAD_SESSION_SWEEP_INTERVAL=200ms", "CHIMERAD_SESSION_IDLE_WARNING=0s")
	s := d.create(t, token, `{}`)
	s = d.waitEnded(t, token, s.ID)
	if s.State != "terminated" || s.TerminationReason != "idle_timeout" {
		t.Errorf("idle session: %s/%s (%s), want terminated/idle_timeout", s.State, s.TerminationReason, s.Error)
	}
	sl.waitNoJobs(t, "after the idle end")
}

// TestSlurmRestartLeavesNoOrphan: after kill -9 of the daemon, its jobs
// run on; the next daemon cancels them (terminate) or re-attaches to them
// (adopt), and either way no job is left that no session holds.
func TestSlurmRestartLeavesNoOrphan(t *testing.T) {
	sl := mustSlurm(t)
	for _, mode := range []string{"terminate", "adopt"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			token := mustToken(t, dir, "alice")
			onRestart := "CHIMERAD_SESSION_ON_RESTART=" + mode
			d := sl.start(t, dir, onRestart)
			s := d.create(t, token, `{}`)
			d.waitReady(t, token, s.ID)
			jobID, _ := schedulerOf(t, dir, s.ID)
			d.cmd.Process.Signal(syscall.SIGKILL)
			<-d.exited
			if ids := sl.jobs(t); len(ids) != 1 || ids[0] != jobID {
				t.Fatalf("jobs after kill -9 = %v, want the session's %s still running", ids, jobID)
			}

			d = sl.start(t, dir, onRestart)
			if mode == "terminate" {
				s = d.session(t, token, s.ID)
				if s.State != "terminated" || s.TerminationReason != "daemon_restart" {
					t.Errorf("session after restart: %s/%s, want terminated/daemon_restart", s.State, s.TerminationReason)
				}
				sl.waitNoJobs(t, "after the restart")
				return
			}
			s = d.session(t, token, s.ID)
			if s.State != "ready" {
				t.Fatalf("session after restart in adopt mode: %s (%s), want ready", s.State, s.Error)
			}
			if again, _ := schedulerOf(t, dir, s.ID); again != jobID {
				t.Errorf("adopted session's job = %s, want %s", again, jobID)
			}
			d.command(t, token, s.ID, "cartoon")
			if ids := sl.jobs(t); len(ids) != 1 || ids[0] != jobID {
				t.Errorf("jobs after adoption = %v, want only %s", ids, jobID)
			}
			if code, body := d.do(t, "DELETE", "/api/sessions/"+s.ID, token, ""); code != 200 {
				t.Fatalf("delete adopted = %d %s", code, body)
			}
			if ids := sl.jobs(t); len(ids) > 0 {
				t.Errorf("jobs after deleting the adopted session: %v", ids)
			}
		})
	}
}

// TestSlurmPoolRestart: pool children are jobs too; a daemon killed with
// its pool leaves them to the next, which cancels those no session holds.
func TestSlurmPoolRestart(t *testing.T) {
	sl := mustSlurm(t)
	dir := t.TempDir()
	d := sl.start(t, dir, "CHIMERAD_POOL_SIZE=1")
	chimeraxtest.WaitFor(t, 30*time.Second, "a pool job", func() bool { return len(sl.jobs(t)) == 1 })
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	sl.start(t, dir)
	sl.waitNoJobs(t, "after the restart")
}

// TestSlurmNodeFailure: a job whose node fails ends its session failed,
// scheduler_failed (chimerad submits --no-requeue: a requeued job would
// come back as a fresh ChimeraX, the session's state lost). The test takes
// the one node down for a moment: Slurm brings it back at once
// (ReturnToService=2 and a live slurmd), and the cleanup makes sure.
func TestSlurmNodeFailure(t *testing.T) {
	sl := mustSlurm(t)
	dir := t.TempDir()
	token := mustToken(t, dir, "alice")
	d := sl.start(t, dir)
	s := d.create(t, token, `{}`)
	d.waitReady(t, token, s.ID)
	jobID, _ := schedulerOf(t, dir, s.ID)
	out, err := exec.Command("squeue", "-h", "-j", jobID, "-o", "%N").Output()
	node := strings.TrimSpace(string(out))
	if err != nil || node == "" {
		t.Fatalf("node of job %s: %q %v", jobID, out, err)
	}
	t.Cleanup(func() {
		chimeraxtest.WaitFor(t, 30*time.Second, "node "+node+" back", func() bool {
			out, _ := exec.Command("sinfo", "-h", "-n", node, "-o", "%t").Output()
			st := strings.TrimSpace(string(out))
			if strings.HasPrefix(st, "down") || strings.HasPrefix(st, "drain") {
				exec.Command("scontrol", "update", "nodename="+node, "state=idle").Run()
			}
			return st == "idle" || st == "mix" || st == "alloc"
		})
	})
	if out, err := exec.Command("scontrol", "update", "nodename="+node, "state=down", "reason=chimerad node failure test").CombinedOutput(); err != nil {
		t.Skipf("cannot take node %s down (Slurm operator rights needed): %v %s", node, err, out)
	}
	s = d.waitEnded(t, token, s.ID)
	if s.State != "failed" || s.TerminationReason != "scheduler_failed" {
		t.Errorf("after the node failed: %s/%s (%s), want failed/scheduler_failed", s.State, s.TerminationReason, s.Error)
	}
	sl.waitNoJobs(t, "after the node failure")
}
