//go:build linux

package chimerax_test

import (
	"context"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/store"
)

// mustCreate creates a ready session of alice's from a testdata upload
// ("" for an empty session).
func mustCreate(tb testing.TB, sv *chimerax.Supervisor, file string) chimerax.Info {
	tb.Helper()
	req := chimerax.CreateRequest{Owner: "alice", Wait: true}
	if file != "" {
		req.Upload = mustUpload(tb, file)
	}
	rec, err := sv.Create(context.Background(), req)
	if err != nil {
		tb.Fatal(err)
	}
	return rec
}

// notes joins a result's notes.
func notes(res *chimerax.Result) string { return strings.Join(res.Log.Note, "") }

// TestNoPolicyBypass: every exported method of the supervisor that sends a
// client's line to a session (a session id and a line in, a Result out)
// refuses runscript. Found by reflection, so a new such method is checked
// too; RunUnchecked is export_test.go's, in the test binary only.
func TestNoPolicyBypass(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil)
	rec := mustCreate(t, sv, "")
	ctxType := reflect.TypeFor[context.Context]()
	resultType := reflect.TypeFor[*chimerax.Result]()
	checked := 0
	v := reflect.ValueOf(sv)
	for i := range v.NumMethod() {
		m := v.Type().Method(i)
		ft := m.Type // with the receiver
		if m.Name == "RunUnchecked" || ft.NumIn() != 4 || ft.In(1) != ctxType ||
			ft.In(2).Kind() != reflect.String || ft.In(3).Kind() != reflect.String ||
			ft.NumOut() == 0 || ft.Out(0) != resultType {
			continue
		}
		checked++
		out := v.Method(i).Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(rec.ID), reflect.ValueOf("runscript x.py")})
		err, _ := out[len(out)-1].Interface().(error)
		if !errors.Is(err, chimerax.ErrRefused) {
			t.Errorf("%s(ctx, id, %q) = %v, want ErrRefused", m.Name, "runscript x.py", err)
		}
	}
	if checked == 0 {
		t.Fatal("found no method that sends a line; Command should be one")
	}
}

func TestCommandRelaysResults(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil)
	rec := mustCreate(t, sv, "1hpv.pdb")

	res, err := sv.Command(ctx, rec.ID, "color red; info models")
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || !strings.Contains(notes(res), "model id #1") || len(res.JSONValues) != 2 {
		t.Errorf(`Command("color red; info models") = %+v, want ok, a note naming #1 and two json values`, res)
	}

	// A ChimeraX error is a result, not an error, and names no server path.
	res, err = sv.Command(ctx, rec.ID, "open nothere.pdb")
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || res.Error == nil || res.Error.Type != "UserError" || !strings.Contains(res.Error.Message, "No such file/path: nothere.pdb") {
		t.Errorf("Command(open missing file) = %+v, want UserError No such file/path: nothere.pdb", res.Error)
	}
	if strings.Contains(res.Error.Message, sv.Config().DataDir) {
		t.Errorf("error %q shows the data directory", res.Error.Message)
	}

	// Refused: nothing runs.
	for _, line := range []string{"runscript /tmp/x.py", "view; runs x.py", "open http://127.0.0.1:9/x.pdb", "save /tmp/x.png"} {
		if _, err := sv.Command(ctx, rec.ID, line); !errors.Is(err, chimerax.ErrRefused) {
			t.Errorf("Command(%q) = %v, want ErrRefused", line, err)
		}
	}
	for _, line := range []string{"", " ; ", "# only a comment"} {
		if _, err := sv.Command(ctx, rec.ID, line); !errors.Is(err, chimerax.ErrInvalid) {
			t.Errorf("Command(%q) = %v, want ErrInvalid", line, err)
		}
	}
	for _, id := range []string{"../../etc", "00000000-0000-4000-8000-000000000000"} {
		if _, err := sv.Command(ctx, id, "view"); !errors.Is(err, chimerax.ErrNotFound) {
			t.Errorf("Command(%s) = %v, want ErrNotFound", id, err)
		}
	}
	sv.Stop(ctx, rec.ID, store.ReasonDeleted)
	if _, err := sv.Command(ctx, rec.ID, "view"); !errors.Is(err, chimerax.ErrNotLive) {
		t.Errorf("Command on an ended session = %v, want ErrNotLive", err)
	}
}

func TestCommandTimeout(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.CommandTimeout = 300 * time.Millisecond
		c.StopGrace = 300 * time.Millisecond
	},
		"CHIMERAX_SIM_HANG_ON=turn")
	rec := mustCreate(t, sv, "")
	_, err := sv.Command(ctx, rec.ID, "turn y 30")
	if !errors.Is(err, chimerax.ErrCommandTimeout) || !strings.Contains(err.Error(), "still busy") {
		t.Fatalf("Command(hanging) = %v, want ErrCommandTimeout saying ChimeraX is still busy", err)
	}
	if got, _ := sv.Session(ctx, rec.ID); got.State != store.StateReady {
		t.Errorf("after a timeout the session is %s, want ready", got.State)
	}
}

