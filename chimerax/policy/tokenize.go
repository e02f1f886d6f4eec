package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// cliToken is one token of a ChimeraX command: its text without quotes, and
// the quote it was written in (0 if none).
type cliToken struct {
	text  string
	quote byte
}

// String returns the token as it was written.
func (t cliToken) String() string {
	if t.quote == 0 {
		return t.text
	}
	q := string(t.quote)
	return q + t.text + q
}

// cliJoin returns a command's normalized text: its tokens as written, joined
// by single spaces.
func cliJoin(cmd []cliToken) string {
	parts := make([]string, len(cmd))
	for i, t := range cmd {
		parts[i] = t.String()
	}
	return strings.Join(parts, " ")
}

// cliQuote returns s as one ChimeraX token: bare if it can be, else in
// quotes of a kind it does not contain; ok is false if no quoting works.
func cliQuote(s string) (token string, ok bool) {
	switch {
	case strings.ContainsAny(s, "\n\r"):
		return "", false
	case s != "" && !strings.ContainsAny(s, " \t;\"'"):
		return s, true
	case !strings.Contains(s, `"`):
		return `"` + s + `"`, true
	case !strings.Contains(s, "'"):
		return "'" + s + "'", true
	}
	return "", false
}

// isCLISpace reports whether c separates tokens. Python's \s also matches
// \v, \f, \x1c-\x1f and Unicode spaces, all refused before splitting.
func isCLISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// Hidden reports whether r would not show as itself in a name or a
// label: a control character, a non-ASCII space or separator, or an
// invisible format character (zero-width space, bidi controls, BOM).
// An ASCII space is not hidden.
func Hidden(r rune) bool {
	return unicode.IsControl(r) || invisibleRune(r)
}

// invisibleRune reports whether r is a non-ASCII space or separator, or an
// invisible format character (zero-width space, bidi controls, BOM).
func invisibleRune(r rune) bool {
	return r > unicode.MaxASCII && (unicode.IsSpace(r) || unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Cf))
}

// cliTokenize splits line into commands of tokens as ChimeraX's parser
// would, refusing what it would read differently (see Policy). Empty
// commands are dropped, and a comment ends the line.
func cliTokenize(line string) ([][]cliToken, error) {
	if len(line) > maxCommandLine {
		return nil, fmt.Errorf("line is %d bytes; the limit is %d", len(line), maxCommandLine)
	}
	if !utf8.ValidString(line) {
		return nil, errors.New("line is not valid UTF-8")
	}
	for i, r := range line {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r == '\\':
			return nil, fmt.Errorf("backslash at byte %d: ChimeraX reads escape sequences", i)
		case unicode.IsControl(r):
			return nil, fmt.Errorf("control character %U at byte %d", r, i)
		case invisibleRune(r):
			return nil, fmt.Errorf("non-ASCII space or invisible character %U at byte %d", r, i)
		}
	}
	var cmds [][]cliToken
	var cur []cliToken
	lineBreak := false // a line break since the last token of cur
	for i := 0; i < len(line); {
		c := line[i]
		if len(cur) > 0 && lineBreak && !isCLISpace(c) && c != ';' {
			return nil, fmt.Errorf("line break inside a command before byte %d: ChimeraX reads it as a space; end commands with ;", i)
		}
		switch {
		case isCLISpace(c):
			lineBreak = lineBreak || c == '\n' || c == '\r'
			i++
		case c == ';':
			if len(cur) > 0 {
				cmds = append(cmds, cur)
				cur = nil
			}
			lineBreak = false
			i++
		case c == '#' && len(cur) == 0:
			// A comment: ChimeraX ignores the rest of the whole line.
			return cmds, nil
		case c == '"' || c == '\'':
			n := strings.IndexByte(line[i+1:], c)
			if n < 0 {
				return nil, fmt.Errorf("unbalanced %c at byte %d", c, i)
			}
			end := i + 1 + n
			text := line[i+1 : end]
			if strings.ContainsAny(text, "\n\r") {
				return nil, fmt.Errorf("quoted text at byte %d spans a line break", i)
			}
			if end+1 < len(line) {
				switch next := line[end+1]; {
				case next == ';':
					return nil, fmt.Errorf("closing %c at byte %d is followed directly by a semicolon; put a space before it", c, end)
				case !isCLISpace(next):
					r, _ := utf8.DecodeRuneInString(line[end+1:])
					return nil, fmt.Errorf("closing %c at byte %d is followed by %q, not a space", c, end, r)
				}
			}
			cur = append(cur, cliToken{text: text, quote: c})
			lineBreak = false
			i = end + 1
		default:
			j := i
			for j < len(line) && !isCLISpace(line[j]) && line[j] != ';' {
				if line[j] == '"' || line[j] == '\'' {
					return nil, fmt.Errorf("stray %c inside a word at byte %d; quote the whole word", line[j], j)
				}
				j++
			}
			cur = append(cur, cliToken{text: line[i:j]})
			lineBreak = false
			i = j
		}
	}
	if len(cur) > 0 {
		cmds = append(cmds, cur)
	}
	return cmds, nil
}
