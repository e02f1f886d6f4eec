// Package sim is chimerad's ChimeraX simulator: a real program that a client
// cannot tell from a headless UCSF ChimeraX started as
//
//	ChimeraX --nogui --offscreen --nocolor --cmd "remotecontrol rest start port 0 json true"
//
// except where this comment says otherwise. It exists so that chimerad, its
// tests and its users' frontends run where ChimeraX is not installed. Main
// is the whole program; chimerad's hidden "chimerax-sim" command runs it,
// and test binaries impersonate it. The behaviour it copies is described in
// docs/chimerax-protocol.md: the command-line options and exit codes, the
// nogui stdout format (INFO: lines, "Executing: <cmd>", the "cmd> " prompt,
// "EOF" and exit 0 when stdin ends), the raw "REST server started on host
// 127.0.0.1 port N" line, and the REST server (one request at a time on
// 127.0.0.1, /run always 200, the JSON envelope byte for byte, static
// /cmdline.html, 404, 501, 405).
//
// # Commands
//
// The commands a session daemon needs are real: version, open (PDB, mmCIF,
// SDF and MOL2 files, gzipped or not, parsed for real; PDB fetches from a
// local cache; http: and https: URLs fetched for real, as below), close,
// save (PNG and JPEG images rendered from the scene, PDB files, .cxs sessions
// in the simulator's own format, scene included), log, exit/quit and
// remotecontrol rest start|stop|port. Command words and keywords are
// prefix-completed as in ChimeraX, and arguments are read as ChimeraX reads
// them (args.go), atom specifiers included (spec.go).
//
// A file holding several structures (a multi-MODEL PDB or mmCIF file, an SDF
// or MOL2 file with several molecules) opens as one grouping model named after
// the file, with a submodel per structure: ligs3d.sdf opens as #1 with
// children #1.1 to #1.10, and the open command reports the model spec "#1".
//
// The commands that change the picture change the simulator's scene
// (scene.go) as they change ChimeraX's: color (colour names, hex and rgb()
// specifiers, byelement, byhetero, bychain, bypolymer, bymodel, random, ...;
// targets), show and hide (atoms, cartoons, surfaces, models; "only"),
// style (sphere, ball, stick), cartoon and "cartoon hide", surface and
// "surface hide", transparency (surfaces by default, as in ChimeraX), set
// bgColor, turn, roll, move, zoom, view (all, a specifier, orient), close,
// and open of another file. A structure opens styled as ChimeraX styles it
// (its carbons in the model's colour, cartoon for a polymer of more than 10
// residues with its ligands as sticks, sticks otherwise), and the first
// models opened are looked at. Save draws the scene (render.go):
// snapshots of different scenes differ, the same scene gives the same bytes.
// The simulator draws a cartoon as a tube along the backbone trace and a
// surface as van der Waals spheres; motions of several frames happen at
// once, and roll, which goes on forever, turns one frame's worth.
//
// The reporting commands log what ChimeraX logs, each as one message, and
// give its JSON values (report.go): "info", "info models" (model id #1 type
// AtomicStructure name 1abc), "info chains" (chain id /A chain_id A), "info
// residues" (residue id /A:1 name PRO index 0; #1/A:1 when several
// structures are open), each with an attribute keyword, and "measure center"
// (Center of mass of 1234 atoms = (1.23, 4.56, 7.89)).
//
// Other display commands (lighting, label, select, clip, ...) succeed and do
// nothing. Commands that would run code or touch the host (runscript, pip,
// toolshed, devel, cd, alias, meeting, shell, open of scripts or ftp: URLs)
// fail with a UserError; the simulator never runs anything.
//
// # Errors
//
// Commands fail with a UserError, as ChimeraX's do, and the REST reply says
// "error": {"type": "UserError", "message": ...}. Where ChimeraX's message
// does not name the text that was wrong, the simulator's adds it (`, got
// "..."`); otherwise the messages are ChimeraX's, as read in its source
// (core/commands/cli.py, atomspec.py, colorarg.py; std_commands):
//
//	case                          simulator                                       ChimeraX
//	unknown colour                Expected a color or one of 'byatom', ...,       the same, without ", got ..."
//	  color nosuchcolor             or 'random' or a keyword, got "nosuchcolor"
//	unknown colour in a keyword   Invalid "bgColor" argument: Invalid color       the same, without ", got ..."
//	  set bgColor nosuch            name or specifier, got "nosuch"
//	bad atom specifier            Missing or invalid "objects" argument: invalid  "... invalid atom specifier" or "only initial
//	  show #1/A:10-                 atom specifier, got "#1/A:10-"                  part "#1/A:10" of atom specifier valid"; color,
//	                                                                                whose specifier may be left out, reads the
//	                                                                                text as a colour and says so (as above)
//	unknown selector              ... "protien" is not a selector name, got ...  ... "protien" is not a selector name
//	  show protein & protien
//	model not open                No models specified by "#9"                     view: No objects specified.; measure center:
//	  close #9, color #9 red                                                        No volume or atoms or surfaces specified;
//	                                                                                most others name nothing and do nothing
//	too many arguments            Expected a keyword, got "x"                     Expected a keyword
//	  turn y 90 5 x               (Expected fewer arguments, got "x" when the     (Expected fewer arguments)
//	                              command has no keywords)
//	too few arguments             Missing required "axis" positional argument     Missing or invalid "axis" argument: Expected
//	  move                                                                          an axis vector
//	a value of the wrong type     Invalid "width" argument: Expected an integer,  the same, without ", got ..."
//	  save x.png width ten          got "ten"
//
// The simulator is stricter than ChimeraX about models: a specifier naming a
// model that is not open is an error for every command, so that a frontend
// sees its mistake.
//
// # Web fetches
//
// Like ChimeraX, "open http://host/x.pdb" really fetches the URL (a GET,
// for at most 5 s and 64 MiB), saves it in ~/Downloads, which it does not
// create, and opens the file by its suffix, or as the dataFormat keyword
// says. A URL without a structure suffix goes to ChimeraX's help viewer,
// which in nogui has no browser to show it: nothing is fetched. A fetch
// reaches whatever the URL names, another session's REST port included,
// unless the process's network namespace stops it.
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
//	                              allocates 4 GiB and holds it for 5 s, then
//	                              lets go, so that a memory limit (or a watch
//	                              of the child's memory) ends it.
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
