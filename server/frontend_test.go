//go:build linux

package server_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chimerad/chimerad/server"
)

// frontendPage is a web frontend as a developer would write one, served
// from another origin than the API: it creates a session with fetch (an
// upload), shows its snapshot through a signed URL in an <img>, follows
// its events with a plain EventSource, and downloads a file the session
// saved. What it sees goes into window.seen, which the test reads.
const frontendPage = `<!doctype html>
<html><head><title>frontend</title></head><body>
<img id="snap" alt="snapshot">
<script src="/app.js"></script>
</body></html>`

const frontendScript = `
const q = new URLSearchParams(location.search);
const api = q.get("api"), auth = {Authorization: "Bearer " + q.get("token")};
window.seen = {events: [], errors: []};
const seen = window.seen;
async function call(method, path, body) {
  const opts = {method, headers: {...auth}};
  if (body instanceof FormData) opts.body = body;
  else if (body) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const r = await fetch(api + path, opts);
  const text = await r.text();
  if (!r.ok) throw new Error(method + " " + path + ": " + r.status + " " + text);
  return text ? JSON.parse(text) : null;
}
window.run = (line) => call("POST", "/api/sessions/" + seen.id + "/commands", {command: line});
(async () => {
  try {
    const pdb = await (await fetch("/pept.pdb")).blob();
    const form = new FormData();
    form.append("name", "from a page");
    form.append("file", pdb, "pept.pdb");
    const s = await call("POST", "/api/sessions", form);
    seen.id = s.id;
    const urls = await call("POST", "/api/sessions/" + s.id + "/urls");
    seen.urls = urls;
    const img = document.getElementById("snap");
    img.onload = () => { seen.snapshot = {width: img.naturalWidth, height: img.naturalHeight}; };
    img.onerror = () => seen.errors.push("img");
    img.src = api + urls.snapshot + "&width=320&height=240";
    const es = new EventSource(api + urls.events);
    seen.opens = 0;
    es.onopen = () => seen.opens++;
    for (const type of ["state", "command", "execution_state", "checkpoint", "reset"]) {
      es.addEventListener(type, (e) => {
        const d = JSON.parse(e.data);
        seen.events.push({id: e.lastEventId, type, command: d.command ? d.command.command : ""});
      });
    }
    seen.ready = true;
  } catch (e) { seen.errors.push(String(e)); }
})();
window.download = async (name) => {
  try {
    const list = await call("GET", "/api/sessions/" + seen.id + "/files");
    const f = list.files.find((f) => f.name === name);
    const r = await fetch(api + f.url);
    const bytes = new Uint8Array(await r.arrayBuffer());
    seen.download = {status: r.status, type: r.headers.get("Content-Type"),
      disposition: r.headers.get("Content-Disposition"), size: bytes.length,
      png: bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47};
  } catch (e) { seen.errors.push(String(e)); }
};
`

// proxy forwards TCP connections to target and can cut them all, as a
// network blip would.
type proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	target string
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

// cut closes every connection through the proxy.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestFrontendInChromium: a page on another origin, in a real headless
// Chromium, creates a session with fetch, shows its snapshot through a
// signed URL in an <img>, follows its events with a plain EventSource
// across a forced reconnect (its connection cut while commands run)
// without losing an event, and downloads a file the session saved.
func TestFrontendInChromium(t *testing.T) {
	ctx := mustBrowser(t)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, frontendPage)
		case "/app.js":
			w.Header().Set("Content-Type", "text/javascript")
			io.WriteString(w, frontendScript)
		case "/pept.pdb":
			w.Write(mustRead(t, "pept.pdb"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer page.Close()
	d := MustServe(t, options{server: func(c *server.Config) {
		c.AllowedOrigins = []string{page.URL}
		c.EventsHeartbeat = time.Second
	}})
	alice := d.mustUser(t, "alice", false)
	apiURL, _ := url.Parse(d.URL)
	px := newProxy(t, apiURL.Host) // the page reaches the API through it

	var seen struct {
		Ready    bool
		ID       string
		Errors   []string
		Opens    int
		Snapshot *struct{ Width, Height int }
		Events   []struct{ ID, Type, Command string }
		Download *struct {
			Status            int
			Type, Disposition string
			Size              int
			PNG               bool
		}
	}
	read := func() {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.seen || {})`))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal([]byte(s), &seen)
		if len(seen.Errors) > 0 {
			t.Fatalf("the page failed: %v", seen.Errors)
		}
	}
	waitPage := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for read(); !cond(); read() {
			if time.Now().After(deadline) {
				t.Fatalf("the page never saw %s: %+v", what, seen)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	commands := func() []string {
		var out []string
		for _, e := range seen.Events {
			if e.Type == "command" {
				out = append(out, e.Command)
			}
		}
		return out
	}

	q := url.Values{"api": {"http://" + px.ln.Addr().String()}, "token": {alice}}
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL+"/?"+q.Encode())); err != nil {
		t.Fatal(err)
	}
	waitPage("the session and its snapshot", func() bool { return seen.Ready && seen.Snapshot != nil && len(seen.Events) > 0 })
	if seen.Snapshot.Width != 320 || seen.Snapshot.Height != 240 {
		t.Errorf("the <img> showed %dx%d, want 320x240", seen.Snapshot.Width, seen.Snapshot.Height)
	}

	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.run("color red"), undefined`)); err != nil {
		t.Fatal(err)
	}
	waitPage("color red", func() bool { return len(commands()) == 1 })

	// The stream's connection is cut; meanwhile two commands run. The
	// EventSource reconnects with Last-Event-ID and gets both.
	px.cut()
	for _, line := range []string{"color blue", "turn y 30"} {
		if resp, body := d.command(t, alice, seen.ID, line); resp.StatusCode != 200 {
			t.Fatalf("%s = %d %s", line, resp.StatusCode, body)
		}
	}
	waitPage("the commands run while cut off", func() bool { return len(commands()) == 3 })
	if got := strings.Join(commands(), "|"); got != "color red|color blue|turn y 30" {
		t.Errorf("commands the page saw = %q, want color red, color blue, turn y 30", got)
	}
	if seen.Opens < 2 {
		t.Errorf("the EventSource opened %d times, want a reconnect", seen.Opens)
	}
	var last int
	for _, e := range seen.Events {
		if e.Type == "reset" {
			t.Errorf("a reset: the reconnect lost events")
		}
		if e.ID == "" {
			continue // the state a fresh stream starts with
		}
		var n int
		json.Unmarshal([]byte(e.ID), &n)
		if last > 0 && n != last+1 {
			t.Errorf("event ids jump from %d to %d: an event was lost or repeated", last, n)
		}
		last = n
	}

	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.run("save fromthepage.png width 64 height 48"), undefined`)); err != nil {
		t.Fatal(err)
	}
	waitPage("the save", func() bool { return len(commands()) == 4 })
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.download("fromthepage.png"), undefined`)); err != nil {
		t.Fatal(err)
	}
	waitPage("the download", func() bool { return seen.Download != nil })
	if dl := seen.Download; dl.Status != 200 || dl.Type != "image/png" || !dl.PNG || dl.Size == 0 ||
		!strings.Contains(dl.Disposition, "fromthepage.png") {
		t.Errorf("the page's download = %+v, want the PNG with its name", dl)
	}
}
