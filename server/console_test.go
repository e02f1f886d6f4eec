//go:build linux

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/server"
)

// plainClient fetches the console's pages: they are not API, so they are
// not validated against openapi.yaml, and redirects are not followed.
var plainClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestConsoleServed: / leads to /ui; the console's files are served with
// their types and a strict Content-Security-Policy; the page has no
// inline script or handler and names no other origin; every module it
// imports is embedded; a file it does not have is a no_route problem.
func TestConsoleServed(t *testing.T) {
	d := MustServe(t, options{})
	get := func(path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", d.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := plainClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	if resp, _ := get("/"); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui" {
		t.Errorf("GET / = %d Location %q, want 302 to /ui", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := get("/ui")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /ui = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("GET /ui: Content-Security-Policy %q, want default-src 'self' and nothing unsafe", csp)
	}
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("GET /ui: %s %q, want %q", k, got, want)
		}
	}
	if resp, again := get("/ui/"); resp.StatusCode != 200 || !bytes.Equal(again, page) {
		t.Errorf("GET /ui/ = %d, want the page", resp.StatusCode)
	}
	if resp, _ := get("/ui", "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET /ui with its ETag = %d, want 304", resp.StatusCode)
	}
	// The CSP is the console's: the API and /docs answer without it.
	for _, path := range []string{"/healthz", "/docs"} {
		if resp, _ := get(path); resp.Header.Get("Content-Security-Policy") != "" {
			t.Errorf("GET %s has the console's Content-Security-Policy", path)
		}
	}
	resp, body := get("/ui/nothing.js")
	if resp.StatusCode != 404 || !bytes.Contains(body, []byte(`"code":"no_route"`)) {
		t.Errorf("GET /ui/nothing.js = %d %s, want 404 no_route", resp.StatusCode, body)
	}

	// Every file the browser loads: from this origin only, and no inline
	// script for the CSP to refuse.
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=|javascript:`)
	imports := regexp.MustCompile(`(?m)^import .* from "\./([a-z]+\.js)";$`)
	refs := regexp.MustCompile(`(?:src|href)="(/ui/[^"]+)"`)
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".html": "text/html; charset=utf-8"}
	files, err := os.ReadDir("ui")
	if err != nil {
		t.Fatal(err)
	}
	loaded := map[string]bool{}
	for _, m := range refs.FindAllSubmatch(page, -1) {
		loaded[strings.TrimPrefix(string(m[1]), "/ui/")] = true
	}
	for _, f := range files {
		name := f.Name()
		resp, body := get("/ui/" + name)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != types[filepath.Ext(name)] {
			t.Errorf("GET /ui/%s = %d %q, want 200 %q", name, resp.StatusCode, resp.Header.Get("Content-Type"), types[filepath.Ext(name)])
		}
		local, _ := os.ReadFile(filepath.Join("ui", name))
		if !bytes.Equal(body, local) {
			t.Errorf("GET /ui/%s differs from server/ui/%s", name, name)
		}
		if filepath.Ext(name) == ".html" && inline.Match(body) {
			t.Errorf("%s has inline script or an event handler attribute: %q", name, inline.Find(body))
		}
		text := strings.ReplaceAll(string(body), "http://www.w3.org/2000/svg", "") // a namespace, not a place
		if strings.Contains(text, "http://") || strings.Contains(text, "https://") || strings.Contains(text, "//cdn") {
			t.Errorf("%s names another origin", name)
		}
		for _, m := range imports.FindAllStringSubmatch(string(body), -1) {
			loaded[m[1]] = true
			if _, err := os.Stat(filepath.Join("ui", m[1])); err != nil {
				t.Errorf("%s imports %s, which is not in server/ui", name, m[1])
			}
		}
	}
	for _, f := range files {
		if name := f.Name(); name != "index.html" && !loaded[name] {
			t.Errorf("server/ui/%s is embedded but nothing loads it", name)
		}
	}
}