func TestSnapshot(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil)
	rec := mustCreate(t, sv, "1hpv.pdb")

	f, err := sv.Snapshot(ctx, rec.ID, 320, 200)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(f)
	f.Close()
	if err != nil || cfg.Width != 320 || cfg.Height != 200 {
		t.Errorf("Snapshot(320, 200) = %dx%d, %v; want a 320x200 PNG", cfg.Width, cfg.Height, err)
	}
	left, _ := filepath.Glob(filepath.Join(rec.Process.Dir, "snapshot-*"))
	if len(left) != 0 {
		t.Errorf("snapshot files left in the session directory: %v", left)
	}
	for _, size := range [][2]int{{0, 100}, {100, 0}, {4097, 100}, {100, 5000}, {-1, -1}} {
		if _, err := sv.Snapshot(ctx, rec.ID, size[0], size[1]); !errors.Is(err, chimerax.ErrInvalid) {
			t.Errorf("Snapshot(%d, %d) = %v, want ErrInvalid", size[0], size[1], err)
		}
	}
}

func TestAddFile(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil)
	rec := mustCreate(t, sv, "1hpv.pdb")

	st, res, err := sv.AddFile(ctx, rec.ID, mustUpload(t, "3al1.cif"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Filename != "3al1.cif" || st.Format != "mmcif" || !res.OK() {
		t.Errorf("AddFile = %+v, %+v", st, res)
	}
	res, err = sv.Command(ctx, rec.ID, "info models")
	if err != nil || !strings.Contains(notes(res), "#2") {
		t.Errorf("after AddFile, info models = %v %v, want model #2", res, err)
	}
}

func TestEvents(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, nil)
	rec := mustCreate(t, sv, "1hpv.pdb")

	events, cancel, err := sv.Events(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	if _, err := sv.Command(ctx, rec.ID, "view"); err != nil {
		t.Fatal(err)
	}
	if _, err := sv.Checkpoint(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sv.Stop(ctx, rec.ID, store.ReasonDeleted); err != nil {
		t.Fatal(err)
	}
	var got []string
	for ev := range events { // closed after the final state
		if ev.SessionID != rec.ID || ev.Time.IsZero() {
			t.Errorf("event %+v: want session %s and a time", ev, rec.ID)
		}
		switch ev.Type {
		case chimerax.EventExecutionState: // TestExecutionState
			continue
		case chimerax.EventCommand:
			got = append(got, "command "+ev.Command.Command)
		case chimerax.EventState:
			got = append(got, "state "+string(ev.State)+" "+string(ev.Reason))
		default:
			got = append(got, ev.Type)
		}
	}
	want := []string{"command view", "checkpoint", "state stopping ", "state terminated deleted"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events = %q, want %q", got, want)
	}
	if _, _, err := sv.Events(ctx, rec.ID); !errors.Is(err, chimerax.ErrNotLive) {
		t.Errorf("Events(ended) = %v, want ErrNotLive", err)
	}
}

func TestIdleWarningOncePerStretch(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.IdleTimeout = 10 * time.Minute
		c.IdleWarning = 2 * time.Minute
		c.SweepInterval = 0 // no sweeper: the test sweeps by hand, on its own clock
	})
	clk := chimeraxtest.NewClock()
	sv.SetClock(clk.Now)
	rec := mustCreate(t, sv, "")
	events, cancel, err := sv.Events(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	warnings := func() (n int) {
		for {
			select {
			case ev := <-events:
				if ev.Type == chimerax.EventIdleWarning {
					n++
					if now := clk.Now(); !ev.IdleExpiresAt.After(now) || ev.IdleExpiresAt.After(now.Add(2*time.Minute)) {
						t.Errorf("idle_warning expires %v, want within 2m after %v", ev.IdleExpiresAt, clk.Now())
					}
				}
			default:
				return n
			}
		}
	}

	clk.Advance(7 * time.Minute)
	sv.Sweep()
	if n := warnings(); n != 0 {
		t.Errorf("3 minutes before the end: %d warnings, want 0", n)
	}
	clk.Advance(90 * time.Second)
	sv.Sweep()
	sv.Sweep()
	if n := warnings(); n != 1 {
		t.Errorf("90 s before the end, swept twice: %d warnings, want 1", n)
	}
	if _, err := sv.Touch(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(9 * time.Minute)
	sv.Sweep()
	if n := warnings(); n != 1 {
		t.Errorf("a new idle stretch: %d warnings, want 1", n)
	}
}

func TestCheckpointIdleEndResume(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.IdleTimeout = time.Hour
		c.SweepInterval = 0 // no sweeper: the test sweeps by hand, on its own clock
	})
	clk := chimeraxtest.NewClock()
	sv.SetClock(clk.Now)
	rec := mustCreate(t, sv, "1hpv.pdb")

	clk.Advance(61 * time.Minute)
	if swept := sv.Sweep(); len(swept) != 1 {
		t.Fatalf("Sweep = %v, want %s", swept, rec.ID)
	}
	var ended chimerax.Info
	chimeraxtest.WaitFor(t, 10*time.Second, "idle session ended", func() bool {
		ended, _ = sv.Session(ctx, rec.ID)
		return ended.State == store.StateTerminated
	})
	cp := ended.Checkpoint
	if ended.TerminationReason != store.ReasonIdleTimeout || cp == nil || cp.SizeBytes == 0 {
		t.Fatalf("ended = %s %s checkpoint %+v, want idle_timeout with a checkpoint", ended.State, ended.TerminationReason, cp)
	}
	if fi, err := os.Stat(cp.Path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("checkpoint file: %v, want mode 0600", err)
	}
	if fi, err := os.Stat(filepath.Dir(cp.Path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("checkpoint dir mode = %v %v, want 0700", fi.Mode().Perm(), err)
	}

	// Resume: the same owner gets the model back.
	resumed, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", ResumeFrom: rec.ID, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if resumed.ResumedFrom != rec.ID || resumed.Structure.Source != store.SourceCheckpoint || resumed.State != store.StateReady {
		t.Errorf("resumed = %+v", resumed)
	}
	res, err := sv.Command(ctx, resumed.ID, "info models")
	if err != nil || !strings.Contains(notes(res), "model id #1 type AtomicStructure name 1hpv.pdb") {
		t.Errorf("resumed info models = %v, %v; want the uploaded model back as #1, named as the client named the file", res, err)
	}

	for _, tc := range []struct {
		name string
		req  chimerax.CreateRequest
		want error
	}{
		{"another owner", chimerax.CreateRequest{Owner: "bob", ResumeFrom: rec.ID}, chimerax.ErrNotFound},
		{"missing", chimerax.CreateRequest{Owner: "alice", ResumeFrom: "00000000-0000-4000-8000-000000000000"}, chimerax.ErrNotFound},
		{"not an id", chimerax.CreateRequest{Owner: "alice", ResumeFrom: "../x"}, chimerax.ErrNotFound},
		{"live", chimerax.CreateRequest{Owner: "alice", ResumeFrom: resumed.ID}, chimerax.ErrSessionLive},
		{"with a pdb id", chimerax.CreateRequest{Owner: "alice", ResumeFrom: rec.ID, PDBID: "1hpv"}, chimerax.ErrInvalid},
	} {
		if _, err := sv.Create(ctx, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: Create = %v, want %v", tc.name, err, tc.want)
		}
	}
	plain := mustCreate(t, sv, "")
	sv.Stop(ctx, plain.ID, store.ReasonDeleted)
	if _, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", ResumeFrom: plain.ID}); !errors.Is(err, chimerax.ErrNoCheckpoint) {
		t.Errorf("resume without checkpoint = %v, want ErrNoCheckpoint", err)
	}
}

