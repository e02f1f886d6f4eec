// Package process runs one ChimeraX child as an operating-system process:
// how it is launched (Spec, Launch), the per-session shim that lets it
// outlive the daemon (ShimMain, Adopt), the namespace sandbox and the
// relay socket that reaches it, its cgroup and memory limits, its output
// log (written while it runs, read by ReadLog), what it uses (/proc), and
// finding and killing process groups a previous daemon left (FindChildren,
// KillGroup). It knows nothing of sessions, users or the store: the
// chimerax supervisor above it does. It imports nothing of this module.
package process
