package server

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// The web console: a page in plain HTML, CSS and JavaScript modules
// (server/ui/), embedded in the binary and served at /ui. It needs no build
// step and loads nothing from elsewhere; it is a client of the API like any
// other, with the user's token in the tab's sessionStorage, sent only as a
// bearer header, and signed URLs for its <img> and EventSource. Its routes
// are not API: they take no token and are not in openapi.yaml.

// consoleFS holds the console's files, exactly what the browser loads.
//
//go:embed ui
var consoleFS embed.FS

// consoleCSP is the console's Content-Security-Policy: everything from
// this origin only, no inline script or style, no plugins, no framing.
const consoleCSP = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one embedded console file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// consoleAssets reads the embedded console into memory, by path under ui/.
func consoleAssets() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(consoleFS, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := consoleFS.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) { // not left to the system's MIME tables
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".html":
			ct = "text/html; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		case ".png":
			ct = "image/png"
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(p, "ui/")] = asset{b, ct, `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("server: the embedded console: %v", err))
	}
	return out
}

// consoleRoutes registers the console: GET /ui (the page), /ui/... (its
// files) and / (a redirect to /ui).
func (s *Server) consoleRoutes(r *gin.Engine) {
	assets := consoleAssets()
	serve := func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("file"), "/")
		if name == "" {
			name = "index.html"
		}
		a, ok := assets[name]
		if !ok {
			s.fail(c, fmt.Errorf("%w: the console has no file %q", errNoRoute, truncate(name, 80)))
			return
		}
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// The page's URL never leaves it, nor do the signed URLs it uses.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("Content-Type", a.contentType)
		http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(a.body))
	}
	r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/ui") })
	r.GET("/ui", serve)
	r.GET("/ui/*file", serve)
}
