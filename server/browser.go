package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/store"
)

// What a browser frontend needs: who am I, what may I do, files out, and
// signed URLs.
//
// A browser's <img src> and EventSource cannot send an Authorization
// header, and an API token is never accepted in a URL (URLs end up in
// logs, histories and Referer headers). POST /api/sessions/{id}/urls
// instead returns short-lived signed URLs for one session's snapshot,
// events, files and checkpoint: path?exp=<unix seconds>&u=<user>&sig=<mac>,
// where mac is an HMAC-SHA256, under a key of this daemon's
// (Config.URLKey), of the path, the expiry, the user and when the user's
// token was issued. A signed URL works for GET on those routes only, until
// it expires, while the session is live, and while its user keeps the
// token it was signed with: rotating or removing it ends them all. The
// access log records paths, never queries, so no signature is logged.

// signable are the routes a signed URL may reach, GET only.
var signable = []string{
	"/api/sessions/:id/snapshot",
	"/api/sessions/:id/events",
	"/api/sessions/:id/files/:name",
	"/api/sessions/:id/checkpoint",
}

// Errors of signed URLs.
var (
	errURLExpired = errors.New("signed URL expired")
	errTokenInURL = fmt.Errorf("%w: API tokens are never accepted in a URL (they end up in logs and histories): send Authorization: Bearer, or use a signed URL from POST /api/sessions/{id}/urls", errBadRequest)
)

// signature is the MAC of a signed URL.
func (s *Server) signature(user string, issued time.Time, path string, exp int64) []byte {
	h := hmac.New(sha256.New, s.cfg.URLKey)
	fmt.Fprintf(h, "chimerad-url-v1\n%s\n%d\n%s\n%d", user, issued.UnixNano(), path, exp)
	return h.Sum(nil)
}

// signURL returns path signed for user u until exp.
func (s *Server) signURL(u store.User, path string, exp time.Time) string {
	q := url.Values{
		"exp": {strconv.FormatInt(exp.Unix(), 10)},
		"u":   {u.Name},
		"sig": {base64.RawURLEncoding.EncodeToString(s.signature(u.Name, u.TokenIssuedAt, path, exp.Unix()))},
	}
	return path + "?" + q.Encode()
}

// verifySigned authenticates a request by its signed URL.
func (s *Server) verifySigned(c *gin.Context) (principal, error) {
	bad := fmt.Errorf("%w: the signed URL is not valid", errUnauthorized)
	if c.Request.Method != http.MethodGet || !slices.Contains(signable, c.FullPath()) || len(s.cfg.URLKey) == 0 {
		return principal{}, fmt.Errorf("%w: signed URLs reach a session's snapshot, events, files and checkpoint only", errUnauthorized)
	}
	exp, err := strconv.ParseInt(c.Query("exp"), 10, 64)
	sig, err2 := base64.RawURLEncoding.DecodeString(c.Query("sig"))
	if err != nil || err2 != nil {
		return principal{}, bad
	}
	u, err := s.users.User(c, c.Query("u"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !hmac.Equal(sig, s.signature(u.Name, u.TokenIssuedAt, c.Request.URL.Path, exp))) {
		return principal{}, bad
	} else if err != nil {
		return principal{}, err
	}
	if now := time.Now().Unix(); now > exp {
		return principal{}, fmt.Errorf("%w: %w at %s; ask POST /api/sessions/{id}/urls for new ones", errUnauthorized, errURLExpired, time.Unix(exp, 0).UTC().Format(timeLayout))
	}
	rec, err := s.sv.Session(c, c.Param("id"))
	if err != nil {
		return principal{}, err
	}
	if !rec.State.Live() { // a session's signed URLs end with it
		_, err := s.sv.TouchRecord(rec) // says how it ended
		return principal{}, err
	}
	return principal{Name: u.Name, Admin: u.Admin, Signed: true}, nil
}

// signedURLs is the answer of POST /api/sessions/{id}/urls.
type signedURLs struct {
	ExpiresAt  apiTime    `json:"expires_at"`
	Snapshot   string     `json:"snapshot"`
	Events     string     `json:"events"`
	Checkpoint *string    `json:"checkpoint"`
	Files      []fileView `json:"files"`
}

// signURLs answers signed URLs for a live session's snapshot, events,
// files and checkpoint, valid for Config.SignedURLLifetime.
func (s *Server) signURLs(c *gin.Context) error {
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	who := caller(c)
	if who.Socket || who.Signed {
		return fmt.Errorf("%w: signed URLs are signed with an API token: call with Authorization: Bearer", errBadRequest)
	}
	if !rec.State.Live() {
		_, err := s.sv.TouchRecord(rec) // says how it ended
		return err
	}
	u, err := s.users.User(c, who.Name)
	if err != nil {
		return err
	}
	files, checkpoint, err := s.filesOf(c, rec, u)
	if err != nil {
		return err
	}
	exp := time.Now().Add(s.cfg.SignedURLLifetime).Truncate(time.Second)
	base := "/api/sessions/" + rec.ID
	out := signedURLs{
		ExpiresAt: apiTime(exp),
		Snapshot:  s.signURL(u, base+"/snapshot", exp),
		Events:    s.signURL(u, base+"/events", exp),
		Files:     files,
	}
	if checkpoint != nil {
		out.Checkpoint = &checkpoint.URL
	}
	c.JSON(http.StatusOK, out)
	return nil
}

// fileView is a session file as the API lists it, with a signed URL.
type fileView struct {
	Name       string  `json:"name"`
	SizeBytes  int64   `json:"size_bytes"`
	ModifiedAt apiTime `json:"modified_at"`
	URL        string  `json:"url"`
}

// filesOf lists a session's files and its checkpoint, each with a URL
// signed for u.
func (s *Server) filesOf(c *gin.Context, rec chimerax.Info, u store.User) ([]fileView, *fileView, error) {
	files, err := s.sv.Files(c, rec.ID)
	if err != nil {
		return nil, nil, err
	}
	exp := time.Now().Add(s.cfg.SignedURLLifetime).Truncate(time.Second)
	base := "/api/sessions/" + rec.ID
	out := make([]fileView, 0, len(files))
	for _, f := range files {
		out = append(out, fileView{f.Name, f.SizeBytes, apiTime(f.ModifiedAt), s.signURL(u, base+"/files/"+url.PathEscape(f.Name), exp)})
	}
	var cp *fileView
	if rec.Checkpoint != nil {
		cp = &fileView{"checkpoint.cxs", rec.Checkpoint.SizeBytes, apiTime(rec.Checkpoint.At), s.signURL(u, base+"/checkpoint", exp)}
	}
	return out, cp, nil
}

// listFiles lists what a session saved, and its checkpoint.
func (s *Server) listFiles(c *gin.Context) error {
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	var u store.User
	if who := caller(c); !who.Socket {
		if u, err = s.users.User(c, who.Name); err != nil {
			return err
		}
	}
	files, checkpoint, err := s.filesOf(c, rec, u)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"files": files, "checkpoint": checkpoint})
	return nil
}

