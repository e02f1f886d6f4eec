package sim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Exit statuses, from <sysexits.h> as ChimeraX uses them.
const (
	exitOK       = 0
	exitUsage    = 64
	exitSoftware = 70
	exitCantCrt  = 73
	exitConfig   = 78
)

// Main runs the simulator with ChimeraX's command-line arguments (args does
// not include the program name) and returns the process's exit status. It owns
// the process: it may change signal handling and the environment, and it calls
// os.Exit itself where ChimeraX's process ends abruptly ("exit" sent over
// REST, the crash knob).
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	k, err := knobsFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "chimerax-sim: %v\n", err)
		return exitConfig
	}
	// ChimeraX installs no handler for these: they end it at once, whatever
	// handlers the program calling Main (chimerad's root command) set up.
	signal.Reset(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if k.ignoreSIGTERM {
		signal.Ignore(syscall.SIGTERM)
	}
	opts, err := parseOptions(args)
	if err != nil {
		var u *usageError
		if errors.As(err, &u) && u.help {
			fmt.Fprintf(stdout, "usage: %s %s\n\n", programName, usage)
			return exitUsage
		}
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		fmt.Fprintf(stderr, "usage: %s %s\n\n", programName, usage)
		return exitUsage
	}
	s := newSimulator(opts, k, stdin, stdout, stderr)
	s.exit = os.Exit
	return s.main()
}

// simulator is one simulated ChimeraX process.
type simulator struct {
	opts     options
	knobs    knobs
	release  release
	commands *command // the command table's root
	color    bool     // coloured output instead of "INFO:" prefixes

	stdin  io.Reader
	out    *syncWriter
	errOut *syncWriter
	exit   func(code int) // ends the process at once

	web      *http.Client // fetches the URLs open is given
	webLimit int64        // the most bytes one fetch saves

	// exec is ChimeraX's main thread: commands from --cmd, stdin and REST
	// run one at a time while holding it, and so does startup. It guards
	// the fields after it.
	exec          sync.Mutex
	capture       *capture    // where a REST request collects log messages; nil otherwise
	models        []*model    // open models, sorted by id
	scene         scene       // the view of the models
	rest          *restServer // nil when no REST server was started
	restCommands  int         // commands run for /run, for the crash knob
	restServerSeq int         // REST servers started, to number "Thread-N" in tracebacks
	leaked        [][]byte    // memory the leak knob keeps
}

// newSimulator returns a simulator that has not started. Until Main sets
// its exit, ending the process panics, so that tests can run commands in
// their own process.
func newSimulator(opts options, k knobs, stdin io.Reader, stdout, stderr io.Writer) *simulator {
	version := k.version
	if opts.chimeraxVersion != "" {
		version = opts.chimeraxVersion
	}
	r, ok := findRelease(version)
	if !ok {
		r = newestRelease // parseOptions and knobsFromEnv have checked it
	}
	s := &simulator{
		opts:     opts,
		knobs:    k,
		release:  r,
		commands: commandTable(r),
		stdin:    stdin,
		out:      &syncWriter{w: stdout},
		errOut:   &syncWriter{w: stderr},
		exit:     func(code int) { panic(fmt.Sprintf("sim: exit %d", code)) },
		scene:    newScene(),
	}
	s.web, s.webLimit = &http.Client{Timeout: webFetchTimeout}, maxWebFetch
	s.color = isTerminal(stdout)
	if opts.color != nil {
		s.color = *opts.color
	}
	return s
}

// main runs startup as ChimeraX's nogui init does, then reads commands from
// stdin until it ends.
func (s *simulator) main() int {
	s.exec.Lock()
	code, done := s.startup()
	s.exec.Unlock()
	if done {
		return code
	}
	return s.readCommands()
}

