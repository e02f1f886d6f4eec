// Package rest is chimerad's client of ChimeraX's REST server (remotecontrol
// rest, JSON mode): one command line a request, one request at a time, the
// envelope parsed exactly (docs/chimerax-protocol.md). It knows nothing of
// sessions; it imports nothing of this module.
package rest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Result is ChimeraX's answer to one /run request (docs/chimerax-protocol.md, JSON mode).
type Result struct {
	// JSONValues holds one entry per command run: the command's JSON value,
	// decoded once from ChimeraX's double encoding, or nil.
	JSONValues []json.RawMessage `json:"json_values"`
	// PythonValues are the commands' return values made JSON-friendly.
	PythonValues []json.RawMessage `json:"python_values,omitempty"`
	Log          Log               `json:"log"`
	// Error is set when the command raised; nil on success.
	Error *CommandError `json:"error"`
}

// OK reports whether the command succeeded.
func (r *Result) OK() bool { return r.Error == nil && len(r.Log.Error) == 0 }

// Log holds the messages logged while a command ran, by ChimeraX's level.
type Log struct {
	Note    []string `json:"note"`
	Warning []string `json:"warning"`
	Error   []string `json:"error"`
	Bug     []string `json:"bug"`
}

// CommandError is the exception a command raised, by Python class name.
type CommandError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (e *CommandError) Error() string { return e.Type + ": " + e.Message }

// Message returns the error's text for people: the exception's message, or
// the logged error lines when ChimeraX logged an error without raising.
func (r *Result) Message() string {
	if r.Error != nil {
		return r.Error.Message
	}
	return strings.TrimSpace(strings.Join(r.Log.Error, ""))
}

// Dialer connects to a child's REST server.
type Dialer func(ctx context.Context) (net.Conn, error)

// Client talks to one ChimeraX REST server. ChimeraX serves one request at a
// time, so the client sends one at a time too; a caller waiting its turn
// gives up when its context ends.
type Client struct {
	dial Dialer
	http *http.Client // for Ping
	turn chan struct{}
}

// maxReply bounds a /run answer; a bigger one is a protocol error.
const maxReply = 64 << 20

// NewClient returns a client that reaches the server through dial.
func NewClient(dial Dialer) *Client {
	tr := &http.Transport{
		DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		DisableKeepAlives: true, // ChimeraX closes every connection anyway (HTTP/1.0)
		MaxIdleConns:      -1,
	}
	return &Client{dial: dial, http: &http.Client{Transport: tr}, turn: make(chan struct{}, 1)}
}

// Run runs one command line and returns ChimeraX's result. A command that
// raised is not an error here: see Result.Error. Errors are for the
// transport: ErrCommandTimeout when ctx's deadline passes, ErrUnavailable
// when the child does not answer, ErrProtocol when it answers oddly.
func (c *Client) Run(ctx context.Context, command string) (*Result, error) {
	select {
	case c.turn <- struct{}{}:
		defer func() { <-c.turn }()
	case <-ctx.Done():
		return nil, c.ctxErr(ctx)
	}
	resp, body, err := c.get(ctx, "/run?command="+url.QueryEscape(command))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: /run answered %s", ErrProtocol, resp.Status)
	}
	if len(body) > maxReply {
		return nil, fmt.Errorf("%w: reply over %d bytes", ErrProtocol, maxReply)
	}
	// ChimeraX up to 1.10 sends its JSON as text/plain; 1.11 as application/json.
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && mt != "text/plain" {
		return nil, fmt.Errorf("%w: content type %q", ErrProtocol, resp.Header.Get("Content-Type"))
	}
	return ParseResult(body)
}

// get sends one GET for path on a connection of its own (ChimeraX closes
// each after its answer) and reads the answer, all in the calling
// goroutine: net/http's Transport would dial, write and read in
// goroutines of its own, a hand-off each on a command's path.
func (c *Client) get(ctx context.Context, path string) (*http.Response, []byte, error) {
	fail := func(what string, err error) error {
		if ctx.Err() != nil {
			return c.ctxErr(ctx)
		}
		return fmt.Errorf("%w: %s%s", ErrUnavailable, what, transport(err))
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, nil, fail("", err)
	}
	defer conn.Close()
	// ctx's end (its deadline or a cancel) ends the exchange at once; ctx
	// is done by then, so fail reports it rather than the i/o error.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := "GET " + path + " HTTP/1.1\r\nHost: chimerax\r\nUser-Agent: chimerad\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, nil, fail("", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, nil, fail("", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return nil, nil, fail("reading its reply: ", err)
	}
	return resp, body, nil
}