// screenshotDir is where the console tests write their screenshots:
// $CHIMERAD_SCREENSHOTS, or a temporary directory, logged.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("CHIMERAD_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// console drives the console in a real Chromium as a person would: it
// finds what it acts on by role and accessible name (the labels, alt texts
// and button texts Chromium's accessibility tree computes), clicks with
// the mouse and types through the input pipeline.
type console struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	axe   string // axe-core's source, if available
}

func newConsole(t *testing.T, ctx context.Context, base, shots string) *console {
	c := &console{t: t, ctx: ctx, base: base, shots: shots}
	if p := os.Getenv("CHIMERAD_AXE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("CHIMERAD_AXE: %v", err)
		}
		c.axe = string(b)
	}
	return c
}

func (c *console) do(actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, actions...); err != nil {
		c.t.Fatal(err)
	}
}

// eval evaluates JavaScript in the page and decodes its value.
func eval[T any](c *console, js string) T {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, chromedp.Evaluate[T](js, func(p *runtime.EvaluateParams) { p.AwaitPromise = ptr(true) }))
	if err != nil {
		c.t.Fatalf("evaluate %.80s: %v", js, err)
	}
	return v
}

func ptr[T any](v T) *T { return &v }

// axNode is an element found by role and accessible name.
type axNode struct {
	id          cdp.BackendNodeID
	role        string
	name        string
	description string
}

// query finds the elements of role (any, if "") named name (exactly),
// that assistive technology sees: not hidden, not behind a modal dialog.
func (c *console) query(role, name string) []axNode {
	c.t.Helper()
	var out []axNode
	err := chromedp.Do(c.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		doc, err := cdp.Call(ctx, t, runtime.Evaluate, runtime.EvaluateParams{Expression: "document"})
		if err != nil {
			return err
		}
		defer cdp.Call(ctx, t, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: doc.Result.ObjectID})
		// By role only, the name compared here: Chromium's own matching by
		// name misses some elements (a file input) whose name it computes.
		r, err := cdp.Call(ctx, t, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{
			ObjectID: doc.Result.ObjectID, Role: role,
		})
		if err != nil {
			return err
		}
		for _, n := range r.Nodes {
			if n.Ignored || n.BackendDOMNodeID == 0 {
				continue
			}
			var role, nm, desc string
			if n.Role != nil {
				json.Unmarshal(n.Role.Value, &role)
			}
			if n.Name != nil {
				json.Unmarshal(n.Name.Value, &nm)
			}
			if n.Description != nil {
				json.Unmarshal(n.Description.Value, &desc)
			}
			if name == "" || nm == name {
				out = append(out, axNode{n.BackendDOMNodeID, role, nm, desc})
			}
		}
		return nil
	}))
	if err != nil {
		c.t.Fatalf("query %s %q: %v", role, name, err)
	}
	return out
}

// waitFor polls cond every 50 ms for up to 20 s.
func (c *console) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("the console never showed %s; the page says:\n%s", what, c.mainText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// find waits for exactly one element of role named name.
func (c *console) find(role, name string) axNode {
	c.t.Helper()
	var found []axNode
	c.waitFor(fmt.Sprintf("a %s named %q", role, name), func() bool {
		found = c.query(role, name)
		return len(found) > 0
	})
	if len(found) > 1 {
		c.t.Fatalf("%d elements are %s %q: their names should tell them apart: %+v", len(found), role, name, found)
	}
	return found[0]
}

// call calls a JavaScript function on an element and decodes its value.
func call[T any](c *console, n axNode, fn string) T {
	c.t.Helper()
	var v T
	err := chromedp.Do(c.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		obj, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: n.id})
		if err != nil {
			return err
		}
		defer cdp.Call(ctx, t, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: obj.Object.ObjectID})
		r, err := cdp.Call(ctx, t, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
			FunctionDeclaration: fn, ObjectID: obj.Object.ObjectID, ReturnByValue: ptr(true), AwaitPromise: ptr(true),
		})
		if err != nil {
			return err
		}
		if r.ExceptionDetails != nil {
			return fmt.Errorf("%s", r.ExceptionDetails.Text)
		}
		if len(r.Result.Value) > 0 {
			return json.Unmarshal(r.Result.Value, &v)
		}
		return nil
	}))
	if err != nil {
		c.t.Fatalf("call %.60s: %v", fn, err)
	}
	return v
}

