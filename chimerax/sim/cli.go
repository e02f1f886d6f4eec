package sim

import (
	"errors"
	"fmt"
	"strings"
)

// This file is ChimeraX's command-line grammar (core/commands/cli.py): ";"
// ends a command outside quotes, a first token starting with "#" makes the
// rest of the text a comment, command words and keywords are completed from
// prefixes, and each command's arguments are checked before it runs.

// commandError is a Python exception raised while parsing or running a
// command, named by its class: UserError and LimitationError are ChimeraX's
// NotABug errors, anything else (AttributeError, ...) is a bug.
type commandError struct {
	class string
	msg   string
}

func (e *commandError) Error() string { return e.class + ": " + e.msg }

// notABug reports whether ChimeraX treats the error as the user's mistake.
func (e *commandError) notABug() bool {
	switch e.class {
	case "UserError", "LimitationError", "AnnotationError":
		return true
	}
	return false
}

// qualifiedClass is the class name as a traceback prints it.
func (e *commandError) qualifiedClass() string {
	switch e.class {
	case "UserError", "LimitationError":
		return "chimerax.core.errors." + e.class
	case "AnnotationError":
		return "chimerax.core.commands.cli." + e.class
	}
	return e.class
}

func userErrorf(format string, args ...any) *commandError {
	return &commandError{class: "UserError", msg: fmt.Sprintf(format, args...)}
}

// errExit is Python's SystemExit(0), raised by the exit and quit commands.
var errExit = errors.New("sim: exit")

// source says where a command came from.
type source int

const (
	fromStartup source = iota // --cmd, --script, positional files
	fromStdin
	fromREST
)

// command is a node of the command table: a word that may run a command,
// lead to subcommands, or both ("close" and "close session").
type command struct {
	name string
	args argSpec
	run  func(s *simulator, c *call) (result, error) // nil: only a prefix of longer commands
	subs []*command
}

// find returns the subcommand word names, or the first one it is a prefix
// of, in registration order; nil if there is none.
func (c *command) find(word string) *command {
	if word == "" {
		return nil
	}
	for _, sub := range c.subs {
		if sub.name == word {
			return sub
		}
	}
	for _, sub := range c.subs {
		if strings.HasPrefix(sub.name, word) {
			return sub
		}
	}
	return nil
}

// result is what a command returns: its JSON value (an encoded string) if it
// has one, and its Python value made JSON-friendly.
type result struct {
	json   any // nil or string
	python any
}

// invocation is one command found in the text.
type invocation struct {
	cmd   *command
	text  string // as ChimeraX echoes it: completed command words, then the arguments
	typed string // the first word as typed
	call  call
}

const spaceChars = " \t\n\r\f\v"

func isSpace(c byte) bool { return strings.IndexByte(spaceChars, c) >= 0 }

// nextToken splits the first token off text, which must not start with
// whitespace. value is the token with quotes removed, chars the text it
// occupied. A quote closes only where whitespace, ";" or the end follows it.
func nextToken(text string) (value, chars, rest string, err error) {
	switch q := text[0]; q {
	case '"', '\'':
		for i := 1; i < len(text); i++ {
			if text[i] == q && (i+1 == len(text) || isSpace(text[i+1]) || text[i+1] == ';') {
				return unescape(text[1:i]), text[:i+1], text[i+1:], nil
			}
		}
		return "", "", "", &commandError{class: "AnnotationError", msg: "incomplete quoted text"}
	case ';':
		return ";", ";", text[1:], nil
	}
	i := strings.IndexAny(text, spaceChars+";")
	if i < 0 {
		i = len(text)
	}
	return text[:i], text[:i], text[i:], nil
}

