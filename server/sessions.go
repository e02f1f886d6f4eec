package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/store"
)

// SessionView is a session as the API shows it. Its JSON (MarshalJSON)
// has every field, null when empty, and every time in UTC with
// milliseconds.
type SessionView struct {
	ID                 string          `json:"id"`
	Owner              string          `json:"owner"`
	Name               string          `json:"name"`
	State              store.State     `json:"state"`
	Engine             string          `json:"engine"`
	Structure          store.Structure `json:"structure"`
	CreatedAt          time.Time       `json:"created_at"`
	ReadyAt            *time.Time      `json:"ready_at"`
	LastActivityAt     *time.Time      `json:"last_activity_at"`
	IdleTimeoutSeconds int64           `json:"idle_timeout_seconds"`
	IdleExpiresAt      *time.Time      `json:"idle_expires_at"`
	// MaxLifetimeExpiresAt is when session.max_lifetime ends the session.
	MaxLifetimeExpiresAt *time.Time   `json:"max_lifetime_expires_at"`
	TerminatedAt         *time.Time   `json:"terminated_at"`
	TerminationReason    store.Reason `json:"termination_reason"`
	Error                string       `json:"error"`
	// CheckpointAt is when the latest checkpoint was saved, if any.
	CheckpointAt *time.Time `json:"checkpoint_at"`
	// ResumedFrom is the session whose checkpoint this one opened.
	ResumedFrom string `json:"resumed_from"`
	// Process is shown to admins only: pid, port and paths stay private.
	Process *store.Process `json:"process"`
	// Stats: commands run, and CPU and memory of the child while it lives.
	Stats *store.SessionStats `json:"stats"`
	// FromPool: the session took an already started child from the warm pool.
	FromPool bool `json:"from_pool"`
	// ExecutionState is idle or busy while the session is ready, else
	// empty; BusySince is when the command in flight started.
	ExecutionState string     `json:"execution_state"`
	BusySince      *time.Time `json:"busy_since"`
	// Restarts counts the times its ChimeraX was replaced (POST .../restart).
	Restarts int `json:"restarts"`
	// QueuePosition is a starting session's place among its Slurm
	// partition's pending jobs while its job waits; 0 (null) otherwise.
	QueuePosition int `json:"queue_position"`
}