// click clicks the middle of the element with the mouse, as a person does.
func (c *console) click(role, name string) {
	c.t.Helper()
	c.clickNode(c.find(role, name))
}

func (c *console) clickNode(n axNode) {
	c.t.Helper()
	c.waitFor("an enabled control", func() bool { return !call[bool](c, n, `function() { return !!this.disabled; }`) })
	c.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{BackendNodeID: n.id}); err != nil {
			return err
		}
		q, err := cdp.Call(ctx, t, dom.GetContentQuads, dom.GetContentQuadsParams{BackendNodeID: n.id})
		if err != nil {
			return err
		}
		if len(q.Quads) == 0 || len(q.Quads[0]) < 8 {
			return fmt.Errorf("the element has no box to click")
		}
		b := q.Quads[0]
		x, y := (b[0]+b[2]+b[4]+b[6])/4, (b[1]+b[3]+b[5]+b[7])/4
		for _, typ := range []input.DispatchMouseEventType{input.DispatchMouseEventTypeMousePressed, input.DispatchMouseEventTypeMouseReleased} {
			if _, err := cdp.Call(ctx, t, input.DispatchMouseEvent, input.DispatchMouseEventParams{
				Type: typ, X: x, Y: y, Button: input.MouseButtonLeft, Buttons: 1, ClickCount: 1,
			}); err != nil {
				return err
			}
		}
		return nil
	}))
}

// fill focuses the field, selects what it holds and types text over it.
func (c *console) fill(role, name, text string) {
	c.t.Helper()
	n := c.find(role, name)
	c.waitFor("an enabled field", func() bool { return !call[bool](c, n, `function() { return !!this.disabled; }`) })
	call[any](c, n, `function() { this.focus(); if (this.select) this.select(); }`)
	c.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	}))
}

// setFile chooses a file in the file field named name.
func (c *console) setFile(name, path string) {
	c.t.Helper()
	n := c.find("button", name) // what Chromium makes of <input type=file>
	c.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: []string{path}, BackendNodeID: n.id})
		return err
	}))
}

// text is what the element shows.
func (c *console) text(role, name string) string {
	c.t.Helper()
	return call[string](c, c.find(role, name), `function() { return this.innerText; }`)
}

// waitText waits until the element of role named name shows want.
func (c *console) waitText(role, name, want string) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("%q in %s %q", want, role, name), func() bool {
		for _, n := range c.query(role, name) {
			if strings.Contains(call[string](c, n, `function() { return this.innerText; }`), want) {
				return true
			}
		}
		return false
	})
}