func TestCheckpointRetention(t *testing.T) {
	ctx := context.Background()
	sv, _ := chimeraxtest.MustStartSupervisor(t, func(c *chimerax.Config) {
		c.CheckpointRetention = 24 * time.Hour
		c.SweepInterval = 0 // no sweeper: the test sweeps by hand, on its own clock
	})
	clk := chimeraxtest.NewClock()
	sv.SetClock(clk.Now)
	old, kept := mustCreate(t, sv, "1hpv.pdb"), mustCreate(t, sv, "1hpv.pdb")
	var paths []string
	for range 5 { // a session keeps its 3 newest
		clk.Advance(time.Second)
		cp, err := sv.Checkpoint(ctx, kept.ID)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, cp.Path)
	}
	if files, _ := filepath.Glob(filepath.Join(filepath.Dir(paths[0]), "*.cxs")); len(files) != 3 || files[2] != paths[4] {
		t.Errorf("checkpoints kept = %v, want the 3 newest", files)
	}
	cp, err := sv.Checkpoint(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	sv.Stop(ctx, old.ID, store.ReasonDeleted)
	long := time.Now().Add(-48 * time.Hour)
	for _, p := range []string{cp.Path, paths[4]} {
		os.Chtimes(p, long, long)
	}

	sv.Sweep()
	if _, err := os.Stat(filepath.Dir(cp.Path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an ended session's expired checkpoints: %v, want removed", err)
	}
	if _, err := os.Stat(paths[4]); err != nil {
		t.Errorf("a live session's checkpoint: %v, want kept", err)
	}
	if _, err := sv.Create(ctx, chimerax.CreateRequest{Owner: "alice", ResumeFrom: old.ID}); !errors.Is(err, chimerax.ErrNoCheckpoint) {
		t.Errorf("resume from an expired checkpoint = %v, want ErrNoCheckpoint", err)
	}
}
