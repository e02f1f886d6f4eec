package sim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file is how ChimeraX reads a command's arguments (cli.py's
// _process_positional_arguments and _process_keyword_arguments): the
// positional arguments in order, each of a type that reads one or more
// tokens; an optional one that does not fit, or a word that begins a
// keyword, ends them; then keywords, abbreviable, each with its value.
//
// The error messages are ChimeraX's, with the text that did not fit added
// (`, got "nosuchcolor"`), which ChimeraX leaves to the caret it logs under
// the command.

// argSpec describes a command's arguments, as ChimeraX's CmdDesc does.
type argSpec struct {
	any      bool    // every token is a positional argument, unchecked: for commands that do nothing
	pos      []param // positional arguments, in order
	required int     // how many of pos must be given
	keywords []param
}

// param is one argument: its name (the keyword itself for keywords) and
// its type.
type param struct {
	name   string
	typ    argType
	repeat bool // a positional argument that takes every value that follows
}

// argType reads an argument's value from tokens, as a ChimeraX Annotation
// does from text.
type argType interface {
	// parse reads a value from the start of tokens and returns it with how
	// many tokens it used. An error that is a *specError means the tokens
	// were partly understood, which ChimeraX reports even for an optional
	// argument; any other error means the argument is not there.
	parse(tokens []token) (value any, used int, err error)
	// describe is the Annotation's name: "an integer".
	describe() string
}

// call is a parsed command, ready to run.
type call struct {
	name string         // the full command name, e.g. "remotecontrol rest start"
	args map[string]any // arguments by name, positional and keyword
	rest []string       // the tokens of a command whose arguments are not checked
	json bool           // run with return_json: the REST server wants JSON values
	src  source
}

func (c *call) has(name string) bool { _, ok := c.args[name]; return ok }

func (c *call) str(name, def string) string {
	if v, ok := c.args[name].(string); ok {
		return v
	}
	return def
}

func (c *call) int(name string, def int) int {
	if v, ok := c.args[name].(int); ok {
		return v
	}
	return def
}

func (c *call) float(name string, def float64) float64 {
	if v, ok := c.args[name].(float64); ok {
		return v
	}
	return def
}

func (c *call) bool(name string, def bool) bool {
	if v, ok := c.args[name].(bool); ok {
		return v
	}
	return def
}

// spec returns an atom specifier argument; nil when it was not given,
// which means everything.
func (c *call) spec(name string) *atomSpec {
	v, _ := c.args[name].(*atomSpec)
	return v
}

func (c *call) strings(name string) []string {
	v, _ := c.args[name].([]string)
	return v
}

// parse checks tokens against the spec and fills in c.args (or c.rest).
func (spec *argSpec) parse(tokens []token, c *call) error {
	c.args = map[string]any{}
	if spec.any {
		for _, t := range tokens {
			c.rest = append(c.rest, t.value)
		}
		return nil
	}
	i := 0
	var unfit *param // the optional positional argument the next token did not fit
	for n := range spec.pos {
		p := &spec.pos[n]
		optional := n >= spec.required
		if i == len(tokens) {
			if !optional {
				if v, _, err := p.typ.parse(nil); err == nil { // an argument that may be empty
					c.args[p.name] = v
					continue
				}
				return userErrorf("Missing required %q positional argument", p.name)
			}
			break
		}
		if optional && spec.startsKeyword(tokens[i]) {
			break
		}
		v, used, err := p.typ.parse(tokens[i:])
		if err != nil {
			var partly *specError
			if optional && !errors.As(err, &partly) {
				unfit = p // the rest must be keywords
				break
			}
			return userErrorf("Missing or invalid %q argument: %v, got %q", p.name, err, joinTokens(tokens[i:max(i+used, i+1)]))
		}
		i += used
		if !p.repeat {
			c.args[p.name] = v
			continue
		}
		values := []string{v.(string)}
		for i < len(tokens) && !spec.startsKeyword(tokens[i]) {
			values = append(values, tokens[i].value)
			i++
		}
		c.args[p.name] = values
	}
	for i < len(tokens) {
		t := tokens[i]
		k, err := spec.keyword(t, unfit)
		if err != nil {
			return err
		}
		unfit = nil
		if _, dup := c.args[k.name]; dup {
			return userErrorf("Repeated keyword argument %q", k.name)
		}
		i++
		if _, flag := k.typ.(noArg); flag {
			c.args[k.name] = true
			continue
		}
		if i == len(tokens) {
			return userErrorf("Missing %q keyword's argument", k.name)
		}
		v, used, err := k.typ.parse(tokens[i:])
		if err != nil {
			return userErrorf("Invalid %q argument: %v, got %q", k.name, err, joinTokens(tokens[i:max(i+used, i+1)]))
		}
		c.args[k.name] = v
		i += used
	}
	return nil
}