// MarshalJSON writes every field of the view: empty strings and missing
// times as null, times in UTC with milliseconds (timeLayout). It appends
// the fields itself, without reflection (a GET of a session is the API's
// hottest path); marshalReflect is the same document by encoding/json,
// which the tests hold it to, and what it falls back on for what it does
// not write itself (an admin's process, a float JSON refuses).
func (v SessionView) MarshalJSON() ([]byte, error) {
	if v.Process != nil || (v.Stats != nil && !finite(v.Stats.CPUSeconds)) {
		return v.marshalReflect()
	}
	b := make([]byte, 0, 768)
	b = append(b, `{"id":`...)
	b = appendJSONString(b, v.ID)
	b = append(b, `,"owner":`...)
	b = appendJSONString(b, v.Owner)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, v.Name)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, string(v.State))
	b = append(b, `,"engine":`...)
	b = appendJSONString(b, v.Engine)
	b = append(b, `,"structure":{"source":`...)
	st := v.Structure
	b = appendJSONString(b, st.Source)
	if st.PDBID != "" {
		b = append(b, `,"pdb_id":`...)
		b = appendJSONString(b, st.PDBID)
	}
	if st.Filename != "" {
		b = append(b, `,"filename":`...)
		b = appendJSONString(b, st.Filename)
	}
	if st.Format != "" {
		b = append(b, `,"format":`...)
		b = appendJSONString(b, st.Format)
	}
	if st.SizeBytes != 0 {
		b = append(b, `,"size_bytes":`...)
		b = strconv.AppendInt(b, st.SizeBytes, 10)
	}
	b = append(b, `},"created_at":`...)
	b = apiTime(v.CreatedAt).appendJSON(b)
	b = append(b, `,"ready_at":`...)
	b = optTime(v.ReadyAt).appendJSON(b)
	b = append(b, `,"last_activity_at":`...)
	b = optTime(v.LastActivityAt).appendJSON(b)
	b = append(b, `,"idle_timeout_seconds":`...)
	if v.IdleTimeoutSeconds > 0 {
		b = strconv.AppendInt(b, v.IdleTimeoutSeconds, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"idle_expires_at":`...)
	b = optTime(v.IdleExpiresAt).appendJSON(b)
	b = append(b, `,"max_lifetime_expires_at":`...)
	b = optTime(v.MaxLifetimeExpiresAt).appendJSON(b)
	b = append(b, `,"terminated_at":`...)
	b = optTime(v.TerminatedAt).appendJSON(b)
	b = append(b, `,"termination_reason":`...)
	b = appendOptString(b, string(v.TerminationReason))
	b = append(b, `,"error":`...)
	b = appendOptString(b, v.Error)
	b = append(b, `,"checkpoint_at":`...)
	b = optTime(v.CheckpointAt).appendJSON(b)
	b = append(b, `,"resumed_from":`...)
	b = appendOptString(b, v.ResumedFrom)
	b = append(b, `,"process":null,"stats":`...)
	if s := v.Stats; s == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"commands":`...)
		b = strconv.AppendInt(b, s.Commands, 10)
		b = append(b, `,"cpu_seconds":`...)
		b = appendJSONFloat(b, s.CPUSeconds)
		if s.RSSBytes != 0 {
			b = append(b, `,"rss_bytes":`...)
			b = strconv.AppendInt(b, s.RSSBytes, 10)
		}
		if s.DiskBytes != 0 {
			b = append(b, `,"disk_bytes":`...)
			b = strconv.AppendInt(b, s.DiskBytes, 10)
		}
		b = append(b, '}')
	}
	b = append(b, `,"from_pool":`...)
	b = strconv.AppendBool(b, v.FromPool)
	b = append(b, `,"execution_state":`...)
	b = appendOptString(b, v.ExecutionState)
	b = append(b, `,"busy_since":`...)
	b = optTime(v.BusySince).appendJSON(b)
	b = append(b, `,"restarts":`...)
	b = strconv.AppendInt(b, int64(v.Restarts), 10)
	b = append(b, `,"queue_position":`...)
	if v.QueuePosition > 0 {
		b = strconv.AppendInt(b, int64(v.QueuePosition), 10)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}'), nil
}

// marshalReflect is MarshalJSON's document, written by encoding/json.
func (v SessionView) marshalReflect() ([]byte, error) {
	var idle *int64
	if v.IdleTimeoutSeconds > 0 {
		idle = &v.IdleTimeoutSeconds
	}
	return json.Marshal(struct {
		ID                   string              `json:"id"`
		Owner                string              `json:"owner"`
		Name                 string              `json:"name"`
		State                store.State         `json:"state"`
		Engine               string              `json:"engine"`
		Structure            store.Structure     `json:"structure"`
		CreatedAt            apiTime             `json:"created_at"`
		ReadyAt              apiTime             `json:"ready_at"`
		LastActivityAt       apiTime             `json:"last_activity_at"`
		IdleTimeoutSeconds   *int64              `json:"idle_timeout_seconds"`
		IdleExpiresAt        apiTime             `json:"idle_expires_at"`
		MaxLifetimeExpiresAt apiTime             `json:"max_lifetime_expires_at"`
		TerminatedAt         apiTime             `json:"terminated_at"`
		TerminationReason    *string             `json:"termination_reason"`
		Error                *string             `json:"error"`
		CheckpointAt         apiTime             `json:"checkpoint_at"`
		ResumedFrom          *string             `json:"resumed_from"`
		Process              *store.Process      `json:"process"`
		Stats                *store.SessionStats `json:"stats"`
		FromPool             bool                `json:"from_pool"`
		ExecutionState       *string             `json:"execution_state"`
		BusySince            apiTime             `json:"busy_since"`
		Restarts             int                 `json:"restarts"`
		QueuePosition        *int                `json:"queue_position"`
	}{
		v.ID, v.Owner, v.Name, v.State, v.Engine, v.Structure,
		apiTime(v.CreatedAt), optTime(v.ReadyAt), optTime(v.LastActivityAt), idle,
		optTime(v.IdleExpiresAt), optTime(v.MaxLifetimeExpiresAt), optTime(v.TerminatedAt),
		optString(string(v.TerminationReason)), optString(v.Error), optTime(v.CheckpointAt),
		optString(v.ResumedFrom), v.Process, v.Stats, v.FromPool,
		optString(v.ExecutionState), optTime(v.BusySince), v.Restarts,
		optInt(v.QueuePosition),
	})
}

