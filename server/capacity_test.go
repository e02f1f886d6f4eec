//go:build linux

package server_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/server"
)

// createAsync starts a create of token's user; its answer comes on the
// channel. ctx may hang it up.
func (d *daemon) createAsync(ctx context.Context, token string) <-chan *http.Response {
	out := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", d.URL+"/api/sessions", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- nil
			return
		}
		resp.Body.Close()
		out <- resp
	}()
	return out
}

// status reads GET /api/status as token's user.
func (d *daemon) status(tb testing.TB, token string) chimerax.Status {
	tb.Helper()
	resp, body := d.call(tb, "GET", "/api/status", token, nil)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("status = %d %s", resp.StatusCode, body)
	}
	return decode[chimerax.Status](tb, body)
}

// waitQueued waits until n creates are queued.
func (d *daemon) waitQueued(tb testing.TB, token string, n int) {
	tb.Helper()
	chimeraxtest.WaitFor(tb, 10*time.Second, strconv.Itoa(n)+" queued", func() bool { return d.status(tb, token).Queued == n })
}

// TestQueueAtCapacity: at limits.max_sessions a create waits in a FIFO
// queue; a full queue answers 429 at once with a Retry-After from the live
// sessions' deadlines, a wait past queue_timeout likewise; a client that
// hangs up leaves the queue at once; the per-user cap never queues and
// gives no Retry-After. /api/status and /metrics count the queue.
func TestQueueAtCapacity(t *testing.T) {
	d := MustServe(t, options{sv: func(c *chimerax.Config) {
		c.MaxSessions, c.MaxSessionsPerUser = 2, 2
		c.QueueSize, c.QueueTimeout = 2, 3*time.Second
	}})
	alice, bob, carol, dave := d.mustUser(t, "alice", false), d.mustUser(t, "bob", false), d.mustUser(t, "carol", false), d.mustUser(t, "dave", false)
	first := d.createIdle(t, alice, 20*time.Second)
	d.createIdle(t, alice, 30*time.Second)
	if st := d.status(t, bob); st.MaxSessions != 2 || st.Live != 2 || st.Queued != 0 || st.User.MaxSessions != 2 || st.User.Live != 0 {
		t.Errorf("status at the cap, as bob = %+v", st)
	}
	if st := d.status(t, alice); st.User.Live != 2 {
		t.Errorf("status as alice = %+v, want 2 live of hers", st)
	}

	// The per-user cap: 429 at once, and no Retry-After.
	resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "" || !strings.Contains(string(body), "max_sessions_per_user") {
		t.Errorf("alice over her cap = %d Retry-After %q %s, want 429 without Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}

	bobs := d.createAsync(context.Background(), bob)
	d.waitQueued(t, bob, 1)
	carols := d.createAsync(context.Background(), carol)
	d.waitQueued(t, bob, 2)
	// Full: dave is third in a queue of two; the places come free, if
	// nothing happens first, at alice's idle ends in 20 s and 30 s.
	resp, body = d.call(t, "POST", "/api/sessions", dave, map[string]any{})
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "queue is full") || ra != 0 {
		t.Errorf("create with the queue full = %d Retry-After %q %s, want 429 queue full; no estimate for a third place", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}

	// FIFO: the first place that frees goes to bob, not carol.
	d.call(t, "DELETE", "/api/sessions/"+first.ID, alice, nil)
	select {
	case r := <-bobs:
		if r == nil || r.StatusCode != http.StatusCreated {
			t.Fatalf("bob's queued create = %v, want 201", r)
		}
	case r := <-carols:
		t.Fatalf("carol's create came first (%v): not FIFO", r)
	case <-time.After(10 * time.Second):
		t.Fatal("bob's queued create did not get the freed place")
	}

	// Carol waits past queue_timeout: 429, retry when alice's second ends.
	r := <-carols
	if r == nil || r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("carol's create after queue_timeout = %v, want 429", r)
	}
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 20 || ra > 30 {
		t.Errorf("Retry-After after a timeout = %q, want alice's idle end (about 27 s)", r.Header.Get("Retry-After"))
	}

	// A client that hangs up leaves the queue at once.
	ctx, cancel := context.WithCancel(context.Background())
	gone := d.createAsync(ctx, dave)
	d.waitQueued(t, bob, 1)
	cancel()
	<-gone
	d.waitQueued(t, bob, 0)

	mfs := d.scrape(t, "")
	for outcome, want := range map[string]float64{"granted": 1, "timeout": 1, "gone": 1, "full": 1} {
		if got, _ := value(mfs, "chimerad_queue_wait_seconds", "outcome", outcome); got != want {
			t.Errorf("chimerad_queue_wait_seconds{outcome=%q} count = %v, want %v", outcome, got, want)
		}
	}
	if got, ok := value(mfs, "chimerad_queue_length"); !ok || got != 0 {
		t.Errorf("chimerad_queue_length = %v %v, want 0", got, ok)
	}
}

// TestPoolNeverWastesASlot: 50 concurrent creates against max_sessions 10
// with a warm pool of 3 fill exactly 10 places (no queue): pool children,
// ready or starting, give their places to creates.
func TestPoolNeverWastesASlot(t *testing.T) {
	d := MustServe(t, options{sv: func(c *chimerax.Config) {
		c.MaxSessions, c.MaxSessionsPerUser, c.PoolSize, c.QueueSize = 10, 0, 3, 0
	}})
	token := d.mustUser(t, "alice", false)
	chimeraxtest.WaitFor(t, 20*time.Second, "the pool ready", func() bool { return d.status(t, token).Pool.Ready == 3 })
	var created, refused atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			switch r := <-d.createAsync(context.Background(), token); {
			case r == nil:
			case r.StatusCode == http.StatusCreated:
				created.Add(1)
			case r.StatusCode == http.StatusTooManyRequests:
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if created.Load() != 10 || refused.Load() != 40 {
		t.Errorf("50 creates against a cap of 10 with a pool of 3: %d created, %d refused; want 10 and 40", created.Load(), refused.Load())
	}
	st := d.status(t, token)
	if st.Live != 10 || st.Pool.Ready != 0 {
		t.Errorf("status after the burst = %+v, want 10 live and no pool child (no room)", st)
	}
	_, body := d.call(t, "GET", "/api/sessions?state=ready", token, nil)
	if n := len(decode[struct{ Sessions []server.SessionView }](t, body).Sessions); n != 10 {
		t.Errorf("%d ready sessions, want 10", n)
	}
}