// joinTokens is tokens as text, for messages.
func joinTokens(tokens []token) string {
	words := make([]string, len(tokens))
	for i, t := range tokens {
		words[i] = t.value
	}
	return strings.Join(words, " ")
}

// startsKeyword reports whether t begins one of the keywords, which ends
// the optional positional arguments.
func (spec *argSpec) startsKeyword(t token) bool {
	if t.quoted || t.value == "" || !isLetter(t.value[0]) {
		return false
	}
	w := strings.ToLower(t.value)
	for _, k := range spec.keywords {
		if strings.HasPrefix(strings.ToLower(k.name), w) {
			return true
		}
	}
	return false
}

// keyword finds the keyword t names or abbreviates, case-insensitively. An
// abbreviation must be unambiguous unless it equals the first match. unfit
// is the optional positional argument t did not fit, for the message.
func (spec *argSpec) keyword(t token, unfit *param) (param, error) {
	w := strings.ToLower(t.value)
	var matches []param
	for _, k := range spec.keywords {
		if t.quoted {
			break
		}
		if strings.ToLower(k.name) == w {
			return k, nil
		}
		if strings.HasPrefix(strings.ToLower(k.name), w) {
			matches = append(matches, k)
		}
	}
	switch len(matches) {
	case 0:
		var expected []string
		if unfit != nil {
			expected = append(expected, unfit.typ.describe())
		}
		if len(spec.keywords) > 0 {
			expected = append(expected, "a keyword")
		} else {
			expected = append(expected, "fewer arguments")
		}
		return param{}, userErrorf("Expected %s, got %q", commas(expected, "or"), t.value)
	case 1:
		return matches[0], nil
	}
	names := make([]string, len(matches))
	for i, k := range matches {
		names[i] = strconv.Quote(k.name)
	}
	return param{}, userErrorf("Expected keyword %s", commas(names, "or"))
}

// The argument types.

// stringArg is a word or quoted text.
type stringArg struct{}

func (stringArg) parse(tokens []token) (any, int, error) {
	if len(tokens) == 0 {
		return nil, 0, errors.New("Expected a text string")
	}
	return tokens[0].value, 1, nil
}
func (stringArg) describe() string { return "a text string" }

// intArg is an integer, at least min when min is set.
type intArg struct{ min *int }

func (a intArg) parse(tokens []token) (any, int, error) {
	if len(tokens) == 0 {
		return nil, 0, errors.New("Expected " + a.describe())
	}
	n, err := strconv.Atoi(tokens[0].value)
	if err != nil {
		return nil, 0, errors.New("Expected " + a.describe())
	}
	if a.min != nil && n < *a.min {
		return nil, 0, fmt.Errorf("Must be greater than or equal to %d", *a.min)
	}
	return n, 1, nil
}

func (a intArg) describe() string {
	if a.min != nil {
		return fmt.Sprintf("an integer >= %d", *a.min)
	}
	return "an integer"
}

// floatArg is a number; with positive set, greater than 0; with percent
// set, 0 to 100.
type floatArg struct{ positive, percent bool }

func (a floatArg) parse(tokens []token) (any, int, error) {
	if len(tokens) == 0 {
		return nil, 0, errors.New("Expected " + a.describe())
	}
	f, err := strconv.ParseFloat(tokens[0].value, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, 0, errors.New("Expected " + a.describe())
	}
	switch {
	case a.positive && f <= 0:
		return nil, 0, errors.New("Must be greater than 0")
	case a.percent && (f < 0 || f > 100):
		return nil, 0, errors.New("Must be between 0 and 100")
	}
	return f, 1, nil
}

func (a floatArg) describe() string {
	switch {
	case a.positive:
		return "a number > 0"
	case a.percent:
		return "a percentage between 0 and 100"
	}
	return "a number"
}

// boolArg is true or false.
type boolArg struct{}

func (boolArg) parse(tokens []token) (any, int, error) {
	bad := errors.New("Expected true or false (or 1 or 0)")
	if len(tokens) == 0 {
		return nil, 0, bad
	}
	switch strings.ToLower(tokens[0].value) {
	case "true", "t", "1", "on", "yes":
		return true, 1, nil
	case "false", "f", "0", "off", "no":
		return false, 1, nil
	}
	return nil, 0, bad
}
func (boolArg) describe() string { return "true or false" }

// noArg is a keyword that takes no value ("view orient").
type noArg struct{}

func (noArg) parse([]token) (any, int, error) { return true, 0, nil }
func (noArg) describe() string                { return "nothing" }

// enumArg is one of some words, abbreviable, case-insensitive.
type enumArg []string

func (e enumArg) parse(tokens []token) (any, int, error) {
	if len(tokens) == 0 {
		return nil, 0, errors.New("Expected " + e.describe())
	}
	v, err := e.match(tokens[0].value)
	if err != nil {
		return nil, 0, err
	}
	return v, 1, nil
}

