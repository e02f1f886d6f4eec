package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"

	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
)

// A session's resources: its record and its log.
const (
	uriPrefix          = "chimerad://sessions/"
	sessionURITemplate = uriPrefix + "{id}"
	logURITemplate     = uriPrefix + "{id}/log"
)

// SessionURI and LogURI name a session's resources.
func SessionURI(id string) string { return uriPrefix + id }
func LogURI(id string) string     { return uriPrefix + id + "/log" }

// parseURI returns the session a resource URI names, and whether it is
// the session's log.
func parseURI(uri string) (id string, log, ok bool) {
	rest, ok := strings.CutPrefix(uri, uriPrefix)
	if !ok {
		return "", false, false
	}
	id, log = strings.CutSuffix(rest, "/log")
	if id == "" || strings.ContainsAny(id, "/?#") {
		return "", false, false
	}
	return id, log, true
}

func (s *Server) addResources() {
	s.srv.AddResourceTemplate(&gomcp.ResourceTemplate{
		Name:        "session",
		Title:       "A ChimeraX session",
		URITemplate: sessionURITemplate,
		MIMEType:    "application/json",
		Description: "One of your chimerad sessions as JSON: state, structure, idle_expires_at, execution_state, " +
			"termination_reason. Subscribe to be told when it changes (a command ran, its state changed, a checkpoint, " +
			"an idle warning).",
	}, s.readResource)
	s.srv.AddResourceTemplate(&gomcp.ResourceTemplate{
		Name:        "session-log",
		Title:       "A ChimeraX session's output",
		URITemplate: logURITemplate,
		MIMEType:    "text/plain",
		Description: "The last lines of what a session's ChimeraX printed. Subscribe to be told when commands add to it.",
	}, s.readResource)
}

// readResource reads a session's record or log. Reading is not activity.
func (s *Server) readResource(ctx context.Context, req *gomcp.ReadResourceRequest) (*gomcp.ReadResourceResult, error) {
	uri := req.Params.URI
	id, isLog, ok := parseURI(uri)
	if !ok {
		return nil, gomcp.ResourceNotFoundError(uri)
	}
	b := s.backend(req.Extra)
	if isLog {
		logs, err := b.Logs(ctx, id, DefaultLogLines)
		if err != nil {
			return nil, resourceError(uri, err)
		}
		boundLogs(&logs, MaxTextBytes)
		return &gomcp.ReadResourceResult{Contents: []*gomcp.ResourceContents{
			{URI: uri, MIMEType: "text/plain", Text: strings.Join(logs.Lines, "\n")},
		}}, nil
	}
	sess, err := b.Session(ctx, id)
	if err != nil {
		return nil, resourceError(uri, err)
	}
	text, err := json.Marshal(sess)
	if err != nil {
		return nil, err
	}
	return &gomcp.ReadResourceResult{Contents: []*gomcp.ResourceContents{
		{URI: uri, MIMEType: "application/json", Text: string(text)},
	}}, nil
}

// resourceError is err as a resource read answers it: a session that is
// not found (or not the user's) is a resource not found.
func resourceError(uri string, err error) error {
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		return gomcp.ResourceNotFoundError(uri)
	}
	if e != nil {
		return errors.New(e.Error())
	}
	return errors.New("internal error")
}

// listResources answers resources/list with the resources of the user's
// live sessions, which a client may show for attaching; the SDK's own list
// holds only fixed resources, and chimerad has none.
func (s *Server) listResources(next gomcp.MethodHandler) gomcp.MethodHandler {
	return func(ctx context.Context, method string, req gomcp.Request) (gomcp.Result, error) {
		if method != "resources/list" {
			return next(ctx, method, req)
		}
		list, err := s.backend(req.GetExtra()).Sessions(ctx, "", MaxListLimit)
		if err != nil {
			return nil, resourceError("", err)
		}
		res := &gomcp.ListResourcesResult{Resources: []*gomcp.Resource{}}
		for _, sess := range list {
			if !Live(sess.State) {
				continue
			}
			label := sess.ID
			if sess.Name != "" {
				label = sess.Name + " (" + sess.ID + ")"
			}
			res.Resources = append(res.Resources,
				&gomcp.Resource{URI: SessionURI(sess.ID), Name: "session " + label, MIMEType: "application/json",
					Description: "the session's record"},
				&gomcp.Resource{URI: LogURI(sess.ID), Name: "log of session " + label, MIMEType: "text/plain",
					Description: "the last lines of its ChimeraX output"})
		}
		return res, nil
	}
}

// subscribe starts telling req.Session of changes to one of the user's
// sessions' resources. Subscribing is no activity, unless the daemon runs
// with session.keep_connected, where it counts as an open event stream.
func (s *Server) subscribe(ctx context.Context, req *gomcp.SubscribeRequest) error {
	uri := req.Params.URI
	id, _, ok := parseURI(uri)
	if !ok {
		return gomcp.ResourceNotFoundError(uri)
	}
	b := s.backend(req.Extra)
	if _, err := b.Session(ctx, id); err != nil {
		return resourceError(uri, err)
	}
	s.watches.add(ctx, req.Session, uri, id, b)
	return nil
}

