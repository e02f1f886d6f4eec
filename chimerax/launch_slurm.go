package chimerax

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chimerad/chimerad/chimerax/process"
	"github.com/chimerad/chimerad/chimerax/slurm"
	"github.com/chimerad/chimerad/store"
)

// With LauncherSlurm each session's ChimeraX runs as one Slurm job
// (chimerax/slurm): the job runs chimerad's node agent, which starts
// ChimeraX on the node and serves the daemon, authenticated, on one TCP
// port. Everything else — records, policy, idle ends, checkpoints — is
// the supervisor's as with local children. A jobRunner is the job as a
// runner; Reconcile cancels the jobs no record owns (cancelStrayJobs).

// orphanAfter is how long a job's agent keeps ChimeraX without a daemon
// when sessions are not adopted (on_restart terminate or resume): a
// daemon killed outright does not leave jobs running to their time limit.
const orphanAfter = time.Minute

// newCluster is how jobs are submitted, from the configuration.
func newCluster(c SlurmConfig) *slurm.Cluster {
	return &slurm.Cluster{
		Partition: c.Partition, Account: c.Account, TimeLimit: c.TimeLimit,
		CPUs: c.CPUs, Memory: c.Memory, ExtraArgs: c.ExtraArgs,
		CommandTimeout: c.CommandTimeout,
	}
}

// checkSlurm checks the Slurm settings at Open.
func (sv *Supervisor) checkSlurm() error {
	c := sv.cfg.Slurm
	if c.SessionRoot == "" || !filepath.IsAbs(c.SessionRoot) {
		return fmt.Errorf("%w: slurm.session_root %q: want the absolute path of a directory shared with the nodes", ErrInvalid, c.SessionRoot)
	}
	if err := slurm.CheckExtraArgs(c.ExtraArgs); err != nil {
		return fmt.Errorf("%w: slurm.extra_args: %v", ErrInvalid, err)
	}
	if err := os.MkdirAll(sv.sessionsDir(), 0o700); err != nil {
		return fmt.Errorf("slurm.session_root: %w", err)
	}
	sv.Logger.Info().Str("partition", c.Partition).Int("cpus", c.CPUs).Int64("memory", c.Memory).
		Dur("time_limit", c.TimeLimit).Msg("sessions run as Slurm jobs: the jobs' limits are Slurm's (chimerax.sandbox, memory_max, cpu_max and cgroup do not apply)")
	return nil
}

// agentCommand runs the node agent on a node.
func (sv *Supervisor) agentCommand() []string {
	self := sv.cfg.Slurm.ChimeradPath
	if self == "" {
		self, _ = os.Executable()
	}
	return []string{self, slurm.AgentCommand}
}

// launchJob submits session (or pool child) id's job and waits until its
// ChimeraX is ready. While the job waits, a session's record shows its
// state and reason, and its owner its place in the queue.
func (sv *Supervisor) launchJob(ctx context.Context, id string, c *child) (runner, error) {
	spec := slurm.Spec{
		SessionID:   id,
		Dir:         sv.sessionDir(id),
		Agent:       sv.agentCommand(),
		Command:     append([]string{sv.engine.Path}, sv.engine.ChildArgs()...),
		Env:         append(append([]string(nil), sv.engine.Env...), process.SessionEnv+"="+id),
		Timeout:     sv.cfg.Slurm.StartTimeout,
		LogMaxBytes: sv.cfg.LogMaxBytes,
	}
	if sv.cfg.OnRestart != OnRestartAdopt {
		spec.OrphanAfter = orphanAfter
	}
	if c != nil {
		spec.OnStatus = func(st slurm.JobStatus) { sv.jobWaits(ctx, c, st) }
	}
	j, err := sv.cluster.Launch(ctx, spec)
	if j == nil {
		return nil, startError(err)
	}
	r := &jobRunner{Job: j, cfg: sv.cfg.Slurm}
	if err != nil {
		return r, r.StartError(startError(err))
	}
	return r, nil
}

// startError maps the slurm package's start errors onto the supervisor's.
func startError(err error) error {
	msg := err.Error()
	for _, e := range []error{slurm.ErrStartTimeout, slurm.ErrStartFailed} {
		msg = strings.TrimPrefix(msg, e.Error()+": ")
	}
	if errors.Is(err, slurm.ErrStartTimeout) {
		return fmt.Errorf("%w: %s", ErrStartTimeout, msg)
	}
	return fmt.Errorf("%w: %s", ErrStartFailed, msg)
}

