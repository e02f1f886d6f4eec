package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chimerad/chimerad/server/mcp"
)

// apiClient is `chimerad mcp`'s mcp.Backend: the daemon's REST API, called
// with one user's token. Every call is the REST call it stands for, so the
// daemon applies the same ownership, policy, limits and activity.
type apiClient struct {
	base      string
	token     string
	userAgent string
	http      *http.Client
}

// Bounds of the REST client.
const (
	// apiCallTimeout bounds one call (not an event stream): the daemon's
	// own WriteTimeout.
	apiCallTimeout = 10 * time.Minute
	// maxAPIAnswer bounds an answer read into memory.
	maxAPIAnswer = 64 << 20
)

func newAPIClient(base, token, userAgent string) *apiClient {
	return &apiClient{base: base, token: token, userAgent: userAgent, http: &http.Client{}}
}

// request sends a request and returns the answer if it is a success; an
// error answer becomes the *mcp.Error its problem says, an unreachable
// daemon one of its own.
func (a *apiClient) request(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("User-Agent", a.userAgent)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &mcp.Error{Status: http.StatusServiceUnavailable, Code: "daemon_unavailable",
			Detail: fmt.Sprintf("chimerad does not answer at %s: %v", a.base, errors.Unwrap(err))}
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var p struct {
		Status    int    `json:"status"`
		Code      string `json:"code"`
		Detail    string `json:"detail"`
		SessionID string `json:"session_id"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer))
	if json.Unmarshal(data, &p) != nil || p.Code == "" {
		return nil, &mcp.Error{Status: resp.StatusCode, Code: "daemon_error", Detail: "the daemon answered " + resp.Status}
	}
	return nil, &mcp.Error{Status: resp.StatusCode, Code: p.Code, Detail: p.Detail, SessionID: p.SessionID}
}

// do sends a request and decodes its JSON answer into out (if not nil).
func (a *apiClient) do(ctx context.Context, method, path string, body io.Reader, contentType string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, apiCallTimeout)
	defer cancel()
	resp, err := a.request(ctx, method, path, body, contentType)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer))
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode %s %s: %w", method, path, err)
	}
	return nil
}

// doJSON sends v as a JSON body.
func (a *apiClient) doJSON(ctx context.Context, method, path string, v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.do(ctx, method, path, bytes.NewReader(b), "application/json", out)
}

func sessionPath(id string, rest ...string) string {
	return "/api/sessions/" + url.PathEscape(id) + strings.Join(rest, "")
}

func (a *apiClient) Sessions(ctx context.Context, state string, limit int) ([]mcp.Session, error) {
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	if state != "" {
		q.Set("state", state)
	}
	var list struct {
		Sessions []mcp.Session `json:"sessions"`
	}
	err := a.do(ctx, "GET", "/api/sessions?"+q.Encode(), nil, "", &list)
	return list.Sessions, err
}

func (a *apiClient) Session(ctx context.Context, id string) (mcp.Session, error) {
	var s mcp.Session
	err := a.do(ctx, "GET", sessionPath(id), nil, "", &s)
	return s, err
}

// Create posts a create: JSON for a PDB entry or an empty session,
// multipart with the text as the file for structure text, as an upload.
func (a *apiClient) Create(ctx context.Context, r mcp.CreateRequest) (mcp.Session, error) {
	var s mcp.Session
	if r.Structure == "" {
		err := a.doJSON(ctx, "POST", "/api/sessions", map[string]string{"pdb_id": r.PDBID, "name": r.Name}, &s)
		return s, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if r.Name != "" {
		mw.WriteField("name", r.Name)
	}
	fw, err := mw.CreateFormFile("file", r.Filename)
	if err != nil {
		return s, err
	}
	io.WriteString(fw, r.Structure)
	if err := mw.Close(); err != nil {
		return s, err
	}
	err = a.do(ctx, "POST", "/api/sessions", &body, mw.FormDataContentType(), &s)
	return s, err
}

func (a *apiClient) Command(ctx context.Context, id, line string) (mcp.CommandResult, error) {
	var res mcp.CommandResult
	err := a.doJSON(ctx, "POST", sessionPath(id, "/commands"), map[string]string{"command": line}, &res)
	res.ID = id
	return res, err
}

func (a *apiClient) Snapshot(ctx context.Context, id string, width, height int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, apiCallTimeout)
	defer cancel()
	q := url.Values{"width": {fmt.Sprint(width)}, "height": {fmt.Sprint(height)}}
	resp, err := a.request(ctx, "GET", sessionPath(id, "/snapshot?", q.Encode()), nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer))
}

func (a *apiClient) Logs(ctx context.Context, id string, lines int) (mcp.Logs, error) {
	var logs mcp.Logs
	err := a.do(ctx, "GET", sessionPath(id, "/logs?lines=", fmt.Sprint(lines)), nil, "", &logs)
	return logs, err
}

func (a *apiClient) Checkpoint(ctx context.Context, id string) (mcp.Checkpoint, error) {
	var cp struct {
		At        time.Time `json:"at"`
		SizeBytes int64     `json:"size_bytes"`
	}
	err := a.do(ctx, "POST", sessionPath(id, "/checkpoint"), nil, "", &cp)
	return mcp.Checkpoint{ID: id, At: cp.At, SizeBytes: cp.SizeBytes}, err
}

func (a *apiClient) End(ctx context.Context, id string) (mcp.Session, error) {
	var s mcp.Session
	err := a.do(ctx, "DELETE", sessionPath(id), nil, "", &s)
	return s, err
}

// Events follows GET .../events until ctx ends or the stream does.
func (a *apiClient) Events(ctx context.Context, id string) (<-chan mcp.Event, error) {
	resp, err := a.request(ctx, "GET", sessionPath(id, "/events"), nil, "")
	if err != nil {
		return nil, err
	}
	out := make(chan mcp.Event, 16)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var typ string
		first := true // the session's state as the stream opens: no change
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && typ != "":
				var data struct {
					State string `json:"state"`
				}
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &data)
				ev := mcp.Event{Type: typ, Ended: typ == "state" && !mcp.Live(data.State)}
				typ = ""
				if first && ev.Type == "state" && !ev.Ended {
					first = false
					continue
				}
				first = false
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
