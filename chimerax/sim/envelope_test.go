package sim

import (
	"math"
	"testing"
)

func TestPyJSON(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"null", nil, `null`},
		{"true", true, `true`},
		{"false", false, `false`},
		{"int", -42, `-42`},
		{"float with no fraction", 1.0, `1.0`},
		{"float", 0.1, `0.1`},
		{"negative zero", math.Copysign(0, -1), `-0.0`},
		{"small float", 0.00001, `1e-05`},
		{"smallest fixed float", 0.0001, `0.0001`},
		{"large float", 1e16, `1e+16`},
		{"largest fixed float", 1234567890123456.0, `1234567890123456.0`},
		{"long float", 1.0 / 3, `0.3333333333333333`},
		{"NaN", math.NaN(), `NaN`},
		{"infinity", math.Inf(-1), `-Infinity`},
		{"plain string", "abc", `"abc"`},
		{"escapes", "a\"b\\c\nd\re\tf\bg\fh", `"a\"b\\c\nd\re\tf\bg\fh"`},
		{"control characters", "\x00\x1f\x7f", `"\u0000\u001f\u007f"`},
		{"slash and html are not escaped", "</a>&", `"</a>&"`},
		{"copyright sign", "© 2016", `"\u00a9 2016"`},
		{"BMP character", "Å→", `"\u00c5\u2192"`},
		{"astral character", "😀", `"\ud83d\ude00"`},
		{"empty list", []any{}, `[]`},
		{"string list", []string{"#1", "#2"}, `["#1", "#2"]`},
		{"nested list", []any{1, []any{nil, "x"}}, `[1, [null, "x"]]`},
		{"empty object", pyObject{}, `{}`},
		{"object keeps order", pyObject{{"z", 1}, {"a", []any{}}, {"m", nil}}, `{"z": 1, "a": [], "m": null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pyJSON(tt.in); got != tt.want {
				t.Errorf("pyJSON(%#v) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestEnvelopeEncode(t *testing.T) {
	tests := []struct {
		name string
		in   envelope
		want string
	}{
		{
			name: "empty",
			in:   envelope{},
			want: `{"json values": [], "python values": [], "log messages": {"note": [], "warning": [], "error": [], "bug": []}, "error": null}`,
		},
		{
			name: "version",
			in: envelope{
				jsonValues:   []any{nil},
				pythonValues: []any{nil},
				messages: [numLevels][]string{levelNote: {
					"UCSF ChimeraX version: 1.11 (2025-12-16)\n",
					"© 2016-2025 Regents of the University of California.  All rights reserved.\n",
				}},
			},
			want: `{"json values": [null], "python values": [null], "log messages": {"note": ["UCSF ChimeraX version: 1.11 (2025-12-16)\n", "\u00a9 2016-2025 Regents of the University of California.  All rights reserved.\n"], "warning": [], "error": [], "bug": []}, "error": null}`,
		},
		{
			name: "open",
			in: envelope{
				jsonValues:   []any{pyJSON(pyObject{{"model specs", []string{"#1"}}})},
				pythonValues: []any{[]any{"1abc #1"}},
			},
			want: `{"json values": ["{\"model specs\": [\"#1\"]}"], "python values": [["1abc #1"]], "log messages": {"note": [], "warning": [], "error": [], "bug": []}, "error": null}`,
		},
		{
			name: "error",
			in: envelope{
				messages: [numLevels][]string{levelNote: {"Unknown command: foo\n"}, levelWarning: {"w\n"}, levelBug: {"b\n"}},
				err:      userErrorf("Unknown command: foo"),
			},
			want: `{"json values": [], "python values": [], "log messages": {"note": ["Unknown command: foo\n"], "warning": ["w\n"], "error": [], "bug": ["b\n"]}, "error": {"type": "UserError", "message": "Unknown command: foo"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.encode(); got != tt.want {
				t.Errorf("encode() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestValidUTF8(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "abc"},
		{"é", "é"},
		{"a\xffb", "a\uFFFDb"},
		{"\xff\xfe", "\uFFFD\uFFFD"},
	}
	for _, tt := range tests {
		if got := validUTF8(tt.in); got != tt.want {
			t.Errorf("validUTF8(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
