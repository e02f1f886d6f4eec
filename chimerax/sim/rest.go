package sim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// This file is ChimeraX's REST server (rest_server/server.py): Python's
// http.server.HTTPServer with a BaseHTTPRequestHandler. It serves one
// connection at a time, start to finish, on 127.0.0.1 only; it answers in
// HTTP/1.0 and closes every connection; it has no timeouts, so a client that
// connects and says nothing holds up everyone else, as in ChimeraX.

// restServer is a started REST server.
type restServer struct {
	json bool // reply with the JSON envelope
	log  bool // also log to stdout, and echo commands
	ln   net.Listener
	port int
}

// serverHeader is what Python 3.11's BaseHTTPRequestHandler sends.
const serverHeader = "BaseHTTP/0.6 Python/3.11.4"

// cmdRESTStart starts the REST server. As in ChimeraX, a server that cannot
// bind its port (already in use, say) is no error: a traceback goes to
// stderr, no port line appears, and "remotecontrol rest port" says the server
// is not running.
func (s *simulator) cmdRESTStart(c *call) (result, error) {
	if c.bool("ssl", false) {
		return result{}, &commandError{class: "LimitationError", msg: "SSL is not supported by the chimerad simulator"}
	}
	if s.rest != nil {
		// ChimeraX logs this and ignores the new settings, except (from
		// 1.9 on) log; it is no exception.
		s.log(levelError, "REST server is already running")
		if c.has("log") {
			s.rest.log = c.bool("log", false)
		}
		return result{}, nil
	}
	s.restServerSeq++
	if s.knobs.noPort {
		s.rest = &restServer{} // started, and never listening
		return result{}, nil
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.int("port", 0))))
	if err != nil {
		s.errOut.print(fmt.Sprintf("Exception in thread Thread-%d (run):\nTraceback (most recent call last):\n"+
			"  File \"/opt/UCSF/ChimeraX/lib/python3.11/threading.py\", line 1038, in _bootstrap_inner\n"+
			"    self.run()\n"+
			"%s\n", s.restServerSeq, pythonOSError(err)))
		return result{}, nil
	}
	rs := &restServer{json: c.bool("json", false), log: c.bool("log", false), ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	s.rest = rs
	// The server thread prints the port line to the real stdout, and logs it
	// with the address of the command-line page; neither goes into a REST
	// reply.
	line := fmt.Sprintf("REST server started on host 127.0.0.1 port %d", rs.port)
	s.out.print(line + "\n")
	if !s.opts.silent {
		s.printLog(levelNote, fmt.Sprintf("%s\nVisit http://127.0.0.1:%d/cmdline.html for CLI interface\n", line, rs.port))
	}
	go s.serveREST(rs)
	return result{}, nil
}

// cmdRESTStop stops the REST server.
func (s *simulator) cmdRESTStop(c *call) (result, error) {
	rs := s.rest
	s.rest = nil
	if rs != nil && rs.ln != nil {
		rs.ln.Close() // the request being served, if any, is still answered
	}
	switch {
	case rs == nil:
		s.log(levelNote, "REST server is not running")
	case !c.bool("quiet", false):
		s.log(levelNote, "REST server stopped")
	}
	return result{}, nil
}

// cmdRESTPort reports the REST server's port.
func (s *simulator) cmdRESTPort(*call) (result, error) {
	if s.rest == nil || s.rest.ln == nil {
		s.log(levelNote, "REST server is not running")
	} else {
		s.log(levelNote, fmt.Sprintf("REST server is listening on host 127.0.0.1 port %d", s.rest.port))
	}
	return result{}, nil
}

// serveREST serves connections, one at a time, until the server is stopped.
func (s *simulator) serveREST(rs *restServer) {
	for {
		conn, err := rs.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // out of file descriptors, say
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.serveConn(rs, conn)
	}
}

// exchange is one HTTP request and its reply.
type exchange struct {
	s      *simulator
	rs     *restServer
	conn   net.Conn
	in     *bufio.Reader
	method string
	header textproto.MIMEHeader
	read   bool // the request body has been read
	http09 bool // replies get no status line or headers
}

// serveConn answers the one request a connection carries, then closes it.
func (s *simulator) serveConn(rs *restServer, conn net.Conn) {
	x := &exchange{s: s, rs: rs, conn: conn, in: bufio.NewReader(conn)}
	x.serve()
	x.discardBody()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	conn.Close()
}