// startup does everything before the event loop, with s.exec held. done
// reports that the process should end with status code.
func (s *simulator) startup() (code int, done bool) {
	if code := s.makeUserDirs(); code != exitOK {
		return code, true
	}
	if s.opts.version >= 0 {
		s.logVersion([]string{"", "verbose", "bundles", "packages"}[min(s.opts.version, 3)])
		return exitOK, true
	}
	s.flood()
	if s.knobs.escape {
		helper := exec.Command("sleep", "3600")
		helper.SysProcAttr = detached()
		if helper.Start() == nil {
			helper.Process.Release()
		}
	}
	time.Sleep(s.knobs.startDelay) // loading bundles, say
	for _, text := range s.opts.commands {
		if code, done := s.startupCommand(text); done {
			return code, true
		}
	}
	for _, script := range s.opts.scripts {
		if code, done := s.startupCommand("runscript " + script); done {
			return code, true
		}
	}
	s.logVersion("")
	if s.opts.offscreen {
		s.log(levelNote, "How to cite UCSF ChimeraX")
	}
	for _, name := range s.opts.files {
		// A UserError has been logged and startup goes on; anything else is
		// fatal, as for --cmd.
		_, err := s.runText("open "+quoteArg(name), fromStartup, true, false)
		var ce *commandError
		switch {
		case errors.Is(err, errExit):
			return exitOK, true
		case errors.As(err, &ce) && ce.notABug():
		case err != nil:
			s.traceback(err)
			return exitSoftware, true
		}
	}
	if !s.opts.eventLoop {
		return exitOK, true
	}
	return 0, false
}

// startupCommand runs one --cmd command. In nogui mode any exception, even a
// UserError, prints a traceback and ends ChimeraX with status 70.
func (s *simulator) startupCommand(text string) (code int, done bool) {
	_, err := s.runText(text, fromStartup, true, false)
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, errExit):
		return exitOK, true
	default:
		s.traceback(err)
		return exitSoftware, true
	}
}

// readCommands is the nogui event loop: print the prompt, run the line read,
// until stdin ends. Python's input() returns a last line that has no newline,
// and reports EOF on the next call.
func (s *simulator) readCommands() int {
	in := bufio.NewReader(s.stdin)
	prompt := "cmd> "
	if s.color {
		prompt = colorPrompt + prompt + colorEndPrompt
	}
	for {
		s.out.print(prompt)
		line, err := in.ReadString('\n')
		if line == "" && err != nil {
			s.out.print("EOF\n")
			return exitOK
		}
		if exit := s.runLine(strings.TrimSuffix(line, "\n")); exit {
			return exitOK
		}
	}
}

// runLine runs one line read from stdin and reports whether it asked ChimeraX
// to exit. Errors are logged, as nogui's _Input.execute does.
func (s *simulator) runLine(text string) (exit bool) {
	text = strings.TrimSpace(text)
	if text == "" {
		return false
	}
	s.exec.Lock()
	defer s.exec.Unlock()
	_, err := s.runText(text, fromStdin, true, false)
	var ce *commandError
	switch {
	case err == nil:
	case errors.Is(err, errExit):
		return true
	case errors.As(err, &ce) && ce.notABug():
		s.log(levelError, ce.msg)
	default:
		s.log(levelError, "\nUnexpected exception, save your work and exit:\n")
		s.log(levelBug, pythonTraceback(err))
	}
	return false
}

// makeUserDirs creates the per-user directories ChimeraX makes at startup
// (appdirs' data, config and cache directories), failing with status 73 as
// ChimeraX does. Like ChimeraX, as root it makes none and sets HOME to
// /do/not/run/as/root, so "~" in paths leads nowhere.
func (s *simulator) makeUserDirs() int {
	if runtime.GOOS == "linux" && os.Getuid() == 0 {
		os.Setenv("HOME", "/do/not/run/as/root")
		return exitOK
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return exitOK // nowhere to make them; ChimeraX would fail later, if ever
	}
	xdg := func(env, def string) string {
		if d := os.Getenv(env); d != "" {
			return d
		}
		return filepath.Join(home, def)
	}
	for _, d := range []struct{ what, dir string }{
		{"user's data", xdg("XDG_DATA_HOME", ".local/share")},
		{"user's configuration", xdg("XDG_CONFIG_HOME", ".config")},
		{"user's cache", xdg("XDG_CACHE_HOME", ".cache")},
	} {
		dir := filepath.Join(d.dir, "ChimeraX", s.release.version)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				fmt.Fprintf(s.errOut, "Unable to make %s directory: %s: %s\n", d.what, pythonStrerror(pe.Err), pe.Path)
			} else {
				fmt.Fprintf(s.errOut, "Unable to make %s directory: %v\n", d.what, err)
			}
			return exitCantCrt
		}
	}
	return exitOK
}

// flood writes the CHIMERAX_SIM_FLOOD bytes of log lines.
func (s *simulator) flood() {
	const chunk = 64 << 10
	var b strings.Builder
	for n, written := 0, int64(0); written < s.knobs.flood; n++ {
		fmt.Fprintf(&b, "INFO:\nchimerad simulator flood line %08d: the quick brown fox jumps over the lazy dog\n", n)
		if b.Len() >= chunk || written+int64(b.Len()) >= s.knobs.flood {
			s.out.print(b.String())
			written += int64(b.Len())
			b.Reset()
		}
	}
}