func (s *Server) unsubscribe(_ context.Context, req *gomcp.UnsubscribeRequest) error {
	s.watches.remove(req.Session, req.Params.URI)
	return nil
}

// watches turn sessions' events into notifications/resources/updated for
// the MCP sessions subscribed to their resources: one event subscription per
// chimerad session, however many subscribe to it, held while any does.
type watches struct {
	srv *gomcp.Server
	log zerolog.Logger

	mu      sync.Mutex
	subs    map[subscription]struct{}
	running map[string]*watch // by chimerad session id
	waited  map[*gomcp.ServerSession]bool
}

type subscription struct {
	ss  *gomcp.ServerSession
	uri string
	id  string
}

// watch is one session's event subscription; ready is closed once it
// holds (or failed: the session ended).
type watch struct {
	cancel context.CancelFunc
	ready  chan struct{}
}

func newWatches(srv *gomcp.Server, log zerolog.Logger) *watches {
	return &watches{srv: srv, log: log, subs: map[subscription]struct{}{},
		running: map[string]*watch{}, waited: map[*gomcp.ServerSession]bool{}}
}

// add subscribes ss to uri, of session id, watching the session through
// b. It returns once the session's events are followed, so that the
// subscriber is told of every event after its subscribe.
func (w *watches) add(ctx context.Context, ss *gomcp.ServerSession, uri, id string, b Backend) {
	w.mu.Lock()
	w.subs[subscription{ss, uri, id}] = struct{}{}
	if !w.waited[ss] {
		// The MCP session's end ends its subscriptions.
		w.waited[ss] = true
		go func() {
			ss.Wait()
			w.drop(ss)
		}()
	}
	wt := w.running[id]
	if wt != nil {
		w.mu.Unlock()
		select { // another subscriber started it
		case <-wt.ready:
		case <-ctx.Done():
		}
		return
	}
	wctx, cancel := context.WithCancel(context.Background())
	wt = &watch{cancel: cancel, ready: make(chan struct{})}
	w.running[id] = wt
	w.mu.Unlock()

	events, err := b.Events(wctx, id)
	close(wt.ready)
	if err != nil {
		w.stop(wt, id) // ended, or gone: nothing more will change
		return
	}
	go w.run(wctx, wt, id, b, events)
}

// remove unsubscribes ss from uri.
func (w *watches) remove(ss *gomcp.ServerSession, uri string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for sub := range w.subs {
		if sub.ss == ss && sub.uri == uri {
			delete(w.subs, sub)
			w.stopUnwatchedLocked(sub.id)
		}
	}
}

// drop ends the subscriptions of an MCP session that has closed.
func (w *watches) drop(ss *gomcp.ServerSession) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.waited, ss)
	for sub := range w.subs {
		if sub.ss == ss {
			delete(w.subs, sub)
			w.stopUnwatchedLocked(sub.id)
		}
	}
}

// stopUnwatchedLocked ends session id's event subscription if no one is
// subscribed to its resources any more.
func (w *watches) stopUnwatchedLocked(id string) {
	for sub := range w.subs {
		if sub.id == id {
			return
		}
	}
	if wt := w.running[id]; wt != nil {
		wt.cancel()
		delete(w.running, id)
	}
}

// stop forgets watch wt of session id, and ends it.
func (w *watches) stop(wt *watch, id string) {
	w.mu.Lock()
	if w.running[id] == wt {
		delete(w.running, id)
	}
	w.mu.Unlock()
	wt.cancel()
}

// run follows session id's events until ctx ends or the session does,
// resubscribing when it fell behind.
func (w *watches) run(ctx context.Context, wt *watch, id string, b Backend, events <-chan Event) {
	defer w.stop(wt, id)
	for {
		for ev := range events {
			w.notify(ctx, id, ev)
			if ev.Ended {
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		// Closed early: fell behind. Follow again, and say that whatever
		// was missed changed.
		var err error
		if events, err = b.Events(ctx, id); err != nil {
			w.notify(ctx, id, Event{Type: "state", Ended: true}) // it ended meanwhile
			return
		}
		w.notify(ctx, id, Event{Type: "command"})
	}
}

// notify tells the subscribers which of session id's resources ev changed:
// the record always, the log with a command or a state change.
func (w *watches) notify(ctx context.Context, id string, ev Event) {
	uris := []string{SessionURI(id)}
	if ev.Type == "command" || ev.Type == "state" {
		uris = append(uris, LogURI(id))
	}
	for _, uri := range uris {
		if err := w.srv.ResourceUpdated(ctx, &gomcp.ResourceUpdatedNotificationParams{URI: uri}); err != nil {
			w.log.Debug().Err(err).Str("session_id", id).Msg("mcp resource update")
		}
	}
}
