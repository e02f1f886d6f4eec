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
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + tt.UTC().Format(timeLayout) + `"`), nil
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