func (s *Server) view(rec chimerax.Info, admin bool) SessionView {
	// The view's times, in one allocation rather than one each.
	times := new([7]time.Time)
	at := func(i int, t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		times[i] = t.UTC().Truncate(time.Millisecond)
		return &times[i]
	}
	v := SessionView{
		ID:                   rec.ID,
		Owner:                rec.Owner,
		Name:                 rec.Name,
		State:                rec.State,
		Engine:               rec.Engine,
		Structure:            rec.Structure,
		CreatedAt:            rec.CreatedAt.UTC().Truncate(time.Millisecond),
		ReadyAt:              at(0, rec.ReadyAt),
		LastActivityAt:       at(1, rec.LastActivityAt),
		IdleTimeoutSeconds:   int64(rec.IdleTimeout / time.Second),
		IdleExpiresAt:        at(2, rec.IdleExpiresAt),
		MaxLifetimeExpiresAt: at(3, rec.MaxLifetimeExpiresAt),
		TerminatedAt:         at(4, rec.TerminatedAt),
		TerminationReason:    rec.TerminationReason,
		Error:                rec.Error,
		Stats:                rec.Stats,
		FromPool:             rec.FromPool,
		ExecutionState:       rec.ExecutionState,
		BusySince:            at(5, rec.BusySince),
		Restarts:             rec.Restarts,
		QueuePosition:        rec.QueuePosition,
	}
	if rec.Checkpoint != nil {
		v.CheckpointAt = at(6, rec.Checkpoint.At)
	}
	v.ResumedFrom = rec.ResumedFrom
	if admin {
		v.Process = rec.Process
	} else {
		v.Error = s.sv.Public(v.Error)
	}
	return v
}

// optInt is n, or nil (null) for 0.
func optInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// maxJSONBody caps every JSON request body.
const maxJSONBody = 64 << 10

// createBody is the JSON form of POST /api/sessions.
type createBody struct {
	PDBID              string `json:"pdb_id"`
	Name               string `json:"name"`
	IdleTimeoutSeconds int64  `json:"idle_timeout_seconds"`
	// ResumeFrom names an ended session whose latest checkpoint to open.
	ResumeFrom string `json:"resume_from"`
}

func (s *Server) createSession(c *gin.Context) error {
	req := chimerax.CreateRequest{Owner: caller(c).Name, Wait: c.Query("wait") != "false"}
	if w := c.Query("wait"); w != "" && w != "true" && w != "false" {
		return fmt.Errorf("%w: wait=%q: want true or false", errBadRequest, truncate(w, 20))
	}
	mt, params, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	switch {
	case mt == "multipart/form-data":
		upload, err := s.readMultipartCreate(c, params["boundary"], &req)
		if upload != nil {
			defer os.Remove(upload.Path) // gone already once Create moved it
		}
		if err != nil {
			return err
		}
	case mt == "application/json" || (mt == "" && c.Request.ContentLength <= 0):
		var body createBody
		if err := decodeJSON(c, &body); err != nil {
			return err
		}
		req.PDBID, req.Name = body.PDBID, body.Name
		req.ResumeFrom = body.ResumeFrom
		if body.IdleTimeoutSeconds < 0 || body.IdleTimeoutSeconds > int64(365*24*time.Hour/time.Second) {
			return fmt.Errorf("%w: idle_timeout_seconds %d out of range", errBadRequest, body.IdleTimeoutSeconds)
		}
		req.IdleTimeout = time.Duration(body.IdleTimeoutSeconds) * time.Second
	default:
		return fmt.Errorf("%w: %q: send application/json or multipart/form-data", errMediaType, truncate(c.GetHeader("Content-Type"), 80))
	}

	rec, err := s.sv.Create(c, req)
	if err != nil {
		if rec.ID != "" {
			return &failedSession{id: rec.ID, err: err}
		}
		return err
	}
	if req.Wait && c.Request.Context().Err() != nil {
		// Ready, but the client went away before it could be told.
		s.sv.Stop(context.WithoutCancel(c.Request.Context()), rec.ID, store.ReasonClientGone)
		return fmt.Errorf("%w: the client went away", chimerax.ErrNotLive)
	}
	c.Header("Location", "/api/sessions/"+rec.ID)
	status := http.StatusCreated
	if rec.State == store.StateStarting {
		status = http.StatusAccepted
	}
	answerJSON(c, status, s.view(rec, caller(c).Admin))
	return nil
}