// serve parses the request as BaseHTTPRequestHandler.parse_request does and
// dispatches it.
func (x *exchange) serve() {
	// Until the request line names a version, Python's handler takes the
	// request for HTTP/0.9, and its replies, errors included, have no status
	// line or headers.
	x.http09 = true
	line, tooLong, err := readLine(x.in, 65536)
	switch {
	case tooLong:
		x.http09 = false
		x.sendError(414, "", "")
		return
	case err != nil && line == "":
		return // the client went away
	}
	requestLine := strings.TrimRight(line, "\r\n")
	words := strings.Fields(requestLine)
	if len(words) == 0 {
		return
	}
	if len(words) >= 3 {
		version := words[len(words)-1]
		major, _, ok := parseHTTPVersion(version)
		if !ok {
			x.sendError(400, fmt.Sprintf("Bad request version (%s)", pyRepr(version)), "")
			return
		}
		if major >= 2 {
			x.sendError(505, fmt.Sprintf("Invalid HTTP version (%s)", strings.TrimPrefix(version, "HTTP/")), "")
			return
		}
		x.http09 = false
	}
	if len(words) > 3 {
		x.sendError(400, fmt.Sprintf("Bad request syntax (%s)", pyRepr(requestLine)), "")
		return
	}
	if len(words) == 2 {
		if words[0] != "GET" {
			x.sendError(400, fmt.Sprintf("Bad HTTP/0.9 request type (%s)", pyRepr(words[0])), "")
			return
		}
	}
	x.method = words[0]
	target := words[1]
	if strings.HasPrefix(target, "//") {
		target = "/" + strings.TrimLeft(target, "/")
	}
	header, err := textproto.NewReader(x.in).ReadMIMEHeader()
	if err != nil {
		x.sendError(431, "Line too long", "")
		return
	}
	x.header = header
	switch x.method {
	case "GET", "POST":
		x.doGet(target)
	case "OPTIONS":
		x.sendError(405, "", "")
	default:
		x.sendError(501, fmt.Sprintf("Unsupported method (%s)", pyRepr(x.method)), "")
	}
}

// doGet is the handler's do_GET, which also serves POST.
func (x *exchange) doGet(target string) {
	path, query := splitTarget(target)
	if path != "/run" {
		switch path {
		case "/cmdline.html":
			x.reply("text/html", []byte(cmdlineHTML))
		case "/favicon.ico":
			x.reply("image/png", favicon)
		default:
			x.sendError(404, "", "")
		}
		return
	}
	args := parseQS(query)
	if x.method == "POST" {
		fields, err := x.parsePost()
		if err != nil {
			// An exception in the handler: socketserver prints it and
			// closes the connection without a reply.
			x.s.errOut.print(fmt.Sprintf("----------------------------------------\n"+
				"Exception occurred during processing of request from %s\n%s\n"+
				"----------------------------------------\n", x.conn.RemoteAddr(), err))
			return
		}
		args["command"] = append(args["command"], fields["command"]...)
		if len(args["command"]) == 0 {
			delete(args, "command")
		}
	}
	commands, present := args["command"]
	body, contentType := x.s.runREST(x.rs, commands, present)
	x.reply(contentType, body)
}

// runREST runs a /run request's commands and returns the reply body, as the
// handler's _run does: log messages are collected rather than printed (unless
// "log true"), a NotABug error stops the commands and is logged as a note,
// and in JSON mode the values of the last command parameter are returned.
// "exit" ends the process before any reply, and so does any other exception
// in plain mode, where ChimeraX re-raises it on its main thread.
func (s *simulator) runREST(rs *restServer, commands []string, present bool) ([]byte, string) {
	s.exec.Lock()
	defer s.exec.Unlock()
	c := &capture{propagate: rs.log}
	s.capture = c
	defer func() { s.capture = nil }()

	var (
		values  []result
		failure *commandError
	)
	if !present {
		s.log(levelError, `"command" parameter missing`)
	}
	for _, text := range commands {
		res, err := s.runText(validUTF8(text), fromREST, rs.log, rs.json)
		if err == nil {
			values = res
			continue
		}
		if errors.Is(err, errExit) {
			s.exit(exitOK)
		}
		var ce *commandError
		if !errors.As(err, &ce) {
			ce = &commandError{class: "RuntimeError", msg: err.Error()}
		}
		if !ce.notABug() && !rs.json {
			s.crash(ce)
		}
		values, failure = nil, ce
		if ce.notABug() {
			s.log(levelNote, ce.msg)
		}
		break
	}
	if !rs.json {
		return []byte(c.all.String()), "text/plain"
	}
	env := envelope{messages: c.byLevel, err: failure}
	for _, v := range values {
		python := v.python
		if !s.release.modelStrings {
			python = withoutModels(python)
		}
		env.jsonValues = append(env.jsonValues, v.json)
		env.pythonValues = append(env.pythonValues, python)
	}
	return []byte(env.encode()), s.release.jsonType
}

