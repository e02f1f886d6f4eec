package server

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// timeLayout is how the API writes every time: RFC 3339, UTC, milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// apiTime is a time as the API writes it (timeLayout), or null when zero.
type apiTime time.Time

// MarshalJSON writes t in timeLayout, or null.
func (t apiTime) MarshalJSON() ([]byte, error) {
	return t.appendJSON(make([]byte, 0, len(timeLayout)+2)), nil
}

// appendJSON appends t's JSON to b.
func (t apiTime) appendJSON(b []byte) []byte {
	tt := time.Time(t)
	if tt.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = appendAPITime(b, tt)
	return append(b, '"')
}

// appendAPITime appends t in timeLayout, as t.UTC().AppendFormat does,
// without interpreting the layout each time.
func appendAPITime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeLayout)
	}
	hour, min, sec := t.Clock()
	digits := func(b []byte, v, n int) []byte {
		var d [4]byte
		for i := n - 1; i >= 0; i-- {
			d[i] = byte('0' + v%10)
			v /= 10
		}
		return append(b, d[:n]...)
	}
	b = digits(b, year, 4)
	b = append(b, '-')
	b = digits(b, int(month), 2)
	b = append(b, '-')
	b = digits(b, day, 2)
	b = append(b, 'T')
	b = digits(b, hour, 2)
	b = append(b, ':')
	b = digits(b, min, 2)
	b = append(b, ':')
	b = digits(b, sec, 2)
	b = append(b, '.')
	b = digits(b, t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it: printable ASCII other than the characters it escapes goes
// as it is, anything else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // never fails for a string
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendOptString appends s as a JSON string, or null if it is empty.
func appendOptString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

// appendJSONFloat appends a finite f as encoding/json writes a float64.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 → e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// finite reports whether JSON can hold f.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// UnmarshalJSON reads an RFC 3339 time or null.
func (t *apiTime) UnmarshalJSON(b []byte) error {
	var tt *time.Time
	if err := json.Unmarshal(b, &tt); err != nil {
		return err
	}
	*t = apiTime{}
	if tt != nil {
		*t = apiTime(*tt)
	}
	return nil
}

// optTime is an optional time for the API: nil is null.
func optTime(t *time.Time) apiTime {
	if t == nil {
		return apiTime{}
	}
	return apiTime(*t)
}

// optString is an optional string for the API: empty is null.
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