// readMultipartCreate reads a multipart create: an optional `name` field
// and one `file` part, streamed to the spool directory under the upload
// limit while its format is checked.
func (s *Server) readMultipartCreate(c *gin.Context, boundary string, req *chimerax.CreateRequest) (*structure.Upload, error) {
	if boundary == "" {
		return nil, fmt.Errorf("%w: multipart body without a boundary", errBadRequest)
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxUploadBytes+maxJSONBody)
	mr := multipart.NewReader(body, boundary)
	var upload *structure.Upload
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return upload, bodyError(err)
		}
		switch part.FormName() {
		case "file":
			if upload != nil {
				return upload, fmt.Errorf("%w: more than one file part", errBadRequest)
			}
			limited := &limitedReader{r: part, n: s.cfg.MaxUploadBytes}
			upload, err = structure.SaveUpload(s.cfg.SpoolDir, part.FileName(), limited, s.cfg.MaxUncompressedBytes)
			if err != nil {
				return nil, bodyError(err)
			}
			req.Upload = upload
		case "name":
			v, err := io.ReadAll(io.LimitReader(part, 1024))
			if err != nil {
				return upload, bodyError(err)
			}
			req.Name = string(v)
		default:
			return upload, fmt.Errorf("%w: unknown form field %q: want name and file", errBadRequest, truncate(part.FormName(), 40))
		}
	}
	if upload == nil {
		return nil, fmt.Errorf("%w: multipart create without a file part", errBadRequest)
	}
	return upload, nil
}

// limitedReader fails with ErrTooLarge once more than n bytes are read.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errUploadTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errUploadTooLarge
	}
	return n, err
}

var errUploadTooLarge = fmt.Errorf("%w: upload over limits.max_upload_bytes", chimerax.ErrTooLarge)

// bodyError classifies an error met while reading a request body.
func bodyError(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) {
		return err // the server's disk, not the client's body
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: the body arrived slower than http.min_upload_rate allows", errBodyTimeout)
	}
	for _, known := range []error{chimerax.ErrTooLarge, chimerax.ErrUnsupportedFormat, chimerax.ErrInvalid} {
		if errors.Is(err, known) {
			return err
		}
	}
	return fmt.Errorf("%w: %v", errBadRequest, err)
}

// decodeJSON decodes one JSON object from the body into v, refusing unknown
// fields, trailing data and bodies over maxJSONBody. An empty body is {}.
func decodeJSON(c *gin.Context, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxJSONBody))
	if err != nil {
		return bodyError(err)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if body[0] != '{' {
		return fmt.Errorf("%w: the body must be a JSON object", errBadRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: JSON body: %v", errBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: JSON body: data after the object", errBadRequest)
	}
	return nil
}

