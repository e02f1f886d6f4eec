//go:build linux

package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/server"
	"github.com/chimerad/chimerad/store"
)

// onTime is how late after its due time an end or a warning may come.
const onTime = time.Second

// createIdle creates an empty session of token's user with its own idle
// timeout and waits until it is ready.
func (d *daemon) createIdle(tb testing.TB, token string, idle time.Duration) server.SessionView {
	tb.Helper()
	resp, body := d.call(tb, "POST", "/api/sessions", token, map[string]any{"idle_timeout_seconds": int(idle / time.Second)})
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	return decode[server.SessionView](tb, body)
}

// get reads a session as token's user.
func (d *daemon) get(tb testing.TB, token, id string) server.SessionView {
	tb.Helper()
	resp, body := d.call(tb, "GET", "/api/sessions/"+id, token, nil)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("get %s = %d %s", id, resp.StatusCode, body)
	}
	return decode[server.SessionView](tb, body)
}

// waitEnded polls a session every 100 ms, as a frontend shows its status,
// until it has ended, and returns it.
func (d *daemon) waitEnded(tb testing.TB, token, id string, within time.Duration) server.SessionView {
	tb.Helper()
	var s server.SessionView
	chimeraxtest.WaitFor(tb, within, "session "+id+" ended", func() bool {
		s = d.get(tb, token, id)
		d.call(tb, "GET", "/api/sessions", token, nil) // a list is a read too
		time.Sleep(100 * time.Millisecond)
		return !s.State.Live()
	})
	return s
}

// checkOnTime fails the test unless at is within onTime after due.
func checkOnTime(tb testing.TB, what string, at, due time.Time) {
	tb.Helper()
	if late := at.Sub(due); late < -5*time.Millisecond || late > onTime {
		tb.Errorf("%s at %v, due %v: %v late, want within %v", what, at.Format(time.StampMilli), due.Format(time.StampMilli), late, onTime)
	}
}

// TestPollingIsNotActivity: reading a session (one, or a list) is not
// activity, so a frontend that polls does not keep it alive; with the
// default 30 s sweep interval, its idle warning comes min(idle_warning,
// idle_timeout/2) before the end and the end itself within a second of
// its due time.
func TestPollingIsNotActivity(t *testing.T) {
	d := MustServe(t, options{})
	if got := d.SV.Config().SweepInterval; got != 30*time.Second {
		t.Fatalf("sweep interval %v, want the default 30s", got)
	}
	alice := d.mustUser(t, "alice", false)
	s := d.createIdle(t, alice, 2*time.Second)
	stream := mustEvents(t, d.URL+"/api/sessions/"+s.ID+"/events", alice)
	stream.next(t) // ready

	ended := d.waitEnded(t, alice, s.ID, 10*time.Second)
	if ended.State != store.StateTerminated || ended.TerminationReason != store.ReasonIdleTimeout {
		t.Fatalf("polled session = %s/%s, want terminated idle_timeout", ended.State, ended.TerminationReason)
	}
	if !ended.LastActivityAt.Equal(*s.LastActivityAt) {
		t.Errorf("last_activity_at %v after polling, want %v: reads are not activity", ended.LastActivityAt, s.LastActivityAt)
	}
	due := s.LastActivityAt.Add(2 * time.Second)
	checkOnTime(t, "idle end", *ended.TerminatedAt, due)
	warning := stream.next(t)
	if warning.Type != chimerax.EventIdleWarning || !warning.IdleExpiresAt.Truncate(time.Millisecond).Equal(due) {
		t.Fatalf("event = %+v, want idle_warning expiring %v", warning, due)
	}
	checkOnTime(t, "idle warning", warning.Time, due.Add(-time.Second)) // idle_timeout/2 < 2m
}

// TestHeartbeatKeepsAlive: heartbeats are activity; without them the
// session ends its idle timeout after the last one.
func TestHeartbeatKeepsAlive(t *testing.T) {
	d := MustServe(t, options{})
	alice := d.mustUser(t, "alice", false)
	s := d.createIdle(t, alice, 2*time.Second)
	var last time.Time
	for deadline := time.Now().Add(3500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		resp, body := d.call(t, "PUT", "/api/sessions/"+s.ID+"/heartbeat", alice, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("heartbeat = %d %s", resp.StatusCode, body)
		}
		last = decode[struct {
			LastActivityAt time.Time `json:"last_activity_at"`
		}](t, body).LastActivityAt
	}
	if got := d.get(t, alice, s.ID); got.State != store.StateReady {
		t.Fatalf("after 3.5 s of heartbeats, 2 s idle timeout: %s, want ready", got.State)
	}
	ended := d.waitEnded(t, alice, s.ID, 10*time.Second)
	if ended.TerminationReason != store.ReasonIdleTimeout {
		t.Fatalf("ended %s, want idle_timeout", ended.TerminationReason)
	}
	checkOnTime(t, "idle end after the last heartbeat", *ended.TerminatedAt, last.Add(2*time.Second))
}

