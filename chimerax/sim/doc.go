// Package sim is chimerad's ChimeraX simulator: a real program that a client
// cannot tell from a headless UCSF ChimeraX started as
//
//	ChimeraX --nogui --offscreen --nocolor --cmd "remotecontrol rest start port 0 json true"
//
// It exists so that chimerad, and its tests, run where ChimeraX is not
// installed. Main is the whole program; chimerad's hidden "chimerax-sim"
// command runs it, and test binaries impersonate it. The behaviour it copies is
// described in /work/shared/chimerax/PROTOCOL.md: the command-line options and
// exit codes, the nogui stdout format (INFO: lines, "Executing: <cmd>", the
// "cmd> " prompt, "EOF" and exit 0 when stdin ends), the raw
// "REST server started on host 127.0.0.1 port N" line, and the REST server
// (one request at a time on 127.0.0.1, /run always 200, the JSON envelope
// byte for byte, static /cmdline.html, 404, 501, 405).
//
// The commands a session daemon needs are real: version, open (PDB, mmCIF,
// SDF and MOL2 files, gzipped or not, parsed for real; PDB fetches from a
// local cache; http: and https: URLs fetched for real, as below), close,
// info, info models, save (PNG and JPEG images rendered from the atoms, PDB
// files, .cxs sessions in the simulator's own format), log, exit/quit and
// remotecontrol rest start|stop|port. Command words and keywords are
// prefix-completed as in ChimeraX. The usual display commands (view, color,
// style, cartoon, show, hide, ...) succeed and do nothing. Commands that
// would run code or touch the host (runscript, pip, toolshed, devel, cd,
// alias, meeting, shell, open of scripts or ftp: URLs) fail with a
// UserError; the simulator never runs anything.
//
// Like ChimeraX, "open http://host/x.pdb" really fetches the URL (a GET,
// for at most 5 s and 64 MiB), saves it in ~/Downloads, which it does not
// create, and opens the file by its suffix, or as the dataFormat keyword
// says. A URL without a structure suffix goes to ChimeraX's help viewer,
// which in nogui has no browser to show it: nothing is fetched. A fetch
// reaches whatever the URL names, another session's REST port included,
// unless the process's network namespace stops it.
//
// A file holding several structures (a multi-MODEL PDB or mmCIF file, an SDF
// or MOL2 file with several molecules) opens as one grouping model named after
// the file, with a submodel per structure: ligs3d.sdf opens as #1 with
// children #1.1 to #1.10, and the open command reports the model spec "#1".
//
// # Versions
//
// The simulator's own option --chimerax-version v (1.8, 1.9, 1.10 or, the
// default, 1.11), accepted among ChimeraX's, picks the release it emulates:
// the version "version" reports, the keywords of "remotecontrol rest start"
// (log from 1.9 on), the Content-Type of JSON replies (application/json
// from 1.11 on, text/plain before) and models in "python values" ("1abc #1"
// from 1.11 on, null before). An unknown version is a usage error (status
// 64).
//
// # Fault knobs
//
// The environment can make the simulator misbehave the way a real ChimeraX
// can, so that a supervisor's error paths can be tested:
//
//	CHIMERAX_SIM_FETCH_CACHE=dir  "open 1abc", "open 1abc from pdb" and
//	                              "open pdb:1abc" read dir/1abc.cif, or else
//	                              dir/1abc.pdb (the id in lower case), instead
//	                              of the network; with "format pdb" the .pdb
//	                              file is tried first. No file, or the variable
//	                              unset, gives ChimeraX's HTTP 404 failure.
//	CHIMERAX_SIM_START_DELAY=d    startup takes d (a Go duration) longer:
//	                              the simulator sleeps before it runs the --cmd
//	                              commands, so the REST server starts, and the
//	                              port line appears, d later.
//	CHIMERAX_SIM_NO_PORT=1        "remotecontrol rest start" succeeds but no
//	                              server ever listens (as when the port is in
//	                              use); the process keeps reading stdin.
//	CHIMERAX_SIM_CRASH_AFTER=N    the first N commands run through /run work;
//	                              the next one kills the process as an uncaught
//	                              exception would: a traceback on stderr, exit
//	                              status 70, no reply. Every command counts,
//	                              including each part of "a; b"; commands from
//	                              --cmd and stdin do not count.
//	CHIMERAX_SIM_CRASH_ON=word    a command whose first word, as typed or as
//	                              completed, is word kills the process that
//	                              way, wherever it comes from: its request is
//	                              never answered, the status is 70 (as for
//	                              ChimeraX --nogui dying of an unhandled
//	                              Python exception).
//	CHIMERAX_SIM_HANG_ON=word     a command whose first word is word never
//	                              returns; its HTTP request never completes
//	                              and, as in ChimeraX, every later request
//	                              waits behind it.
//	CHIMERAX_SIM_SLOW=d           every command takes d longer; with
//	CHIMERAX_SIM_SLOW_ON=word     only the commands whose first word is word.
//	CHIMERAX_SIM_LEAK=n           every command allocates n more bytes that
//	                              stay resident and are never freed, as a
//	                              leaking ChimeraX grows; with
//	CHIMERAX_SIM_LEAK_ON=word     only the commands whose first word is word.
//	CHIMERAX_SIM_HOG_ON=word      a command whose first word is word first
//	                              allocates memory (up to 4 GiB, then let go),
//	                              so that a memory limit on the child ends it.
//	CHIMERAX_SIM_BURN_ON=word     a command whose first word is word first
//	                              keeps a CPU busy for a second, so that a CPU
//	                              limit on the child shows.
//	CHIMERAX_SIM_IGNORE_SIGTERM=1 SIGTERM is ignored; only SIGKILL ends it.
//	CHIMERAX_SIM_ESCAPE=1         at startup, a helper process ("sleep 3600")
//	                              is started in a session of its own and left
//	                              running, as a tool that daemonizes a helper
//	                              would: it escapes the process group.
//	CHIMERAX_SIM_FLOOD=n          at least n bytes of INFO lines are written to
//	                              stdout before the --cmd commands run, so a
//	                              supervisor that does not drain stdout never
//	                              sees the port line.
//	CHIMERAX_SIM_VERSION=v        the release to emulate, as the option
//	                              --chimerax-version v says (which wins).
//
// A knob with a malformed value makes Main report it on stderr and return 78
// (EX_CONFIG) before doing anything else.
package sim
