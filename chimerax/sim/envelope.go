package sim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file writes JSON the way Python's json module does with its default
// settings, which is what ChimeraX's REST server uses: separators ", " and
// ": ", ensure_ascii (every character outside printable ASCII becomes
// \uXXXX with lowercase hex, astral characters a surrogate pair), and floats
// in repr form. Go's encoding/json differs in all of these, and clients that
// compare raw bytes would notice.
//
// A value is one of nil, bool, int, float64, string, modelValue, []string,
// []any or pyObject (a dict whose keys keep their insertion order).

// modelValue is a model as a Python value: ChimeraX 1.11 writes it as a
// string, "1abc #1", and earlier releases, which cannot encode it, as null.
type modelValue string

// pyObject is a JSON object with ordered keys.
type pyObject []pyField

// pyField is one key of a pyObject.
type pyField struct {
	Key   string
	Value any
}

// pyJSON encodes v as Python's json.dumps(v) would.
func pyJSON(v any) string {
	var b strings.Builder
	writePyJSON(&b, v)
	return b.String()
}

func writePyJSON(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int:
		b.WriteString(strconv.Itoa(v))
	case float64:
		b.WriteString(pyFloat(v))
	case string:
		writePyString(b, v)
	case modelValue:
		writePyString(b, string(v))
	case []string:
		b.WriteByte('[')
		for i, s := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyString(b, s)
		}
		b.WriteByte(']')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyJSON(b, e)
		}
		b.WriteByte(']')
	case pyObject:
		b.WriteByte('{')
		for i, f := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyString(b, f.Key)
			b.WriteString(": ")
			writePyJSON(b, f.Value)
		}
		b.WriteByte('}')
	default:
		// Only this package builds values, so this is a programming error.
		panic(fmt.Sprintf("sim: cannot encode %T as JSON", v))
	}
}

// writePyString writes s as a JSON string with ensure_ascii. Invalid UTF-8
// bytes become U+FFFD, as Python's errors="replace" decoding would make them.
func writePyString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	u4 := func(r rune) {
		b.WriteString(`\u`)
		b.WriteByte(hex[r>>12&0xf])
		b.WriteByte(hex[r>>8&0xf])
		b.WriteByte(hex[r>>4&0xf])
		b.WriteByte(hex[r&0xf])
	}
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= ' ' && r <= '~':
			b.WriteRune(r)
		case r < 0x10000:
			u4(r)
		default:
			r -= 0x10000
			u4(0xd800 | (r>>10)&0x3ff)
			u4(0xdc00 | r&0x3ff)
		}
	}
	b.WriteByte('"')
}

// pyFloat formats f as Python's float.__repr__ does: the shortest digits that
// round-trip, scientific notation below 1e-4 and from 1e16 up, and always a
// decimal point or exponent. JSON has no NaN or Infinity; Python writes them
// bare and so does this.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // e.g. "-1.2345e+02"
	mant, expText, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expText)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// withoutModels returns v with models replaced by null, as releases before
// 1.11 encode Python values.
func withoutModels(v any) any {
	switch v := v.(type) {
	case modelValue:
		return nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = withoutModels(e)
		}
		return out
	case pyObject:
		out := make(pyObject, len(v))
		for i, f := range v {
			out[i] = pyField{f.Key, withoutModels(f.Value)}
		}
		return out
	}
	return v
}

// level is a ChimeraX log level.
type level int

// The log levels, in the order of Log.LEVEL_DESCRIPTS.
const (
	levelNote level = iota
	levelWarning
	levelError
	levelBug
	numLevels
)

// String returns the level's key in the REST reply ("note", "warning", ...).
func (l level) String() string {
	return [...]string{"note", "warning", "error", "bug"}[l]
}

// prefix returns the level's name in nogui's uncoloured output.
func (l level) prefix() string {
	return [...]string{"INFO", "WARNING", "ERROR", "BUG"}[l]
}

// envelope is the JSON reply of /run when the REST server runs with json true.
type envelope struct {
	jsonValues   []any // each a JSON-encoded string, or nil
	pythonValues []any
	messages     [numLevels][]string // each ends in "\n"
	err          *commandError       // nil when the commands succeeded
}

// encode returns the reply body, keys in ChimeraX's order.
func (e *envelope) encode() string {
	logs := make(pyObject, numLevels)
	for l := range numLevels {
		msgs := e.messages[l]
		if msgs == nil {
			msgs = []string{}
		}
		logs[l] = pyField{l.String(), msgs}
	}
	var errValue any
	if e.err != nil {
		errValue = pyObject{{"type", e.err.class}, {"message", e.err.msg}}
	}
	orEmpty := func(v []any) []any {
		if v == nil {
			return []any{}
		}
		return v
	}
	return pyJSON(pyObject{
		{"json values", orEmpty(e.jsonValues)},
		{"python values", orEmpty(e.pythonValues)},
		{"log messages", logs},
		{"error", errValue},
	})
}

// validUTF8 replaces invalid UTF-8 in s with U+FFFD, as Python decodes
// request bytes with errors="replace".
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // range yields RuneError for each invalid byte
		b.WriteRune(r)
	}
	return b.String()
}