// TestKeepConnected: an open event stream is not activity, unless
// session.keep_connected: then the session is not idle while the stream
// is open, and its idle clock starts when the stream closes.
func TestKeepConnected(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[keep], func(t *testing.T) {
			d := MustServe(t, options{sv: func(c *chimerax.Config) { c.KeepConnected = keep }})
			alice := d.mustUser(t, "alice", false)
			s := d.createIdle(t, alice, 2*time.Second)
			stream := mustEvents(t, d.URL+"/api/sessions/"+s.ID+"/events", alice)
			stream.next(t) // ready
			if !keep {
				ended := d.waitEnded(t, alice, s.ID, 10*time.Second)
				checkOnTime(t, "idle end with a stream open", *ended.TerminatedAt, s.LastActivityAt.Add(2*time.Second))
				return
			}
			time.Sleep(3 * time.Second)
			got := d.get(t, alice, s.ID)
			if got.State != store.StateReady || got.IdleExpiresAt != nil {
				t.Fatalf("3 s into a 2 s idle timeout with a stream open: %s, idle_expires_at %v; want ready, none", got.State, got.IdleExpiresAt)
			}
			closed := time.Now()
			stream.body.Close()
			ended := d.waitEnded(t, alice, s.ID, 10*time.Second)
			if ended.TerminationReason != store.ReasonIdleTimeout {
				t.Fatalf("ended %s, want idle_timeout", ended.TerminationReason)
			}
			checkOnTime(t, "idle end after the stream closed", *ended.TerminatedAt, closed.Add(2*time.Second))
		})
	}
}

// TestExecutionState: while a command runs the session shows busy and
// since when, and is not idle; events say when it goes busy and idle.
func TestExecutionState(t *testing.T) {
	d := MustServe(t, options{knobs: []string{"CHIMERAX_SIM_BURN_ON=measure"}})
	alice := d.mustUser(t, "alice", false)
	s := d.mustSession(t, alice, "1hpv.pdb")
	if s.ExecutionState != chimerax.ExecutionIdle || s.BusySince != nil {
		t.Errorf("new session: execution_state %q busy_since %v, want idle, none", s.ExecutionState, s.BusySince)
	}
	stream := mustEvents(t, d.URL+"/api/sessions/"+s.ID+"/events", alice)
	stream.nextAny(t) // ready
	var wg sync.WaitGroup
	wg.Go(func() { d.command(t, alice, s.ID, "measure center #1") }) // a second of CPU
	var busy server.SessionView
	chimeraxtest.WaitFor(t, 5*time.Second, "busy", func() bool {
		busy = d.get(t, alice, s.ID)
		return busy.ExecutionState == chimerax.ExecutionBusy
	})
	if busy.BusySince == nil || busy.IdleExpiresAt != nil {
		t.Errorf("busy: busy_since %v idle_expires_at %v, want set, none", busy.BusySince, busy.IdleExpiresAt)
	}
	wg.Wait()
	if got := d.get(t, alice, s.ID); got.ExecutionState != chimerax.ExecutionIdle || got.BusySince != nil || got.IdleExpiresAt == nil {
		t.Errorf("after the command: %q busy_since %v idle_expires_at %v, want idle", got.ExecutionState, got.BusySince, got.IdleExpiresAt)
	}
	var seen []string
	for len(seen) < 3 {
		ev := stream.nextAny(t)
		seen = append(seen, ev.Type+" "+ev.ExecutionState)
		if ev.Type == chimerax.EventExecutionState && ev.ExecutionState == chimerax.ExecutionBusy && !ev.BusySince.Truncate(time.Millisecond).Equal(*busy.BusySince) {
			t.Errorf("busy event since %v, want %v", ev.BusySince, busy.BusySince)
		}
	}
	if want := "execution_state busy|execution_state idle|command "; joined(seen) != want {
		t.Errorf("events = %q, want %q", joined(seen), want)
	}
}