// logVersion logs what the version command reports.
func (s *simulator) logVersion(format string) {
	s.log(levelNote, fmt.Sprintf("UCSF ChimeraX version: %s (%s)", s.release.version, s.release.date))
	s.log(levelNote, "© 2016-"+s.release.date[:4]+" Regents of the University of California.  All rights reserved.")
	if format != "" {
		s.log(levelNote, "Python: 3.11.4\nRunning in the chimerad ChimeraX simulator")
	}
}

// crash ends the process as an uncaught exception in ChimeraX's event loop
// does: a traceback on stderr and status 70, with nothing more written.
func (s *simulator) crash(err error) {
	s.traceback(err)
	s.exit(exitSoftware)
}

// traceback prints err to stderr as Python prints an uncaught exception.
func (s *simulator) traceback(err error) {
	s.errOut.print(pythonTraceback(err))
}

// pythonTraceback formats err as a Python traceback. The frames are a
// plausible stand-in; clients should only ever look at the last line.
func pythonTraceback(err error) string {
	class, msg := "RuntimeError", err.Error()
	var ce *commandError
	if errors.As(err, &ce) {
		class, msg = ce.qualifiedClass(), ce.msg
	}
	const lib = "/opt/UCSF/ChimeraX/lib/python3.11/site-packages/chimerax"
	return "Traceback (most recent call last):\n" +
		"  File \"" + lib + "/core/__main__.py\", line 1067, in init\n" +
		"    run(sess, cmd)\n" +
		"  File \"" + lib + "/core/commands/run.py\", line 49, in run\n" +
		"    results = command.run(text, log=log, return_json=return_json)\n" +
		"  File \"" + lib + "/core/commands/cli.py\", line 3213, in run\n" +
		"    result = ci.function(session, **kw_args)\n" +
		class + ": " + msg + "\n"
}

// pythonOSError formats err as Python prints an OSError: "OSError: [Errno
// 98] Address already in use".
func pythonOSError(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Sprintf("OSError: [Errno %d] %s", int(errno), pythonStrerror(errno))
	}
	return "OSError: " + err.Error()
}

// pythonStrerror returns the text Python's OSError.strerror would give.
func pythonStrerror(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}

// syncWriter serializes writes to stdout or stderr, so that lines from the
// REST goroutine and the command runner do not interleave. A full pipe blocks
// every writer, as it stalls ChimeraX.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) print(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	io.WriteString(w.w, s) // like print() under nogui, errors go unnoticed
}

// Write makes syncWriter an io.Writer for fmt.Fprintf.
func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// isTerminal reports whether w is a terminal, where ChimeraX colours its
// output unless told --nocolor.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// colorama's codes, as nogui uses them.
const (
	colorNormal    = "\x1b[37m"
	colorStatus    = "\x1b[35m"
	colorPrompt    = "\x1b[34m\x1b[1m"
	colorEndPrompt = "\x1b[22m" + colorNormal
)

var levelColors = [numLevels]string{"\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[31m\x1b[1m"}

// capture collects the log messages of one REST request.
type capture struct {
	propagate bool // "log true": also write them to stdout
	byLevel   [numLevels][]string
	all       strings.Builder
}

// log logs msg as ChimeraX's session logger does: into the REST reply being
// built, if any, and otherwise (or also, with "log true") to stdout. The caller
// holds s.exec. With --silent, notes and warnings are dropped everywhere.
func (s *simulator) log(l level, msg string) {
	if s.opts.silent && l <= levelWarning {
		return
	}
	msg += "\n"
	if c := s.capture; c != nil {
		c.byLevel[l] = append(c.byLevel[l], msg)
		c.all.WriteString(msg)
		if !c.propagate {
			return
		}
	}
	s.printLog(l, msg)
}

// printLog writes a log message to stdout as nogui's NoGuiLog does.
func (s *simulator) printLog(l level, msg string) {
	if s.color {
		s.out.print(levelColors[l] + msg + colorNormal)
		return
	}
	s.out.print(l.prefix() + ":\n" + msg)
}

// status writes a status message, which never goes into a REST reply.
func (s *simulator) status(msg string) {
	if s.opts.silent {
		return
	}
	if s.color {
		s.out.print(colorStatus + msg + colorNormal + "\n")
		return
	}
	s.out.print("STATUS:\n" + msg + "\n")
}