// match finds the word w is or abbreviates.
func (e enumArg) match(w string) (string, error) {
	w = strings.ToLower(w)
	var matches []string
	for _, v := range e {
		if strings.ToLower(v) == w {
			return v, nil
		}
		if strings.HasPrefix(strings.ToLower(v), w) {
			matches = append(matches, v)
		}
	}
	switch len(matches) {
	case 0:
		return "", errors.New("Should be " + e.describe())
	case 1:
		return matches[0], nil
	}
	return "", fmt.Errorf("'%s' is ambiguous, could be %s", w, strings.Join(matches, ", "))
}

func (e enumArg) describe() string {
	if len(e) == 1 {
		return "'" + e[0] + "'"
	}
	quoted := make([]string, len(e))
	for i, v := range e {
		quoted[i] = "'" + v + "'"
	}
	return "one of " + commas(quoted, "or")
}

// listArg is comma-separated words of an enumArg, in one token.
type listArg struct{ of enumArg }

func (l listArg) parse(tokens []token) (any, int, error) {
	if len(tokens) == 0 || tokens[0].value == "" {
		return nil, 0, errors.New("Expected " + l.describe())
	}
	var out []string
	for _, w := range strings.Split(tokens[0].value, ",") {
		v, err := l.of.match(w)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, 1, nil
}
func (l listArg) describe() string { return "a list of " + l.of.describe() }

// specArg is an atom specifier. With orEmpty, as ChimeraX's
// Or(ObjectsArg, EmptyArg), it may be left out, meaning everything.
type specArg struct {
	what    string // "an objects specifier", "a models specifier", "an atoms specifier"
	orEmpty bool
}

func (a specArg) parse(tokens []token) (any, int, error) {
	n := specTokens(tokens)
	if n == 0 {
		if a.orEmpty {
			return (*atomSpec)(nil), 0, nil
		}
		return nil, 0, errors.New("Expected " + a.what)
	}
	spec, err := parseSpec(joinTokens(tokens[:n]))
	if err != nil {
		return nil, n, err
	}
	return spec, n, nil
}

func (a specArg) describe() string {
	if a.orEmpty {
		return a.what + " or nothing"
	}
	return a.what
}

var (
	objectsArg = specArg{what: "an objects specifier", orEmpty: true}
	modelsArg  = specArg{what: "a models specifier", orEmpty: true}
	atomsArg   = specArg{what: "an atoms specifier", orEmpty: true}
)

// colorArg is a colour; with schemes, as the color command's positional
// argument, also one of the special colourings.
type colorArg struct{ schemes bool }

func (a colorArg) parse(tokens []token) (any, int, error) {
	c, n, err := parseColor(tokens)
	if err == nil {
		return c, n, nil
	}
	if a.schemes && len(tokens) > 0 {
		if v, err := enumArg(colorSchemes).match(tokens[0].value); err == nil {
			return colorValue{scheme: v}, 1, nil
		}
		return nil, 0, errors.New("Expected " + a.describe())
	}
	return nil, 0, err
}

func (a colorArg) describe() string {
	if a.schemes {
		return "a color or " + enumArg(colorSchemes).describe()
	}
	return "a color"
}

// axisArg is an axis: x, y, z (screen axes, "-x" reversed) or three
// comma-separated numbers.
type axisArg struct{}

func (axisArg) parse(tokens []token) (any, int, error) {
	bad := errors.New("Expected an axis vector")
	if len(tokens) == 0 {
		return nil, 0, bad
	}
	w := strings.ToLower(tokens[0].value)
	sign := 1.0
	if rest, ok := strings.CutPrefix(w, "-"); ok && len(rest) == 1 {
		w, sign = rest, -1
	}
	switch w {
	case "x":
		return vec{sign, 0, 0}, 1, nil
	case "y":
		return vec{0, sign, 0}, 1, nil
	case "z":
		return vec{0, 0, sign}, 1, nil
	}
	parts := strings.Split(tokens[0].value, ",")
	if len(parts) != 3 {
		return nil, 0, bad
	}
	var v vec
	for i, p := range parts {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !finite(f) {
			return nil, 0, bad
		}
		v[i] = f
	}
	if v.norm() == 0 {
		return nil, 0, errors.New("Axis vector has zero length")
	}
	return v, 1, nil
}
func (axisArg) describe() string { return "an axis vector" }

// framesArg is a number of frames, or "forever" (-1).
type framesArg struct{}

func (framesArg) parse(tokens []token) (any, int, error) {
	if len(tokens) > 0 && strings.EqualFold(tokens[0].value, "forever") {
		return -1, 1, nil
	}
	one := 1
	return intArg{min: &one}.parse(tokens)
}
func (framesArg) describe() string { return "an integer >= 1 or 'forever'" }
