package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Errors of this package; callers map them onto their own.
var (
	// ErrStartFailed: the job could not be submitted, or ended before
	// ChimeraX was ready.
	ErrStartFailed = errors.New("slurm: start failed")
	// ErrStartTimeout: the job did not get ChimeraX ready in time (most
	// often it was still pending; the error names Slurm's reason).
	ErrStartTimeout = errors.New("slurm: start timed out")
	// ErrUnavailable: a Slurm command failed or did not answer in time
	// (slurmctld down: commands hang for seconds). Never read it as "the
	// job is gone".
	ErrUnavailable = errors.New("slurm: unavailable")
)

// JobPrefix begins the name of every job chimerad submits: chimerad-<id>.
const JobPrefix = "chimerad-"

// Cluster is how jobs are submitted: the job's limits and the Slurm
// commands' timeout. The zero value submits with Slurm's defaults.
type Cluster struct {
	// Partition and Account are sbatch's --partition and --account
	// (empty: Slurm's default).
	Partition, Account string
	// TimeLimit is the job's --time; 0 leaves the partition's default.
	TimeLimit time.Duration
	// CPUs is --cpus-per-task; 0 leaves Slurm's default (one).
	CPUs int
	// Memory is --mem, in bytes (sent in MiB); 0 leaves Slurm's default.
	Memory int64
	// ExtraArgs are more sbatch options (CheckExtraArgs), passed as
	// arguments, never through a shell.
	ExtraArgs []string
	// CommandTimeout bounds each Slurm command; 0 means 15 s.
	CommandTimeout time.Duration
}

// reserved are the sbatch options chimerad sets itself or that would
// change what the job is: ExtraArgs may not hold them.
var reserved = []string{
	"--job-name", "-J", "--chdir", "-D", "--output", "-o", "--error", "-e",
	"--input", "-i", "--parsable", "--wrap", "--array", "-a", "--export",
	"--partition", "-p", "--account", "-A", "--time", "-t", "--cpus-per-task", "-c",
	"--mem", "--requeue", "--no-requeue", "--test-only", "--wait", "-W",
}

// CheckExtraArgs reports why args cannot be passed to sbatch: each must be
// one long option (--name or --name=value), without control characters,
// and not one chimerad sets itself.
func CheckExtraArgs(args []string) error {
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		switch {
		case !strings.HasPrefix(a, "--") || len(name) < 3:
			return fmt.Errorf("%q: want a long option, --name or --name=value", a)
		case strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return fmt.Errorf("%q: has a control character", a)
		case slices.Contains(reserved, name):
			return fmt.Errorf("%q: chimerad sets %s itself (see slurm.*)", a, name)
		}
	}
	return nil
}

func (c *Cluster) timeout() time.Duration {
	if c.CommandTimeout > 0 {
		return c.CommandTimeout
	}
	return 15 * time.Second
}

// run runs a Slurm command under the timeout and returns its stdout; a
// failure carries its stderr.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %s did not answer within %v", ErrUnavailable, name, c.timeout())
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.Bytes(), &commandError{name: name, msg: msg}
	}
	return stdout.Bytes(), nil
}

// commandError is a Slurm command that ran and failed.
type commandError struct{ name, msg string }

func (e *commandError) Error() string { return e.name + ": " + e.msg }

// submitArgs are sbatch's arguments for a job named name in dir, running
// script.
func (c *Cluster) submitArgs(name, dir, script string) []string {
	args := []string{"--parsable", "--job-name=" + name, "--chdir=" + dir,
		"--output=" + dir + "/" + agentLog, "--open-mode=append", "--no-requeue"}
	if c.Partition != "" {
		args = append(args, "--partition="+c.Partition)
	}
	if c.Account != "" {
		args = append(args, "--account="+c.Account)
	}
	if c.TimeLimit > 0 {
		args = append(args, "--time="+strconv.Itoa(int((c.TimeLimit+time.Minute-1)/time.Minute)))
	}
	if c.CPUs > 0 {
		args = append(args, "--cpus-per-task="+strconv.Itoa(c.CPUs))
	}
	if c.Memory > 0 {
		args = append(args, "--mem="+strconv.FormatInt((c.Memory+(1<<20)-1)>>20, 10)+"M")
	}
	args = append(args, c.ExtraArgs...)
	return append(args, script)
}

// submit runs sbatch and returns the job id. A refusal carries Slurm's
// own words ("More processors requested than permitted").
func (c *Cluster) submit(ctx context.Context, name, dir, script string) (string, error) {
	out, err := c.run(ctx, "sbatch", c.submitArgs(name, dir, script)...)
	if ce, ok := errors.AsType[*commandError](err); ok {
		msg := strings.TrimPrefix(ce.msg, "sbatch: error: ")
		msg = strings.TrimPrefix(msg, "Batch job submission failed: ")
		return "", fmt.Errorf("%w: sbatch refused the job: %s", ErrStartFailed, msg)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrStartFailed, err)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";") // id;cluster
	if _, err := strconv.Atoi(id); err != nil {
		return "", fmt.Errorf("%w: sbatch printed %q, not a job id", ErrStartFailed, truncate(string(out), 80))
	}
	return id, nil
}