// parsePost reads a POST body's fields, as the handler's _parse_post does:
// multipart/form-data fields count; a URL-encoded body is read but its keys
// come out as bytes in Python and never match "command"; any other body is
// ignored.
func (x *exchange) parsePost() (map[string][]string, error) {
	mediaType, params := parseHeaderValue(x.header.Get("Content-Type"))
	switch mediaType {
	case "multipart/form-data":
		boundary, ok := params["boundary"]
		if !ok {
			return nil, errors.New("KeyError: 'boundary'")
		}
		// Like Python's cgi module, read up to the closing boundary; with a
		// Content-Length, no further.
		var body io.Reader = x.in
		length, err := strconv.ParseInt(x.header.Get("Content-Length"), 10, 64)
		limited := err == nil
		if limited {
			body = io.LimitReader(x.in, length)
		}
		fields := map[string][]string{}
		mr := multipart.NewReader(body, boundary)
		for {
			part, err := mr.NextRawPart()
			if err != nil {
				break // the end, or a body Python's cgi module would also give up on
			}
			value, err := io.ReadAll(io.LimitReader(part, 64<<20))
			if name := part.FormName(); name != "" && err == nil {
				fields[name] = append(fields[name], validUTF8(string(value)))
			}
		}
		if limited { // read the rest of the declared length
			x.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			io.Copy(io.Discard, body)
		}
		x.read = true
		return fields, nil
	case "application/x-www-form-urlencoded":
		n, err := strconv.ParseInt(x.header.Get("Content-Length"), 10, 64)
		if err != nil {
			return nil, errors.New("TypeError: int() argument must be a string, a bytes-like object or a real number, not 'NoneType'")
		}
		x.read = true
		io.CopyN(io.Discard, x.in, n)
	}
	return nil, nil
}

// discardBody reads a request body nobody read, so that closing the
// connection does not reset it before the client has read the reply.
func (x *exchange) discardBody() {
	if x.read || x.header == nil {
		return
	}
	n, err := strconv.ParseInt(x.header.Get("Content-Length"), 10, 64)
	if err != nil || n <= 0 {
		return
	}
	x.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.CopyN(io.Discard, x.in, min(n, 64<<20))
}

// reply sends a 200 response.
func (x *exchange) reply(contentType string, body []byte) {
	x.write(200, "OK", [][2]string{{"Content-Type", contentType}, {"Content-Length", strconv.Itoa(len(body))}}, body)
}

// sendError sends an error page as send_error does, and logs the error on
// stderr as log_error does. An empty message or explanation is the status's
// default.
func (x *exchange) sendError(code int, message, explain string) {
	status := httpStatuses[code]
	if message == "" {
		message = status.phrase
	}
	if explain == "" {
		explain = status.explain
	}
	now := time.Now()
	x.s.errOut.print(fmt.Sprintf("127.0.0.1 - - [%02d/%s/%04d %02d:%02d:%02d] code %d, message %s\n",
		now.Day(), now.Month().String()[:3], now.Year(), now.Hour(), now.Minute(), now.Second(), code, message))
	body := fmt.Sprintf(errorPage, code, htmlEscape(message), code, htmlEscape(explain))
	headers := [][2]string{
		{"Connection", "close"},
		{"Content-Type", "text/html;charset=utf-8"},
		{"Content-Length", strconv.Itoa(len(body))},
	}
	if x.method == "HEAD" {
		body = ""
	}
	x.write(code, message, headers, []byte(body))
}

// write sends a response as send_response and end_headers do.
func (x *exchange) write(code int, reason string, headers [][2]string, body []byte) {
	if x.http09 {
		x.conn.Write(body)
		return
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.0 %d %s\r\n", code, reason)
	fmt.Fprintf(&b, "Server: %s\r\n", serverHeader)
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT"))
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	b.Write(body)
	x.conn.Write(b.Bytes())
}

// readLine reads a line as rfile.readline(limit+1) does; tooLong reports
// that it reached limit+1 bytes.
func readLine(r *bufio.Reader, limit int) (line string, tooLong bool, err error) {
	var b []byte
	for len(b) <= limit {
		c, err := r.ReadByte()
		if err != nil {
			return string(b), false, err
		}
		b = append(b, c)
		if c == '\n' {
			break
		}
	}
	if len(b) > limit {
		return "", true, nil
	}
	return string(b), false, nil
}

// parseHTTPVersion parses "HTTP/1.1" as parse_request does: two components
// of at most ten digits each.
func parseHTTPVersion(v string) (major, minor int, ok bool) {
	rest, ok := strings.CutPrefix(v, "HTTP/")
	if !ok {
		return 0, 0, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 2 {
		return 0, 0, false
	}
	var n [2]int
	for i, p := range parts {
		if p == "" || len(p) > 10 || strings.Trim(p, "0123456789") != "" {
			return 0, 0, false
		}
		n[i], _ = strconv.Atoi(p)
	}
	return n[0], n[1], true
}

// splitTarget splits a request target into path and query as urlparse
// does, dropping the fragment and any ";params" of the last path segment.
func splitTarget(target string) (path, query string) {
	target, _, _ = strings.Cut(target, "#")
	path, query, _ = strings.Cut(target, "?")
	if rest, ok := strings.CutPrefix(path, "http://"); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			path = rest[i:]
		} else {
			path = ""
		}
	}
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		if j := strings.IndexByte(path[i:], ';'); j >= 0 {
			path = path[:i+j]
		}
	}
	return path, query
}

