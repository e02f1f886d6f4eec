package server

import (
	"encoding/json"
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
	b = tt.UTC().AppendFormat(b, timeLayout)
	return append(b, '"')
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // never fails for a string
	return append(b, q...)
}

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