func joined(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "|"
		}
		out += x
	}
	return out
}

// TestEndsOnTime: lifetime and busy ends come within a second of their
// due time with the default sweep interval too.
func TestEndsOnTime(t *testing.T) {
	t.Run("max_lifetime", func(t *testing.T) {
		d := MustServe(t, options{sv: func(c *chimerax.Config) { c.MaxLifetime = 2 * time.Second }})
		alice := d.mustUser(t, "alice", false)
		s := d.mustSession(t, alice, "")
		if s.MaxLifetimeExpiresAt == nil || !s.MaxLifetimeExpiresAt.Equal(s.CreatedAt.Add(2*time.Second)) {
			t.Fatalf("max_lifetime_expires_at %v, want created_at + 2s", s.MaxLifetimeExpiresAt)
		}
		// Heartbeats do not hold off the lifetime end.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
					d.call(t, "PUT", "/api/sessions/"+s.ID+"/heartbeat", alice, nil)
				}
			}
		})
		ended := d.waitEnded(t, alice, s.ID, 10*time.Second)
		close(stop)
		wg.Wait()
		if ended.TerminationReason != store.ReasonMaxLifetime {
			t.Fatalf("ended %s, want max_lifetime", ended.TerminationReason)
		}
		checkOnTime(t, "lifetime end", *ended.TerminatedAt, *s.MaxLifetimeExpiresAt)
	})
	t.Run("busy_timeout", func(t *testing.T) {
		d := MustServe(t, options{
			sv:    func(c *chimerax.Config) { c.BusyTimeout = time.Second },
			knobs: []string{"CHIMERAX_SIM_HANG_ON=turn"},
		})
		alice := d.mustUser(t, "alice", false)
		s := d.createIdle(t, alice, 2*time.Second)
		var wg sync.WaitGroup
		wg.Go(func() { d.command(t, alice, s.ID, "turn y 10") }) // never answers
		var busy server.SessionView
		chimeraxtest.WaitFor(t, 5*time.Second, "busy", func() bool {
			busy = d.get(t, alice, s.ID)
			return busy.ExecutionState == chimerax.ExecutionBusy
		})
		ended := d.waitEnded(t, alice, s.ID, 10*time.Second)
		if ended.TerminationReason != store.ReasonIdleTimeout {
			t.Fatalf("ended %s, want idle_timeout", ended.TerminationReason)
		}
		// Idle from the command's start (its activity), busy for at most 1 s.
		due := busy.BusySince.Add(2 * time.Second)
		checkOnTime(t, "end of a session hung past busy_timeout", *ended.TerminatedAt, due)
		wg.Wait() // the hung request ends with the session
	})
}

// TestHangUpDuringCreate: a client that hangs up while its create waits
// for the session leaves no session behind: it ends client_gone and frees
// its place. 20 hang-ups against a per-user cap of 4, then a create.
func TestHangUpDuringCreate(t *testing.T) {
	d := MustServe(t, options{
		sv:    func(c *chimerax.Config) { c.MaxSessionsPerUser = 4 },
		knobs: []string{"CHIMERAX_SIM_START_DELAY=300ms"},
	})
	alice := d.mustUser(t, "alice", false)
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, "POST", d.URL+"/api/sessions", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("create answered %d within 100 ms; the start should take 300 ms", resp.StatusCode)
			}
			// On a loaded machine the hang-ups before may still hold
			// alice's four places: they must free them.
			chimeraxtest.WaitFor(t, 20*time.Second, "alice's places freed", func() bool {
				_, body := d.call(t, "GET", "/api/sessions?state=live", alice, nil)
				return len(decode[struct{ Sessions []server.SessionView }](t, body).Sessions) < 4
			})
		}
		cancel()
	}
	// Every create the server saw ends client_gone: a hang-up that came
	// before the request reached it (a loaded machine) leaves no record.
	var list struct{ Sessions []server.SessionView }
	chimeraxtest.WaitFor(t, 20*time.Second, "every abandoned create ended client_gone", func() bool {
		_, body := d.call(t, "GET", "/api/sessions", alice, nil)
		list = decode[struct{ Sessions []server.SessionView }](t, body)
		for _, s := range list.Sessions {
			if s.TerminationReason != store.ReasonClientGone {
				return false
			}
		}
		return len(list.Sessions) > 0
	})
	t.Logf("%d of 20 abandoned creates reached the server; all ended client_gone", len(list.Sessions))
	if kids := chimeraxtest.Children(d.Dir); len(kids) != 0 {
		t.Errorf("children of abandoned creates: %v", kids)
	}
	if resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{}); resp.StatusCode != http.StatusCreated {
		t.Errorf("create after 20 hang-ups = %d %s, want 201", resp.StatusCode, body)
	}
}