// parseQS parses a query string as Python's urllib.parse.parse_qs does by
// default: "&"-separated, pairs without "=" or with an empty value dropped,
// "+" and %XX decoded leniently.
func parseQS(query string) map[string][]string {
	out := map[string][]string{}
	for _, pair := range strings.Split(query, "&") {
		name, value, ok := strings.Cut(pair, "=")
		if !ok || value == "" {
			continue
		}
		name, value = unquotePlus(name), unquotePlus(value)
		out[name] = append(out[name], value)
	}
	return out
}

// unquotePlus decodes "+" and %XX escapes, leaving malformed escapes as
// they are, and the bytes as UTF-8 with errors replaced.
func unquotePlus(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b = append(b, byte(n))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return validUTF8(string(b))
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// parseHeaderValue splits a Content-Type value as cgi.parse_header does: the
// value before the first ";" (case kept), then parameters with lower-cased
// names and unquoted values.
func parseHeaderValue(v string) (string, map[string]string) {
	parts := strings.Split(v, ";")
	params := map[string]string{}
	for _, p := range parts[1:] {
		name, value, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = strings.NewReplacer(`\\`, `\`, `\"`, `"`).Replace(value[1 : len(value)-1])
		}
		params[strings.ToLower(strings.TrimSpace(name))] = value
	}
	return strings.TrimSpace(parts[0]), params
}

// pyRepr quotes s as Python's repr of a str does, for ASCII text.
func pyRepr(s string) string {
	q := "'"
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = `"`
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	if q == "'" {
		s = strings.ReplaceAll(s, "'", `\'`)
	}
	return q + s + q
}

// htmlEscape is Python's html.escape(s, quote=False).
func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// httpStatuses are Python 3.11's http.HTTPStatus phrases and descriptions,
// for the statuses the server sends.
var httpStatuses = map[int]struct{ phrase, explain string }{
	400: {"Bad Request", "Bad request syntax or unsupported method"},
	404: {"Not Found", "Nothing matches the given URI"},
	405: {"Method Not Allowed", "Specified method is invalid for this resource"},
	414: {"Request-URI Too Long", "URI is too long"},
	431: {"Request Header Fields Too Large", "The server is unwilling to process the request because its header fields are too large"},
	501: {"Not Implemented", "Server does not support this operation"},
	505: {"HTTP Version Not Supported", "Cannot fulfill request"},
}

// errorPage is Python 3.11's DEFAULT_ERROR_MESSAGE, with its arguments in
// order: code, message, code, explanation.
const errorPage = `<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: %d</p>
        <p>Message: %s.</p>
        <p>Error code explanation: %d - %s.</p>
    </body>
</html>
`

// cmdlineHTML is the static command-line page. Like ChimeraX's, it posts
// commands to /run as multipart/form-data.
const cmdlineHTML = `<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>ChimeraX REST command line</title>
</head>
<body>
<h1>ChimeraX command line</h1>
<form id="cmdline" action="/run" method="post" enctype="multipart/form-data">
<input type="text" name="command" size="80" autofocus>
<input type="submit" value="Run">
</form>
<pre id="output"></pre>
<script>
document.getElementById("cmdline").addEventListener("submit", async (event) => {
  event.preventDefault();
  const reply = await fetch("/run", {method: "POST", body: new FormData(event.target)});
  document.getElementById("output").textContent = await reply.text();
});
</script>
</body>
</html>
`

// favicon is a small PNG, served as /favicon.ico with type image/png as
// ChimeraX serves its icon.
var favicon = func() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for y := range 16 {
		for x := range 16 {
			if (x-8)*(x-8)+(y-8)*(y-8) < 49 {
				img.SetNRGBA(x, y, color.NRGBA{R: 0x3b, G: 0x6e, B: 0xc6, A: 0xff})
			}
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}()