func (c *Client) ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrCommandTimeout
	}
	return ctx.Err()
}

// Close releases the client's idle resources.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// envelope is the JSON object ChimeraX's REST server writes in JSON mode.
type envelope struct {
	JSONValues   []*string         `json:"json values"`
	PythonValues []json.RawMessage `json:"python values"`
	LogMessages  *struct {
		Note    []string `json:"note"`
		Warning []string `json:"warning"`
		Error   []string `json:"error"`
		Bug     []string `json:"bug"`
	} `json:"log messages"`
	Error *CommandError `json:"error"`
}

// ParseResult parses the body of a JSON-mode /run answer. Every key of the
// envelope must be present; "json values" entries are JSON-encoded strings
// (or null) and are decoded once.
func ParseResult(body []byte) (*Result, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%w: reply is not a JSON object: %v", ErrProtocol, err)
	}
	for _, k := range []string{"json values", "python values", "log messages", "error"} {
		if _, ok := raw[k]; !ok {
			return nil, fmt.Errorf("%w: reply has no %q", ErrProtocol, k)
		}
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if env.LogMessages == nil {
		return nil, fmt.Errorf("%w: \"log messages\" is null", ErrProtocol)
	}
	r := &Result{
		PythonValues: env.PythonValues,
		Log: Log{
			Note:    nonNil(env.LogMessages.Note),
			Warning: nonNil(env.LogMessages.Warning),
			Error:   nonNil(env.LogMessages.Error),
			Bug:     nonNil(env.LogMessages.Bug),
		},
		Error:      env.Error,
		JSONValues: make([]json.RawMessage, len(env.JSONValues)),
	}
	for i, s := range env.JSONValues {
		if s == nil {
			r.JSONValues[i] = json.RawMessage("null")
			continue
		}
		if !json.Valid([]byte(*s)) {
			return nil, fmt.Errorf("%w: json value %d is not JSON: %q", ErrProtocol, i, *s)
		}
		r.JSONValues[i] = json.RawMessage(*s)
	}
	return r, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Ping asks the REST server for its static command-line page, which it
// serves without running a command. It does not wait for the client's
// turn: a probe must not queue behind a hung command of ours.
func (c *Client) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://chimerax/cmdline.html", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrUnavailable, transport(err))
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: /cmdline.html answered %s", ErrProtocol, resp.Status)
	}
	return nil
}

// Errors of the transport. The chimerax package re-exports them.
var (
	// ErrCommandTimeout: a command did not finish within its timeout.
	ErrCommandTimeout = errors.New("chimerax: command timed out")
	// ErrUnavailable: the child is not running or does not answer.
	ErrUnavailable = errors.New("chimerax: child unavailable")
	// ErrProtocol: the child answered, but not as ChimeraX's REST server does.
	ErrProtocol = errors.New("chimerax: protocol error")
)

// Map returns a copy of r with f applied to every text it holds: log
// messages, the error's message, and the JSON and Python values (where
// the result is still valid JSON; else the value stays).
func (r *Result) Map(f func(string) string) *Result {
	out := *r
	texts := func(in []string) []string {
		o := make([]string, len(in))
		for i, s := range in {
			o[i] = f(s)
		}
		return o
	}
	out.Log = Log{Note: texts(r.Log.Note), Warning: texts(r.Log.Warning), Error: texts(r.Log.Error), Bug: texts(r.Log.Bug)}
	if r.Error != nil {
		out.Error = &CommandError{Type: r.Error.Type, Message: f(r.Error.Message)}
	}
	values := func(in []json.RawMessage) []json.RawMessage {
		o := make([]json.RawMessage, len(in))
		for i, v := range in {
			if o[i] = json.RawMessage(f(string(v))); !json.Valid(o[i]) {
				o[i] = v
			}
		}
		return o
	}
	out.JSONValues, out.PythonValues = values(r.JSONValues), values(r.PythonValues)
	return &out
}

// transport says what went wrong on the wire without the request's URL
// (which holds the command, and so paths) or the socket's address (which
// holds the port): the innermost error, "EOF" in words.
func transport(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the connection closed without a reply"
	}
	return err.Error()
}