// unescape interprets the backslash escapes of a quoted token.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			if r, ok := map[byte]byte{'\\': '\\', '\'': '\'', '"': '"', 'n': '\n', 't': '\t', 'r': '\r'}[s[i+1]]; ok {
				b.WriteByte(r)
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// quoteArg quotes s as a single command argument, as StringArg.unparse does.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, spaceChars+`;"'`) {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// parseCommand parses the command at the start of text, which starts with
// neither whitespace nor ";" nor "#", and returns it with the text after it
// (empty, or starting at the ";" that ended it).
func parseCommand(root *command, text string) (*invocation, string, error) {
	var (
		node     = root
		ci       *command        // the command the words so far name, if any
		consumed strings.Builder // the command words so far, completed
		names    []string
		typed    string
		rest     = text
	)
	for {
		trimmed := strings.TrimLeft(rest, spaceChars)
		if trimmed == "" || trimmed[0] == ';' {
			break
		}
		word, _, after, err := nextToken(trimmed)
		if err != nil {
			return nil, "", err
		}
		sub := node.find(word)
		if sub == nil {
			if ci == nil {
				return nil, "", userErrorf("Unknown command: %s", consumed.String()+rest)
			}
			break
		}
		if len(names) == 0 {
			typed = word
		} else {
			consumed.WriteString(rest[:len(rest)-len(trimmed)])
		}
		consumed.WriteString(sub.name)
		names = append(names, sub.name)
		node, ci, rest = sub, nil, after
		if sub.run != nil {
			ci = sub
		}
		if len(sub.subs) == 0 {
			break
		}
	}
	if ci == nil {
		return nil, "", userErrorf("Incomplete command: %s", consumed.String())
	}

	var tokens []token
	argStart := rest
	for {
		trimmed := strings.TrimLeft(rest, spaceChars)
		if trimmed == "" || trimmed[0] == ';' {
			rest = trimmed
			break
		}
		value, chars, after, err := nextToken(trimmed)
		if err != nil {
			return nil, "", err
		}
		tokens = append(tokens, token{value: value, quoted: chars[0] == '"' || chars[0] == '\''})
		rest = after
	}
	inv := &invocation{
		cmd:   ci,
		text:  consumed.String() + strings.TrimRight(argStart[:len(argStart)-len(rest)], spaceChars),
		typed: typed,
		call:  call{name: strings.Join(names, " ")},
	}
	if err := ci.args.parse(tokens, &inv.call); err != nil {
		return nil, "", err
	}
	return inv, rest, nil
}

// token is one argument token.
type token struct {
	value  string
	quoted bool
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// commas joins words as ChimeraX's commas() does: "a", "a or b",
// "a, b, or c".
func commas(words []string, conjunction string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	case 2:
		return words[0] + " " + conjunction + " " + words[1]
	}
	return strings.Join(words[:len(words)-1], ", ") + ", " + conjunction + " " + words[len(words)-1]
}

// runText parses and runs the commands in text one after another, as
// ChimeraX's run() does, and returns one result per command. The first error
// stops it; its caller reports it (nogui logs it as an error, the REST
// server as a note). With logCmds, each command is echoed ("Executing: ...")
// and a command that does not parse is logged as an error. The caller holds
// s.exec.
func (s *simulator) runText(text string, src source, logCmds, json bool) ([]result, error) {
	var results []result
	rest := text
	for {
		rest = strings.TrimLeft(rest, spaceChars)
		switch {
		case rest == "":
			return results, nil
		case rest[0] == ';': // empty command
			rest = rest[1:]
			continue
		case rest[0] == '#': // a comment, to the end of the text
			return results, nil
		}
		inv, after, err := parseCommand(s.commands, rest)
		if err != nil {
			if logCmds { // ChimeraX's log_parse_error shows the command
				s.log(levelError, rest)
			}
			return nil, err
		}
		inv.call.json, inv.call.src = json, src
		if logCmds {
			s.log(levelNote, "Executing: "+inv.text)
		}
		res, err := s.invoke(inv)
		if err != nil {
			return nil, err
		}
		results = append(results, res)
		rest = after
	}
}