// jobWaits notes a starting session's job status: in its record (admins
// see it) when it changes, and its place in the queue while pending.
func (sv *Supervisor) jobWaits(ctx context.Context, c *child, st slurm.JobStatus) {
	pos := 0
	if st.Pending() {
		pos, _ = sv.cluster.QueuePosition(ctx, st.ID)
	}
	sv.mu.Lock()
	c.queuePos = pos
	sv.mu.Unlock()
	sv.db.UpdateSession(context.WithoutCancel(ctx), c.id, func(s *store.Session) error {
		if s.State != store.StateStarting {
			return errAlreadyEnded
		}
		if s.Process == nil {
			s.Process = &store.Process{}
		}
		if p := s.Process.Scheduler; p != nil && p.JobID == st.ID && p.State == st.State && p.Reason == st.Reason {
			return errAlreadyEnded // unchanged: no write
		}
		s.Process.Scheduler = schedulerRecord(sv.cfg.Slurm, st, "")
		return nil
	})
}

func schedulerRecord(c SlurmConfig, st slurm.JobStatus, agent string) *store.Scheduler {
	return &store.Scheduler{
		JobID: st.ID, State: st.State, Reason: st.Reason, Node: st.Node, Agent: agent,
		Partition: c.Partition, Account: c.Account, TimeLimitSeconds: int64(c.TimeLimit / time.Second),
		CPUs: c.CPUs, MemoryBytes: c.Memory,
	}
}

// jobRunner is a session's Slurm job as a runner.
type jobRunner struct {
	*slurm.Job
	cfg SlurmConfig
}

// PID is 0: the job's processes are on its node, not here.
func (r *jobRunner) PID() int { return 0 }

// CPUSeconds is unknown: sacct is not assumed.
func (r *jobRunner) CPUSeconds() (float64, bool) { return 0, false }

// OOMKilled: Slurm's own memory limit ended the job.
func (r *jobRunner) OOMKilled() bool {
	st, ok := r.End()
	return ok && st.State == "OUT_OF_MEMORY"
}

func (r *jobRunner) StartError(err error) error {
	return &process.StartError{Err: err, Output: r.Tail(10)}
}

// record describes the job for its session's record.
func (r *jobRunner) record() *store.Process {
	return &store.Process{
		Dir: r.Dir(), Port: r.Port(),
		Scheduler: schedulerRecord(r.cfg, r.Status(), r.Addr()),
	}
}

// endReason is why a job Slurm ended ends its session; ok is false if
// ChimeraX exited on its own.
func (r *jobRunner) endReason() (reason store.Reason, msg string, ok bool) {
	st, ok := r.End()
	if !ok {
		return "", "", false
	}
	msg = "the Slurm job " + r.ID() + " ended " + st.Describe()
	switch st.End() {
	case slurm.EndCancelled:
		return store.ReasonSchedulerCancelled, msg + ": it was cancelled outside chimerad", true
	case slurm.EndTimeLimit:
		return store.ReasonSchedulerTimeLimit, msg + ": it reached its time limit (slurm.time_limit)", true
	}
	if st.State == "OUT_OF_MEMORY" {
		return store.ReasonOutOfMemory, msg + ": it ran out of memory (slurm.memory)", true
	}
	return store.ReasonSchedulerFailed, msg, true
}

// adoptJob re-attaches to the job of a session a previous daemon left,
// through its agent.
func (sv *Supervisor) adoptJob(rec store.Session) (runner, error) {
	if rec.Process == nil || rec.Process.Scheduler == nil || rec.Process.Scheduler.JobID == "" {
		return nil, errors.New("it has no Slurm job")
	}
	j, err := sv.cluster.Adopt(sv.sessionDir(rec.ID), rec.Process.Scheduler.JobID, rec.ID)
	if err != nil {
		return nil, err
	}
	return &jobRunner{Job: j, cfg: sv.cfg.Slurm}, nil
}

// cancelStrayJobs cancels every job of this user named chimerad-<id>
// whose directory is under this daemon's session root and that no live
// session holds now (Reconcile runs it after adopting): pool jobs,
// sessions not adopted, jobs submitted but never recorded. A Slurm that
// does not answer leaves them (logged); their agents end them within
// orphanAfter unless sessions are adopted.
func (sv *Supervisor) cancelStrayJobs(ctx context.Context) {
	jobs, err := sv.cluster.Jobs(ctx)
	if err != nil {
		sv.Logger.Error().Err(err).Msg("cannot list Slurm jobs: jobs a previous chimerad left are not cancelled now")
		return
	}
	root := sv.sessionsDir() + string(filepath.Separator)
	for _, j := range jobs {
		id := strings.TrimPrefix(j.Name, slurm.JobPrefix)
		if !strings.HasPrefix(j.WorkDir+string(filepath.Separator), root) {
			continue // another chimerad's
		}
		sv.mu.Lock()
		_, live := sv.children[id]
		sv.mu.Unlock()
		if live {
			continue
		}
		sv.Logger.Warn().Str("session_id", id).Str("job_id", j.ID).Str("state", j.State).Msg("cancelling a Slurm job no session holds")
		if err := sv.cluster.Cancel(ctx, j.ID); err != nil {
			sv.Logger.Error().Err(err).Str("job_id", j.ID).Msg("cancel Slurm job")
		}
	}
}
