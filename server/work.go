package server

import (
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
	"time"

	"github.com/gin-gonic/gin"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/structure"
	"github.com/chimerad/chimerad/store"
)

// Workspace is what the endpoints for working in a session need of the
// supervisor; *chimerax.Supervisor provides it.
type Workspace interface {
	Command(ctx context.Context, id, line string) (*chimerax.Result, error)
	Snapshot(ctx context.Context, id string, width, height int) (*os.File, error)
	AddFile(ctx context.Context, id string, u *structure.Upload) (store.Structure, *chimerax.Result, error)
	Checkpoint(ctx context.Context, id string) (store.Checkpoint, error)
	EventsAfter(ctx context.Context, id string, after uint64) (chimerax.Subscription, error)
	Files(ctx context.Context, id string) ([]chimerax.File, error)
	OpenFile(ctx context.Context, id, name string) (*os.File, chimerax.File, error)
	OpenCheckpoint(ctx context.Context, id string) (*os.File, store.Checkpoint, error)
}

// CommandResult is ChimeraX's answer to a command as the API shows it.
type CommandResult struct {
	OK         bool                   `json:"ok"`
	Log        chimerax.Log           `json:"log"`
	JSONValues []json.RawMessage      `json:"json_values"`
	Error      *chimerax.CommandError `json:"error"`
}

func commandResult(res *chimerax.Result) CommandResult {
	out := CommandResult{OK: res.OK(), Log: res.Log, JSONValues: res.JSONValues, Error: res.Error}
	if out.JSONValues == nil {
		out.JSONValues = []json.RawMessage{}
	}
	return out
}

// commandBody is the JSON body of POST /api/sessions/{id}/commands.
type commandBody struct {
	Command *string `json:"command"`
}

func (s *Server) runCommand(c *gin.Context) error {
	var body commandBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if body.Command == nil {
		return fmt.Errorf("%w: JSON body: command is required", errBadRequest)
	}
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	res, err := s.sv.Command(c, rec.ID, *body.Command)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, commandResult(res))
	return nil
}

// Snapshot sizes: the default, and the cap (chimerax.MaxSnapshotSide).
const (
	defaultSnapshotWidth  = 800
	defaultSnapshotHeight = 600
)

func (s *Server) snapshot(c *gin.Context) error {
	width, err := sizeParam(c, "width", defaultSnapshotWidth)
	if err != nil {
		return err
	}
	height, err := sizeParam(c, "height", defaultSnapshotHeight)
	if err != nil {
		return err
	}
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	f, err := s.sv.Snapshot(c, rec.ID, width, height)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.DataFromReader(http.StatusOK, fi.Size(), "image/png", f, nil)
	return nil
}

// sizeParam reads a snapshot dimension from the query.
func sizeParam(c *gin.Context, name string, def int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > chimerax.MaxSnapshotSide {
		return 0, fmt.Errorf("%w: %s=%q: want 1 to %d pixels", errBadRequest, name, truncate(v, 20), chimerax.MaxSnapshotSide)
	}
	return n, nil
}

// FileResult is the answer to POST /api/sessions/{id}/files.
type FileResult struct {
	Structure store.Structure `json:"structure"`
	CommandResult
}

func (s *Server) addFile(c *gin.Context) error {
	mt, params, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "multipart/form-data" {
		return fmt.Errorf("%w: %q: send multipart/form-data with a file part", errMediaType, truncate(c.GetHeader("Content-Type"), 80))
	}
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	upload, err := s.readFilePart(c, params["boundary"])
	if upload != nil {
		defer os.Remove(upload.Path) // gone already once AddFile moved it
	}
	if err != nil {
		return err
	}
	st, res, err := s.sv.AddFile(c, rec.ID, upload)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, FileResult{Structure: st, CommandResult: commandResult(res)})
	return nil
}

// readFilePart reads a multipart body of exactly one `file` part, streamed
// to the spool directory under the upload limit while its format is
// checked, as a create's is.
func (s *Server) readFilePart(c *gin.Context, boundary string) (*structure.Upload, error) {
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
		if part.FormName() != "file" {
			return upload, fmt.Errorf("%w: unknown form field %q: want one file", errBadRequest, truncate(part.FormName(), 40))
		}
		if upload != nil {
			return upload, fmt.Errorf("%w: more than one file part", errBadRequest)
		}
		limited := &limitedReader{r: part, n: s.cfg.MaxUploadBytes}
		if upload, err = structure.SaveUpload(s.cfg.SpoolDir, part.FileName(), limited, s.cfg.MaxUncompressedBytes); err != nil {
			return nil, bodyError(err)
		}
	}
	if upload == nil {
		return nil, fmt.Errorf("%w: multipart body without a file part", errBadRequest)
	}
	return upload, nil
}

// CheckpointView is a checkpoint as the API shows it: no path.
type CheckpointView struct {
	SessionID string    `json:"session_id"`
	At        time.Time `json:"at"`
	SizeBytes int64     `json:"size_bytes"`
}

func (s *Server) checkpoint(c *gin.Context) error {
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	cp, err := s.sv.Checkpoint(c, rec.ID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, gin.H{"session_id": rec.ID, "at": apiTime(cp.At), "size_bytes": cp.SizeBytes})
	return nil
}

// eventWriteTimeout bounds the write of one event to a client.
const eventWriteTimeout = 30 * time.Second