func (s *Server) listSessions(c *gin.Context) error {
	who := caller(c)
	f := store.SessionFilter{Owner: who.Name, After: c.Query("cursor"), Limit: 100}
	if who.Admin {
		f.Owner = c.Query("user")
	} else if u := c.Query("user"); u != "" && u != who.Name {
		return fmt.Errorf("%w: only admins may list other users' sessions", errForbidden)
	}
	switch st := c.Query("state"); {
	case st == "live":
		f.Live = true
	case st != "" && !store.State(st).Valid():
		return fmt.Errorf("%w: state=%q: want live, starting, ready, stopping, terminated or failed", errBadRequest, truncate(st, 20))
	case st != "":
		f.State = store.State(st)
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("%w: limit=%q: want 1 to 1000", errBadRequest, truncate(l, 20))
		}
		f.Limit = n
	}
	recs, next, err := s.sv.Sessions(c, f)
	if err != nil {
		return err
	}
	out := struct {
		Sessions   []SessionView `json:"sessions"`
		NextCursor string        `json:"next_cursor,omitempty"`
	}{Sessions: make([]SessionView, 0, len(recs)), NextCursor: next}
	for _, r := range recs {
		out.Sessions = append(out.Sessions, s.view(r, who.Admin))
	}
	c.JSON(http.StatusOK, out)
	return nil
}

// session loads the session named in the path for the caller: another
// user's session is not found, exactly as a missing one. Reading is not
// activity (chimerax/activity.go): the endpoints that are say so.
func (s *Server) session(c *gin.Context) (chimerax.Info, error) {
	id, who := c.Param("id"), caller(c)
	rec, err := s.sv.Session(c, id)
	if err != nil {
		return rec, err
	}
	if rec.Owner != who.Name && !who.Admin {
		return chimerax.Info{}, fmt.Errorf("%w: %s", chimerax.ErrNotFound, id)
	}
	return rec, nil
}

func (s *Server) getSession(c *gin.Context) error {
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	answerJSON(c, http.StatusOK, s.view(rec, caller(c).Admin))
	return nil
}

func (s *Server) heartbeat(c *gin.Context) error {
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	// The owner's or an admin's: it keeps the session alive. An ended
	// session answers where it is.
	if rec, err = s.sv.TouchRecord(rec); err != nil {
		return err
	}
	answerJSON(c, http.StatusOK, heartbeatAnswer{rec.ID, apiTime(rec.LastActivityAt), apiTime(rec.IdleExpiresAt)})
	return nil
}

// heartbeatAnswer is the answer to PUT /api/sessions/{id}/heartbeat.
type heartbeatAnswer struct {
	ID             string  `json:"id"`
	LastActivityAt apiTime `json:"last_activity_at"`
	IdleExpiresAt  apiTime `json:"idle_expires_at"`
}

// MarshalJSON writes the answer without reflection: it is on the
// heartbeat's hot path.
func (h heartbeatAnswer) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 128)
	b = append(b, `{"id":`...)
	b = appendJSONString(b, h.ID)
	b = append(b, `,"last_activity_at":`...)
	b = h.LastActivityAt.appendJSON(b)
	b = append(b, `,"idle_expires_at":`...)
	b = h.IdleExpiresAt.appendJSON(b)
	return append(b, '}'), nil
}

// answerJSON answers v's JSON. Unlike c.JSON, it does not run the bytes
// v.MarshalJSON returns through encoding/json's check and compaction
// again: the views are on the hot paths.
func answerJSON(c *gin.Context, status int, v json.Marshaler) {
	b, err := v.MarshalJSON()
	if err != nil {
		c.Error(err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	c.Data(status, "application/json; charset=utf-8", b)
}

func (s *Server) deleteSession(c *gin.Context) error {
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	reason := store.ReasonDeleted
	if r := c.Query("reason"); r != "" {
		if !caller(c).Admin || store.Reason(r) != store.ReasonAdminKill {
			return fmt.Errorf("%w: reason=%q: only admins, and only admin_kill", errBadRequest, truncate(r, 20))
		}
		reason = store.ReasonAdminKill
	}
	rec, err = s.sv.Stop(c, rec.ID, reason)
	if err != nil {
		return err
	}
	answerJSON(c, http.StatusOK, s.view(rec, caller(c).Admin))
	return nil
}

// restartSession replaces the session's ChimeraX (owner or admin).
func (s *Server) restartSession(c *gin.Context) error {
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	if rec, err = s.sv.Restart(c, rec.ID); err != nil {
		if !rec.State.Live() && rec.ID != "" {
			return &failedSession{id: rec.ID, err: err}
		}
		return err
	}
	answerJSON(c, http.StatusOK, s.view(rec, caller(c).Admin))
	return nil
}
