// Package slurm runs a session's ChimeraX as one Slurm job: the sbatch,
// squeue and scancel commands (run without a shell, each under a timeout),
// the node agent that the job runs (chimerad chimerax-agent), and the
// daemon's side of a job (Job), which reaches the agent over one TCP port
// with mutual HMAC proof of a per-session secret.
//
// A session's directory lives on a file system shared by the daemon and
// the nodes. Before it submits, the daemon writes a random secret there
// (KeyFile, 0600). The job runs the agent, which starts ChimeraX with its
// REST server on the node's loopback, holds its stdin open (a batch job's
// is /dev/null, and ChimeraX ends at end of input) and, once ChimeraX
// listens, writes its own address to AgentFile. Every connection to the
// agent opens with a challenge and response in both directions (auth.go);
// then it is either a plain byte relay to ChimeraX's REST port ("rest") or
// the control stream ("control"): the agent's status as JSON lines one
// way, stdin writes and signals the other. Nothing of this module is
// imported here.
package slurm