// TestRestart: POST .../restart replaces a session's ChimeraX under the
// same id: it reopens the original structure, or the latest checkpoint if
// there is one; it ends a runaway command (which a ChimeraX command cannot
// interrupt); the session counts its restarts and says starting, then
// ready. Only the owner or an admin may, and only a ready session.
func TestRestart(t *testing.T) {
	d := MustServe(t, options{knobs: []string{"CHIMERAX_SIM_HANG_ON=turn"}})
	alice, bob := d.mustUser(t, "alice", false), d.mustUser(t, "bob", false)
	admin := d.mustUser(t, "root", true)
	s := d.mustSession(t, alice, "1hpv.pdb")
	pid := func() int {
		_, body := d.call(t, "GET", "/api/sessions/"+s.ID, admin, nil)
		return decode[server.SessionView](t, body).Process.PID
	}
	models := func() string {
		resp, body := d.command(t, alice, s.ID, "info models")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("info models = %d %s", resp.StatusCode, body)
		}
		return string(body)
	}
	if resp, _ := d.call(t, "POST", "/api/sessions/"+s.ID+"/restart", bob, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob's restart of alice's session = %d, want 404", resp.StatusCode)
	}
	stream := mustEvents(t, d.URL+"/api/sessions/"+s.ID+"/events", alice)
	stream.next(t) // ready

	// A command that never answers; the restart is the way out.
	hung := make(chan int, 1)
	go func() {
		resp, _ := d.command(t, alice, s.ID, "turn y 10")
		hung <- resp.StatusCode
	}()
	chimeraxtest.WaitFor(t, 5*time.Second, "busy", func() bool { return d.get(t, alice, s.ID).ExecutionState == chimerax.ExecutionBusy })
	before := pid()
	resp, body := d.call(t, "POST", "/api/sessions/"+s.ID+"/restart", alice, nil)
	got := decode[server.SessionView](t, body)
	if resp.StatusCode != http.StatusOK || got.ID != s.ID || got.State != "ready" || got.Restarts != 1 || got.ExecutionState != chimerax.ExecutionIdle {
		t.Fatalf("restart = %d %s, want 200, ready, the same id, 1 restart", resp.StatusCode, body)
	}
	select {
	case code := <-hung:
		if code < 500 {
			t.Errorf("the runaway command answered %d, want a 5xx once its ChimeraX was replaced", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the runaway command still hangs after the restart")
	}
	if after := pid(); after == before || after == 0 {
		t.Errorf("pid after restart %d, before %d: want a new ChimeraX", after, before)
	}
	if out := models(); !strings.Contains(out, "#1") || strings.Contains(out, "#2") {
		t.Errorf("after a restart without checkpoint, models = %s, want the original structure alone", out)
	}
	for _, want := range []store.State{store.StateStarting, store.StateReady} {
		if ev := stream.next(t); ev.Type != chimerax.EventState || ev.State != want {
			t.Errorf("event %+v, want state %s", ev, want)
		}
	}

	// With a checkpoint, the restart reopens it: a second model stays.
	if resp, body := d.addFile(t, alice, s.ID, "pept.pdb", mustRead(t, "pept.pdb"), nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("add file = %d %s", resp.StatusCode, body)
	}
	if resp, body := d.call(t, "POST", "/api/sessions/"+s.ID+"/checkpoint", alice, nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("checkpoint = %d %s", resp.StatusCode, body)
	}
	resp, body = d.call(t, "POST", "/api/sessions/"+s.ID+"/restart", admin, nil)
	if got := decode[server.SessionView](t, body); resp.StatusCode != http.StatusOK || got.Restarts != 2 {
		t.Fatalf("admin's restart = %d %s, want 200, 2 restarts", resp.StatusCode, body)
	}
	if out := models(); !strings.Contains(out, "#2") {
		t.Errorf("after a restart from a checkpoint, models = %s, want #1 and #2", out)
	}

	d.call(t, "DELETE", "/api/sessions/"+s.ID, alice, nil)
	if resp, body := d.call(t, "POST", "/api/sessions/"+s.ID+"/restart", alice, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("restart of an ended session = %d %s, want 409", resp.StatusCode, body)
	}
}