func (c *console) mainText() string {
	s, _ := chromedp.Run(c.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	return tail(s, 3000)
}

// snapshot is what the <img> named alt shows: its size and the sum of its
// pixels' red, green and blue.
type snapshot struct {
	Width, Height    int
	Red, Green, Blue float64
	Src              string
}

func (c *console) snapshot(alt string) snapshot {
	c.t.Helper()
	n := c.find("image", alt)
	var s snapshot
	c.waitFor("the snapshot rendered", func() bool {
		s = call[snapshot](c, n, `async function() {
			if (!this.complete || !this.naturalWidth) return {};
			try { await this.decode(); } catch { return {}; } // a new src came meanwhile
			const cv = document.createElement("canvas");
			cv.width = this.naturalWidth; cv.height = this.naturalHeight;
			const g = cv.getContext("2d");
			g.drawImage(this, 0, 0);
			const px = g.getImageData(0, 0, cv.width, cv.height).data;
			let r = 0, gr = 0, b = 0;
			for (let i = 0; i < px.length; i += 4) { r += px[i]; gr += px[i+1]; b += px[i+2]; }
			return {Width: cv.width, Height: cv.height, Red: r, Green: gr, Blue: b, Src: this.currentSrc};
		}`)
		return s.Width > 0
	})
	return s
}

// shoot writes full-page screenshots of what is shown at 1440 and 375 px
// wide, checks that nothing scrolls sideways at either, and scans the page
// with axe-core when it is there.
func (c *console) shoot(name string) {
	c.t.Helper()
	for _, w := range []int64{1440, 375} {
		height := int64(900)
		if w == 375 {
			height = 812
		}
		c.do(chromedp.EmulateViewport(w, height))
		c.waitFor("the page laid out", func() bool {
			return eval[bool](c, fmt.Sprintf(`new Promise(r => requestAnimationFrame(() => r(innerWidth === %d)))`, w))
		})
		if over := eval[int](c, `document.documentElement.scrollWidth - innerWidth`); over > 0 {
			c.t.Errorf("%s at %d px: the page is %d px wider than the screen", name, w, over)
		}
		shot, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			c.t.Fatal(err)
		}
		if _, err := png.DecodeConfig(bytes.NewReader(shot)); err != nil {
			c.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(c.shots, fmt.Sprintf("%s-%d.png", name, w)), shot, 0o644); err != nil {
			c.t.Fatal(err)
		}
		c.scan(fmt.Sprintf("%s at %d px", name, w))
	}
	c.do(chromedp.EmulateViewport(1440, 900))
}

// scan runs axe-core over the page: no critical or serious violation.
func (c *console) scan(what string) {
	c.t.Helper()
	if c.axe == "" {
		return
	}
	if !eval[bool](c, `typeof axe === "object"`) {
		c.do(chromedp.Evaluate[chromedp.Void](c.axe + ";undefined"))
	}
	type violation struct {
		ID, Impact, Help string
		Nodes            []struct{ Target []string }
	}
	found := eval[[]violation](c, `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({ID: v.id, Impact: v.impact, Help: v.help, Nodes: v.nodes.map(n => ({Target: n.target.map(String)}))})))`)
	for _, v := range found {
		if v.Impact == "critical" || v.Impact == "serious" {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, strings.Join(n.Target, " "))
			}
			c.t.Errorf("axe: %s: %s (%s) at %s", what, v.ID, v.Impact, strings.Join(where, ", "))
		} else {
			c.t.Logf("axe: %s: %s (%s): %s", what, v.ID, v.Impact, v.Help)
		}
	}
}

// tabTo presses Tab until the control named name has the focus, which
// must show (focus visible).
func (c *console) tabTo(name string) {
	c.t.Helper()
	for range 30 {
		c.do(chromedp.KeyEvent(kb.Tab))
		focused := eval[struct{ Name, Outline string }](c, `(() => {
			const el = document.activeElement;
			return {Name: (el.labels && el.labels[0] ? el.labels[0].textContent : el.textContent).trim(),
				Outline: getComputedStyle(el).outlineStyle};
		})()`)
		if focused.Name == name {
			if focused.Outline == "none" {
				c.t.Errorf("%s has the focus but shows no outline", name)
			}
			return
		}
	}
	c.t.Fatalf("30 Tabs never reached %q", name)
}

// signIn signs in through the sign-in page.
func (c *console) signIn(token string) {
	c.t.Helper()
	c.fill("textbox", "API token", token)
	c.click("button", "Sign in")
	c.find("heading", "My sessions")
}