// events streams a session's events as Server-Sent Events: first its
// current state, then each event as it happens with its id, a comment line
// every Config.EventsHeartbeat, and at the end the final state. A client
// that reconnects with Last-Event-ID gets what it missed instead of the
// state, or a reset event and the state when the events kept no longer
// reach back. The stream ends when the session ends, when the client goes
// away, when the server shuts down, or when the client falls too far
// behind (it then reconnects).
func (s *Server) events(c *gin.Context) error {
	rec, err := s.session(c)
	if err != nil {
		return err
	}
	var after uint64
	if last := c.GetHeader("Last-Event-ID"); last != "" {
		if after, err = strconv.ParseUint(last, 10, 64); err != nil {
			return fmt.Errorf("%w: Last-Event-ID %q: want an event id", errBadRequest, truncate(last, 20))
		}
	}
	ctx := c.Request.Context()
	sub, err := s.sv.EventsAfter(ctx, rec.ID, after)
	switch {
	case errors.Is(err, chimerax.ErrNotLive):
		sub.Reset = after > 0 // ended: the state alone
	case err != nil:
		return err
	default:
		defer sub.Cancel()
	}
	// Read the state after subscribing, so no change falls in between.
	if rec, err = s.sv.Session(ctx, rec.ID); err != nil {
		return err
	}

	// The stream outlives the server's WriteTimeout: each write gets its
	// own deadline. (net/http lifts the read deadline once the handler
	// runs, to notice the client going away.)
	rc := http.NewResponseController(c.Writer)
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	write := func(text string) error {
		rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		if _, err := io.WriteString(c.Writer, text); err != nil {
			return err
		}
		return rc.Flush()
	}
	admin := caller(c).Admin
	send := func(ev chimerax.Event) error {
		if !admin {
			ev.Error = s.sv.Public(ev.Error)
		}
		data, err := json.Marshal(eventView(ev))
		if err != nil {
			return err
		}
		id := ""
		if ev.ID > 0 {
			id = "id: " + strconv.FormatUint(ev.ID, 10) + "\n"
		}
		return write(id + "event: " + ev.Type + "\ndata: " + string(data) + "\n\n")
	}
	// A browser's EventSource reconnects after a second, not its default 3.
	if write("retry: 1000\n\n") != nil {
		return nil
	}
	var first []chimerax.Event
	switch {
	case sub.Reset:
		first = []chimerax.Event{{Type: EventReset, SessionID: rec.ID, Time: time.Now()}, chimerax.StateEvent(rec.Session)}
	case after > 0:
		first = sub.Replay
	default:
		first = []chimerax.Event{chimerax.StateEvent(rec.Session)}
	}
	for _, ev := range first {
		if err := send(ev); err != nil {
			return nil
		}
	}
	if sub.C == nil {
		return nil
	}

	heartbeat := time.NewTicker(s.cfg.EventsHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				// Ended (without a final event we saw) or fell behind:
				// say where the session is, and end.
				if rec, err := s.sv.Session(context.WithoutCancel(ctx), rec.ID); err == nil {
					send(chimerax.StateEvent(rec.Session))
				}
				return nil
			}
			if err := send(ev); err != nil {
				return nil // the client went away
			}
			if ev.Type == chimerax.EventState && !ev.State.Live() {
				return nil
			}
		case <-heartbeat.C:
			if write(": keepalive\n\n") != nil {
				return nil
			}
		case <-ctx.Done():
			return nil
		case <-s.streamsDone:
			return nil
		}
	}
}

// EventReset is the event a reconnecting stream gets when the events kept
// no longer reach back to its Last-Event-ID: it missed some, and the state
// event that follows says where the session is.
const EventReset = "reset"

// eventView is an event as the stream writes it: times in UTC with
// milliseconds, like every time of the API.
func eventView(ev chimerax.Event) any {
	type checkpoint struct {
		At        apiTime `json:"at"`
		SizeBytes int64   `json:"size_bytes"`
	}
	v := struct {
		Type           string                 `json:"type"`
		SessionID      string                 `json:"session_id"`
		Time           apiTime                `json:"time"`
		State          store.State            `json:"state,omitempty"`
		Reason         store.Reason           `json:"reason,omitempty"`
		Error          string                 `json:"error,omitempty"`
		Command        *chimerax.CommandEvent `json:"command,omitempty"`
		IdleExpiresAt  *apiTime               `json:"idle_expires_at,omitempty"`
		Checkpoint     *checkpoint            `json:"checkpoint,omitempty"`
		ExecutionState string                 `json:"execution_state,omitempty"`
		BusySince      *apiTime               `json:"busy_since,omitempty"`
	}{
		Type: ev.Type, SessionID: ev.SessionID, Time: apiTime(ev.Time),
		State: ev.State, Reason: ev.Reason, Error: ev.Error, Command: ev.Command,
		ExecutionState: ev.ExecutionState,
	}
	if !ev.IdleExpiresAt.IsZero() {
		t := apiTime(ev.IdleExpiresAt)
		v.IdleExpiresAt = &t
	}
	if !ev.BusySince.IsZero() {
		t := apiTime(ev.BusySince)
		v.BusySince = &t
	}
	if ev.Checkpoint != nil {
		v.Checkpoint = &checkpoint{apiTime(ev.Checkpoint.At), ev.Checkpoint.SizeBytes}
	}
	return v
}
