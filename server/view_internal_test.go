package server

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/chimerad/chimerad/store"
)

// TestSessionViewJSONAsReflect: the hand-written MarshalJSON writes the
// very bytes encoding/json writes for the view (marshalReflect).
func TestSessionViewJSONAsReflect(t *testing.T) {
	at := time.Date(2026, 12, 6, 11, 22, 33, 456789000, time.FixedZone("X", 3600))
	full := SessionView{
		ID: "0b7c6a3e-5a52-4f7e-9d51-1d6f7c2b9e10", Owner: "alice", Name: "name", State: store.StateReady,
		Engine: "simulator", Structure: store.Structure{Source: store.SourceUpload, PDBID: "1hpv", Filename: "a.pdb", Format: "pdb", SizeBytes: 150174},
		CreatedAt: at, ReadyAt: &at, LastActivityAt: &at, IdleTimeoutSeconds: 1800, IdleExpiresAt: &at,
		MaxLifetimeExpiresAt: &at, TerminatedAt: &at, TerminationReason: store.ReasonDeleted, Error: "boom",
		CheckpointAt: &at, ResumedFrom: "x", Stats: &store.SessionStats{Commands: 3, CPUSeconds: 1.25, RSSBytes: 1 << 20, DiskBytes: 4096},
		FromPool: true, ExecutionState: "busy", BusySince: &at, Restarts: 2,
	}
	views := map[string]SessionView{"zero": {}, "full": full}
	for name, s := range map[string]string{
		"html": "<a&b>", "amp": "a&b", "lt": "a<b", "gt": "a>b", "backslash": `a\b`, "quote": `say "hi"`, "control": "a\nb\tc\x00", "unicode": "écran ✓",
		"invalid utf-8": "a\xffb", "line separator": "a\u2028b\u2029", "del": "a\x7fb",
	} {
		v := full
		v.Name, v.Error, v.Owner, v.Structure.Filename = s, s, s, s
		views["string "+name] = v
	}
	for name, f := range map[string]float64{"zero": 0, "small": 1e-7, "tiny": 5e-324, "big": 1e21, "long": 123456789.123456789, "negative": -2.5e-9} {
		v := full
		v.Stats = &store.SessionStats{CPUSeconds: f}
		views["float "+name] = v
	}
	neg := full
	neg.IdleTimeoutSeconds = -1
	views["negative idle timeout"] = neg
	admin := full
	admin.Process = &store.Process{PID: 7, Port: 1234, Dir: "/d", LastOutput: []string{"x"}}
	views["admin"] = admin
	for name, v := range views {
		got, err := v.MarshalJSON()
		want, werr := v.marshalReflect()
		if err != nil || werr != nil {
			t.Errorf("%s: MarshalJSON = %v, reflect = %v", name, err, werr)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: MarshalJSON =\n%s\nwant\n%s", name, got, want)
		}
		// And inside a list, where encoding/json compacts it again.
		if l, err := json.Marshal([]SessionView{v}); err != nil || !bytes.Equal(l, append(append([]byte("["), want...), ']')) {
			t.Errorf("%s: in a list = %s, %v", name, l, err)
		}
	}
	nan := full
	nan.Stats = &store.SessionStats{CPUSeconds: math.NaN()}
	if _, err := nan.MarshalJSON(); err == nil {
		t.Error("NaN CPU seconds: no error, as encoding/json gives")
	}
}

// TestHeartbeatAnswerJSON: the heartbeat's answer is what encoding/json
// made of the map it was.
func TestHeartbeatAnswerJSON(t *testing.T) {
	at := time.Date(2026, 12, 6, 11, 22, 33, 456789000, time.UTC)
	for _, h := range []heartbeatAnswer{{"id", apiTime(at), apiTime{}}, {"<&>", apiTime{}, apiTime(at)}} {
		got, _ := h.MarshalJSON()
		want, _ := json.Marshal(map[string]any{"id": h.ID, "last_activity_at": h.LastActivityAt, "idle_expires_at": h.IdleExpiresAt})
		var g, w map[string]any
		if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil || !jsonEqual(g, w) {
			t.Errorf("heartbeat %v = %s, want %s", h, got, want)
		}
	}
}

func jsonEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestAppendAPITime: the API's times are written as AppendFormat would.
func TestAppendAPITime(t *testing.T) {
	times := []time.Time{
		{}, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 6, 11, 22, 33, 456789000, time.FixedZone("X", -5*3600)),
		time.Date(2026, 2, 28, 23, 59, 59, 999_500_000, time.Local), time.Now(),
	}
	for i := range 1000 {
		times = append(times, time.Unix(int64(i)*7919*86400/7+int64(i)*104729, int64(i)*999_983).In(time.FixedZone("Y", i*60)))
	}
	for _, at := range times {
		if got, want := string(appendAPITime(nil, at)), at.UTC().Format(timeLayout); got != want {
			t.Errorf("appendAPITime(%v) = %s, want %s", at, got, want)
		}
	}
}