// TestConsoleInChromium drives the console in Debian's headless Chromium
// through a user's whole flow and an admin's: sign in (a wrong token first),
// create a session from an upload, see its snapshot, change it with a
// command, have a command refused and another fail in ChimeraX, take a
// checkpoint, save and download a file, pick a size, refresh, restart, make
// a second session from a PDB id, end the first (after a confirming
// dialog) and resume it from its checkpoint; then an admin kills another
// user's session and sees the capacity change, adds a user (whose new
// token works) and removes them, and sees the usage chart. It writes
// screenshots of each page at 1440 and 375 px, and scans each with
// axe-core when $CHIMERAD_AXE names axe.min.js.
func TestConsoleInChromium(t *testing.T) {
	ctx := mustBrowser(t)
	d := MustServe(t, options{sv: func(c *chimerax.Config) { c.MaxSessions = 8 }})
	alice := d.mustUser(t, "alice", false)
	root := d.mustUser(t, "root", true)
	bob := d.mustUser(t, "bob", false)
	c := newConsole(t, ctx, d.URL, screenshotDir(t))
	if c.axe == "" {
		t.Log("CHIMERAD_AXE does not name axe-core's axe.min.js: no accessibility scan (npm install axe-core)")
	}
	downloads := t.TempDir()
	c.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := cdp.Call(ctx, chromedp.FromContext(ctx).Browser, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
		})
		return err
	}))

	// Sign in: / leads to the console; a wrong token says so.
	c.do(chromedp.Navigate(d.URL + "/"))
	c.find("heading", "Sign in to chimerad")
	c.shoot("sign-in")
	c.fill("textbox", "API token", "chx_not-a-token")
	c.click("button", "Sign in")
	c.waitText("alert", "", "not accepted")
	c.signIn(alice)
	if got := eval[string](c, `sessionStorage.getItem("chimerad.token")`); got != alice {
		t.Errorf("sessionStorage holds %q, want alice's token", got)
	}
	if got := eval[string](c, `location.href + document.cookie + JSON.stringify(localStorage)`); strings.Contains(got, alice) {
		t.Errorf("the token is in the URL, a cookie or localStorage: %s", got)
	}

	// A session from an upload; its page shows the snapshot.
	c.fill("textbox", "Name", "peptide")
	c.setFile("Structure file", mustAbs(t, "../testdata/pept.pdb"))
	c.click("button", "Create")
	c.find("heading", "peptide")
	before := c.snapshot("Snapshot of peptide")
	if before.Width < 160 || before.Height < 120 {
		t.Errorf("the snapshot is %dx%d", before.Width, before.Height)
	}
	var id string
	c.waitFor("the session's id in the URL", func() bool {
		id = strings.TrimPrefix(eval[string](c, `location.hash`), "#/sessions/")
		return id != "" && !strings.HasPrefix(id, "#")
	})
	if s := d.get(t, alice, id); s.Name != "peptide" || s.Structure.Filename != "pept.pdb" {
		t.Errorf("the session made = %+v, want peptide from pept.pdb", s)
	}

	// color red: the output says so and the image turns red.
	c.fill("combobox", "Command", "color red")
	c.click("button", "Run")
	c.waitText("log", "Output", "color red")
	var after snapshot
	c.waitFor("the snapshot change", func() bool {
		after = c.snapshot("Snapshot of peptide")
		return after.Src != before.Src && after.Red != before.Red
	})
	if after.Red <= before.Red || after.Green >= before.Green {
		t.Errorf("after color red: red %.0f → %.0f, green %.0f → %.0f; want more red, less green",
			before.Red, after.Red, before.Green, after.Green)
	}
	// The allowed command words are offered as completions.
	words := eval[[]string](c, `[...document.getElementById(document.activeElement.getAttribute("list")).options].map(o => o.value)`)
	if !slices.Contains(words, "color") || !slices.Contains(words, "save") || slices.Contains(words, "runscript") {
		t.Errorf("completions %v: want the allowed words (color, save…), not runscript", words)
	}

	// A refused command, and one ChimeraX fails: each says why.
	c.fill("combobox", "Command", "runscript evil.py")
	c.click("button", "Run")
	c.waitText("log", "Output", "Command refused: \"runscript evil.py\"")
	c.fill("combobox", "Command", "color nosuchcolour")
	c.click("button", "Run")
	c.waitText("log", "Output", "UserError:")

	// A checkpoint, and a file saved and downloaded from the Files list.
	c.click("button", "Checkpoint")
	c.waitText("status", "", "Checkpoint saved")
	c.fill("combobox", "Command", "save picture.png width 64 height 48")
	c.click("button", "Run")
	c.click("link", "picture.png")
	var saved []byte
	c.waitFor("the download", func() bool {
		saved, _ = os.ReadFile(filepath.Join(downloads, "picture.png"))
		return len(saved) > 8
	})
	if cfg, err := png.DecodeConfig(bytes.NewReader(saved)); err != nil || cfg.Width != 64 || cfg.Height != 48 {
		t.Errorf("downloaded picture.png: %v %+v, want a 64x48 PNG", err, cfg)
	}
	c.find("link", "Latest checkpoint")
	c.waitText("region", "ChimeraX log", "UCSF ChimeraX")
	c.shoot("session")

	// A size preset, then Refresh: a new render at that size.
	call[any](c, c.find("combobox", "Size"), `function() { this.value = "640x480"; this.dispatchEvent(new Event("change")); }`)
	c.waitFor("a 640x480 snapshot", func() bool {
		s := c.snapshot("Snapshot of peptide")
		return s.Width == 640 && s.Height == 480
	})
	sized := c.snapshot("Snapshot of peptide")
	c.click("button", "Refresh")
	var refreshed snapshot
	c.waitFor("a refreshed snapshot", func() bool {
		refreshed = c.snapshot("Snapshot of peptide")
		return refreshed.Src != sized.Src
	})

	// Restart: a fresh ChimeraX opens the checkpoint, red as it was.
	c.click("button", "Restart")
	c.waitText("status", "", "Restarted: a fresh ChimeraX opened the latest checkpoint.")
	var restarted snapshot
	c.waitFor("the restarted session's snapshot", func() bool {
		restarted = c.snapshot("Snapshot of peptide")
		return restarted.Src != refreshed.Src
	})
	if restarted.Red <= restarted.Green {
		t.Errorf("after Restart from the checkpoint: red %.0f, green %.0f; want it still red", restarted.Red, restarted.Green)
	}
	if s := d.get(t, alice, id); s.Restarts != 1 || !s.State.Live() {
		t.Errorf("after Restart: %s, %d restarts; want live, 1", s.State, s.Restarts)
	}

	// Another session, from a PDB id, with a long name that must wrap
	// rather than widen the page; then the list.
	const long = "HIV-1_protease_with_inhibitor_from_the_PDB_entry_1hpv"
	c.click("link", "My sessions")
	c.fill("textbox", "Name", long)
	c.fill("textbox", "PDB id", "1hpv")
	c.click("button", "Create")
	c.find("image", "Snapshot of "+long)
	c.click("link", "My sessions")
	c.find("link", "peptide")
	c.find("link", long)
	c.waitFor("both idle clocks counting down", func() bool {
		return eval[bool](c, `[...document.querySelectorAll('td[data-label="Idle expiry"]')].every(td => td.innerText.startsWith("in "))`)
	})
	c.shoot("sessions")

	// End peptide's session: the page asks first, in a dialog.
	c.click("link", "peptide")
	c.click("button", "End session")
	c.find("dialog", "End session peptide?")
	c.scan("the End session dialog")
	c.click("button", "Cancel")
	c.click("button", "End session")
	c.click("button", "End session") // the dialog's: the page behind it is inert
	c.waitText("status", "", "Session peptide ended.")
	if s := d.get(t, alice, id); s.State.Live() || s.TerminationReason != "deleted" {
		t.Errorf("after End session: %s %s, want terminated deleted", s.State, s.TerminationReason)
	}
	c.find("checkbox", "Show ended")
	if len(c.query("link", "peptide")) != 0 {
		t.Errorf("the ended session is listed without Show ended")
	}
	c.click("checkbox", "Show ended")

	// The ended session's page: no snapshot, and a way back from its
	// checkpoint, red as it was.
	c.click("link", "peptide")
	c.waitText("status", "", "This session has ended (deleted)")
	if len(c.query("image", "Snapshot of peptide")) != 0 || len(c.query("combobox", "Command")) != 0 {
		t.Errorf("an ended session's page offers a snapshot or a command line")
	}
	c.click("button", "Resume from checkpoint")
	c.waitText("status", "", "resumed from the checkpoint")
	if s := c.snapshot("Snapshot of peptide"); s.Red <= s.Green {
		t.Errorf("the resumed session: red %.0f, green %.0f; want it red as it was checkpointed", s.Red, s.Green)
	}

	// Bob's session; the admin kills it and sees the capacity change.
	resp, body := d.call(t, "POST", "/api/sessions", bob, map[string]any{"name": "bob's work", "pdb_id": "1hpv"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("bob's create = %d %s", resp.StatusCode, body)
	}
	bobs := decode[server.SessionView](t, body)
	c.click("button", "Sign out")
	c.find("heading", "Sign in to chimerad")
	if got := eval[string](c, `String(sessionStorage.getItem("chimerad.token"))`); got != "null" {
		t.Errorf("after Sign out sessionStorage holds %q", got)
	}
	c.signIn(root)
	c.click("link", "Admin")
	live := func() string {
		m := regexp.MustCompile(`Live\s+(\d+)`).FindStringSubmatch(c.text("region", "Capacity and pool"))
		if m == nil {
			return ""
		}
		return m[1]
	}
	c.waitFor("3 live sessions", func() bool { return live() == "3" })
	c.waitFor("alice's two sessions listed", func() bool { return len(c.query("cell", "alice")) == 2 })
	var kill axNode
	c.waitFor("a Kill button for bob's session", func() bool {
		for _, n := range c.query("button", "Kill") {
			if n.description == "bob's work" {
				kill = n
				return true
			}
		}
		return false
	})
	c.shoot("admin")
	c.clickNode(kill)
	c.waitText("status", "", "Killed bob's session bob's work.")
	c.waitFor("2 live sessions", func() bool { return live() == "2" })
	if s := d.get(t, root, bobs.ID); s.State.Live() || s.TerminationReason != "admin_kill" {
		t.Errorf("bob's session after Kill: %s %s, want admin_kill", s.State, s.TerminationReason)
	}

	// Users: a new one's token is shown once and works; then removed.
	c.fill("textbox", "User name", "carol")
	c.click("button", "Add user")
	token := call[string](c, c.find("textbox", "Token for carol"), `function() { return this.value; }`)
	if resp, body := d.call(t, "GET", "/api/me", token, nil); resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"carol"`)) {
		t.Errorf("carol's token from the console: GET /api/me = %d %s", resp.StatusCode, body)
	}
	c.click("button", "Done")
	var remove axNode
	c.waitFor("a Remove button for carol", func() bool {
		for _, n := range c.query("button", "Remove") {
			if n.description == "carol" {
				remove = n
				return true
			}
		}
		return false
	})
	c.clickNode(remove)
	c.click("button", "Remove user")
	c.waitFor("carol gone", func() bool { return len(c.query("rowheader", "carol")) == 0 })
	if resp, _ := d.call(t, "GET", "/api/me", token, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("carol's token after Remove: %d, want 401", resp.StatusCode)
	}

	// Usage: four sessions created today, drawn and in figures.
	c.find("image", "Sessions created per day, last 14 days")
	c.find("image", "Session-hours per day, last 14 days")
	c.click("DisclosureTriangle", "The figures per day") // a <summary>
	c.waitFor("today's four sessions", func() bool {
		rows := eval[[]string](c, `[...document.querySelectorAll(".usage-figures tbody tr")].map(r => r.innerText)`)
		return len(rows) == 14 && regexp.MustCompile(`\t4\t`).MatchString(rows[13])
	})
}

// TestConsoleQueueAndHeartbeats: signed in and creating by keyboard alone,
// with the focus always visible; at capacity, a create from the console
// says it waits for a place until one frees (an unwatched session idling
// out); the session's page keeps it alive with heartbeats while visible,
// past its idle timeout, and sends none while hidden behind another tab,
// so that it then ends idle_timeout, which the page shows.
func TestConsoleQueueAndHeartbeats(t *testing.T) {
	ctx := mustBrowser(t)
	const idle = 4 * time.Second
	d := MustServe(t, options{sv: func(c *chimerax.Config) {
		c.MaxSessions = 1
		c.IdleTimeout = idle
		c.IdleWarning = 0
	}})
	alice := d.mustUser(t, "alice", false)
	c := newConsole(t, ctx, d.URL, "") // no screenshots
	c.do(chromedp.Navigate(d.URL + "/ui"))
	c.find("heading", "Sign in to chimerad")

	// By keyboard alone: Tab to a control, type, Enter.
	c.tabTo("API token")
	c.do(chromedp.KeyEvent(alice), chromedp.KeyEvent(kb.Enter))
	c.find("heading", "My sessions")

	// The one place is taken by a session nobody watches.
	resp, body := d.call(t, "POST", "/api/sessions", alice, map[string]any{"name": "unwatched"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d %s", resp.StatusCode, body)
	}
	unwatched := decode[server.SessionView](t, body)
	c.tabTo("Name")
	c.do(chromedp.KeyEvent("queued"))
	c.tabTo("Create")
	c.do(chromedp.KeyEvent(kb.Enter))
	c.waitText("status", "", "Waiting for a place: 1 queued.")
	c.find("heading", "queued") // once unwatched idled out
	if s := d.get(t, alice, unwatched.ID); s.TerminationReason != "idle_timeout" {
		t.Errorf("the unwatched session: %s %s, want idle_timeout", s.State, s.TerminationReason)
	}
	var id string
	c.waitFor("the session's page", func() bool {
		id = strings.TrimPrefix(eval[string](c, `location.hash`), "#/sessions/")
		return id != "" && !strings.HasPrefix(id, "#")
	})

	// Visible: heartbeats keep it alive well past its idle timeout.
	ready := d.get(t, alice, id).ReadyAt
	c.waitFor("the session outliving its idle timeout", func() bool {
		s := d.get(t, alice, id)
		if !s.State.Live() {
			t.Fatalf("the session ended (%s) while its page was visible", s.TerminationReason)
		}
		return time.Since(*ready) > idle+2*time.Second
	})
	if s := d.get(t, alice, id); s.LastActivityAt == nil || s.LastActivityAt.Sub(*ready) < idle {
		t.Errorf("last activity %v, ready %v: want heartbeats after the idle timeout", s.LastActivityAt, ready)
	}

	// Hidden, behind another tab of its window (Chromium hides every tab
	// but the active one): no heartbeats; it ends idle.
	other, closeOther := chromedp.NewContext(ctx, chromedp.WithNewWindow(false))
	defer closeOther()
	if err := chromedp.Do(other, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	c.waitFor("the console's tab hidden", func() bool { return eval[string](c, `document.visibilityState`) == "hidden" })
	hidden := time.Now()
	s := d.waitEnded(t, alice, id, idle+5*time.Second)
	if s.TerminationReason != "idle_timeout" {
		t.Errorf("the hidden page's session ended %s, want idle_timeout", s.TerminationReason)
	}
	if took := time.Since(hidden); took < idle/2 {
		t.Errorf("it ended %v after the page was hidden: too soon for an idle end", took)
	}
	// Back in front, the page says how it ended.
	closeOther()
	c.waitFor("the console's tab visible", func() bool { return eval[string](c, `document.visibilityState`) == "visible" })
	c.waitText("status", "", "This session has ended (idle timeout)")
}