// JobStatus is one job as squeue shows it.
type JobStatus struct {
	ID, Name string
	// State is Slurm's (PENDING, RUNNING, COMPLETING, CANCELLED,
	// TIMEOUT…); Reason why it waits or ended (Resources, Priority,
	// None…).
	State, Reason string
	Node, WorkDir string
}

const statusFormat = "%i|%j|%T|%r|%N|%Z"

func parseStatus(out []byte) []JobStatus {
	var jobs []JobStatus
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.SplitN(strings.TrimSpace(line), "|", 6)
		if len(f) < 6 {
			continue
		}
		jobs = append(jobs, JobStatus{ID: f[0], Name: f[1], State: f[2], Reason: f[3], Node: f[4], WorkDir: f[5]})
	}
	return jobs
}

// Active reports whether the job still holds (or waits for) resources.
func (s JobStatus) Active() bool {
	switch s.State {
	case "", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "PREEMPTED", "NODE_FAIL",
		"BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED":
		return false
	}
	return true
}

// Pending reports whether the job waits to be scheduled.
func (s JobStatus) Pending() bool { return s.State == "PENDING" }

// End says how an ended job ended, for a session's end reason:
// EndCancelled, EndTimeLimit, EndFailed, or EndCompleted.
func (s JobStatus) End() string {
	switch s.State {
	case "CANCELLED", "REVOKED":
		return EndCancelled
	case "TIMEOUT", "DEADLINE":
		return EndTimeLimit
	case "COMPLETED":
		return EndCompleted
	case "":
		return ""
	}
	return EndFailed
}

// How a job ended (JobStatus.End).
const (
	EndCancelled = "cancelled"
	EndTimeLimit = "time_limit"
	EndFailed    = "failed"
	EndCompleted = "completed"
)

// Describe is "PENDING (Resources)", or the state alone.
func (s JobStatus) Describe() string {
	if s.Reason == "" || s.Reason == "None" {
		return s.State
	}
	return s.State + " (" + s.Reason + ")"
}

// Status returns job id as squeue shows it, ended ones included while
// slurmctld remembers them; found is false once it does not.
func (c *Cluster) Status(ctx context.Context, id string) (st JobStatus, found bool, err error) {
	out, err := c.run(ctx, "squeue", "-h", "-t", "all", "-j", id, "-o", statusFormat)
	if ce, ok := errors.AsType[*commandError](err); ok && strings.Contains(ce.msg, "Invalid job id") {
		return JobStatus{}, false, nil
	}
	if err != nil {
		return JobStatus{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for _, j := range parseStatus(out) {
		if j.ID == id {
			return j, true, nil
		}
	}
	return JobStatus{}, false, nil
}

// Jobs returns this user's jobs named JobPrefix…, pending or running.
func (c *Cluster) Jobs(ctx context.Context) ([]JobStatus, error) {
	out, err := c.run(ctx, "squeue", "-h", "--me", "-o", statusFormat)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var jobs []JobStatus
	for _, j := range parseStatus(out) {
		if strings.HasPrefix(j.Name, JobPrefix) {
			jobs = append(jobs, j)
		}
	}
	return jobs, nil
}

// QueuePosition is job id's place among the pending jobs of its
// partition, in Slurm's priority order (1: next); 0 if it is not pending.
func (c *Cluster) QueuePosition(ctx context.Context, id string) (int, error) {
	args := []string{"-h", "-t", "PENDING", "-o", "%i", "--sort=-p,i"}
	if c.Partition != "" {
		args = append(args, "-p", c.Partition)
	}
	out, err := c.run(ctx, "squeue", args...)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for i, l := range strings.Fields(string(out)) {
		if l == id {
			return i + 1, nil
		}
	}
	return 0, nil
}

// Cancel cancels job id (scancel); cancelling an ended job is no error.
func (c *Cluster) Cancel(ctx context.Context, id string) error {
	_, err := c.run(ctx, "scancel", id)
	if ce, ok := errors.AsType[*commandError](err); ok &&
		(strings.Contains(ce.msg, "already completing") || strings.Contains(ce.msg, "Invalid job id")) {
		return nil
	}
	return err
}

// WaitGone waits until job id no longer holds resources (squeue shows it
// ended or not at all), polling, for up to d; a Slurm that does not
// answer is waited for, never taken for a gone job.
func (c *Cluster) WaitGone(ctx context.Context, id string, d time.Duration) (JobStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		st, found, err := c.Status(ctx, id)
		if err == nil && (!found || !st.Active()) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("job %s still %s", id, st.Describe())
			}
			return st, fmt.Errorf("wait for job %s to end: %w", id, err)
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