// download sends one of a session's files.
func (s *Server) download(c *gin.Context) error {
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	f, fi, err := s.sv.OpenFile(c, rec.ID, c.Param("name"))
	if err != nil {
		return err
	}
	defer f.Close()
	return sendFile(c, f, fi.Name, chimerax.ContentType(fi.Name), fi.SizeBytes)
}

// downloadCheckpoint sends a session's latest checkpoint.
func (s *Server) downloadCheckpoint(c *gin.Context) error {
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	f, cp, err := s.sv.OpenCheckpoint(c, rec.ID)
	if err != nil {
		return err
	}
	defer f.Close()
	name := "session-" + rec.ID[:8] + "-" + cp.At.UTC().Format("20060102T150405Z") + ".cxs"
	return sendFile(c, f, name, "application/octet-stream", cp.SizeBytes)
}

// sendFile sends r, of size bytes, as an attachment named name.
func sendFile(c *gin.Context, r io.Reader, name, contentType string, size int64) error {
	c.Header("Content-Disposition", `attachment; filename="`+name+`"; filename*=UTF-8''`+url.PathEscape(name))
	c.Header("Cache-Control", "no-store")
	c.Header("X-Content-Type-Options", "nosniff")
	c.DataFromReader(http.StatusOK, size, contentType, r, nil)
	return nil
}

// me says who the caller is, what they may do and what they have.
func (s *Server) me(c *gin.Context) error {
	who := caller(c)
	caps, st := s.sv.Capabilities(), s.sv.Status(who.Name)
	c.JSON(http.StatusOK, gin.H{
		"name":  who.Name,
		"admin": who.Admin,
		"limits": gin.H{
			"max_sessions":             caps.MaxSessionsPerUser,
			"idle_timeout_seconds":     int64(caps.IdleTimeout / time.Second),
			"max_idle_timeout_seconds": int64(caps.MaxIdleTimeout / time.Second),
		},
		"live": st.User.Live,
	})
	return nil
}

// capabilities says what the daemon lets clients do, so that a frontend
// can grey out what would be refused.
func (s *Server) capabilities(c *gin.Context) error {
	caps := s.sv.Capabilities()
	formats := gin.H{}
	for f, exts := range structure.Suffixes() {
		formats[string(f)] = exts
	}
	var version *string
	if caps.EngineVersion != "" {
		version = &caps.EngineVersion
	}
	c.JSON(http.StatusOK, gin.H{
		"engine":   gin.H{"name": caps.Engine, "version": version},
		"commands": gin.H{"allow": caps.Commands},
		"uploads": gin.H{
			"formats":                formats,
			"gzip":                   true,
			"max_bytes":              s.cfg.MaxUploadBytes,
			"max_uncompressed_bytes": min(s.cfg.MaxUncompressedBytes, caps.MaxUncompressedBytes),
		},
		"snapshots": gin.H{
			"default_width": defaultSnapshotWidth, "default_height": defaultSnapshotHeight,
			"max_width": caps.MaxSnapshotSide, "max_height": caps.MaxSnapshotSide,
		},
		"idle_timeout_seconds": gin.H{
			"default": int64(caps.IdleTimeout / time.Second),
			"max":     int64(caps.MaxIdleTimeout / time.Second),
		},
		"sessions":           gin.H{"max": caps.MaxSessions, "max_per_user": caps.MaxSessionsPerUser},
		"signed_url_seconds": int64(s.cfg.SignedURLLifetime / time.Second),
	})
	return nil
}

// updateBody is the JSON body of PATCH /api/sessions/{id}.
type updateBody struct {
	Name               *string `json:"name"`
	IdleTimeoutSeconds *int64  `json:"idle_timeout_seconds"`
}

// updateSession changes a live session's name or idle timeout.
func (s *Server) updateSession(c *gin.Context) error {
	var body updateBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	u := chimerax.SessionUpdate{Name: body.Name}
	if n := body.IdleTimeoutSeconds; n != nil {
		if *n < 0 || *n > int64(365*24*time.Hour/time.Second) {
			return fmt.Errorf("%w: idle_timeout_seconds %d out of range", errBadRequest, *n)
		}
		d := time.Duration(*n) * time.Second
		u.IdleTimeout = &d
	}
	if rec, err = s.sv.Update(c, rec.ID, u); err != nil {
		return err
	}
	answerJSON(c, http.StatusOK, s.view(rec, caller(c).Admin))
	return nil
}
