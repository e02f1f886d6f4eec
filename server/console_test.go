//go:build linux

package server_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
