package sim

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestParseQS(t *testing.T) {
	tests := []struct {
		in   string
		want map[string][]string
	}{
		{"", map[string][]string{}},
		{"command=version", map[string][]string{"command": {"version"}}},
		{"command=open+1abc%3Bclose&command=info", map[string][]string{"command": {"open 1abc;close", "info"}}},
		{"command=a;b", map[string][]string{"command": {"a;b"}}},
		{"command=&x&=y", map[string][]string{"": {"y"}}},
		{"command=%zz%4", map[string][]string{"command": {"%zz%4"}}},
		{"command=%C2%A9%FF", map[string][]string{"command": {"©\uFFFD"}}},
		{"a=1=2", map[string][]string{"a": {"1=2"}}},
	}
	for _, tt := range tests {
		if got := parseQS(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseQS(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitTarget(t *testing.T) {
	tests := []struct{ in, path, query string }{
		{"/run?command=version", "/run", "command=version"},
		{"/run", "/run", ""},
		{"/run?command=close #1", "/run", "command=close "},
		{"/run;x?command=a", "/run", "command=a"},
		{"http://127.0.0.1:1234/run?command=a", "/run", "command=a"},
		{"/cmdline.html?x", "/cmdline.html", "x"},
	}
	for _, tt := range tests {
		if path, query := splitTarget(tt.in); path != tt.path || query != tt.query {
			t.Errorf("splitTarget(%q) = %q, %q, want %q, %q", tt.in, path, query, tt.path, tt.query)
		}
	}
}

func TestParseHeaderValue(t *testing.T) {
	tests := []struct {
		in        string
		mediaType string
		params    map[string]string
	}{
		{"multipart/form-data; boundary=abc", "multipart/form-data", map[string]string{"boundary": "abc"}},
		{`multipart/form-data; BOUNDARY="a b"`, "multipart/form-data", map[string]string{"boundary": "a b"}},
		{"Multipart/Form-Data;boundary=x", "Multipart/Form-Data", map[string]string{"boundary": "x"}},
		{"", "", map[string]string{}},
	}
	for _, tt := range tests {
		mediaType, params := parseHeaderValue(tt.in)
		if mediaType != tt.mediaType || !reflect.DeepEqual(params, tt.params) {
			t.Errorf("parseHeaderValue(%q) = %q, %q, want %q, %q", tt.in, mediaType, params, tt.mediaType, tt.params)
		}
	}
}

func TestRunRESTModes(t *testing.T) {
	pept, err := filepath.Abs(filepath.Join(testdata, "pept.pdb"))
	if err != nil {
		t.Fatal(err)
	}
	opened := `{"json values": ["{\"model specs\": [\"#1\"]}"], "python values": [%s], "log messages": {"note": ` +
		`["Opened pept.pdb as #1: 107 atoms, 112 bonds, 13 residues, 1 chains (E)\n"], "warning": [], "error": [], "bug": []}, "error": null}`
	tests := []struct {
		name        string
		release     string
		rs          restServer
		commands    []string
		body        string
		contentType string
		stdout      string
	}{
		{
			name: "plain", release: "1.11", rs: restServer{}, commands: []string{"version", "nosuch"},
			body:        "UCSF ChimeraX version: 1.11 (2025-12-16)\n© 2016-2025 Regents of the University of California.  All rights reserved.\nUnknown command: nosuch\n",
			contentType: "text/plain",
		},
		{
			name: "plain without command", release: "1.11", rs: restServer{}, commands: nil,
			body: "\"command\" parameter missing\n", contentType: "text/plain",
		},
		{
			name: "json with log", release: "1.11", rs: restServer{json: true, log: true}, commands: []string{"view"},
			body: `{"json values": [null], "python values": [null], "log messages": {"note": ["Executing: view\n"], ` +
				`"warning": [], "error": [], "bug": []}, "error": null}`,
			contentType: "application/json",
			stdout:      "INFO:\nExecuting: view\n",
		},
		{
			name: "json with a bug", release: "1.11", rs: restServer{json: true}, commands: []string{"log show"},
			body: `{"json values": [], "python values": [], "log messages": {"note": [], ` +
				`"warning": [], "error": [], "bug": []}, "error": {"type": "AttributeError", "message": "'NoneType' object has no attribute 'show'"}}`,
			contentType: "application/json",
		},
		{
			name: "open in 1.11", release: "1.11", rs: restServer{json: true}, commands: []string{"open " + pept},
			body: fmt.Sprintf(opened, `["pept.pdb #1"]`), contentType: "application/json",
		},
		{
			name: "open in 1.10", release: "1.10", rs: restServer{json: true}, commands: []string{"open " + pept},
			body: fmt.Sprintf(opened, `[null]`), contentType: "text/plain",
		},
		{
			name: "open in 1.8", release: "1.8", rs: restServer{json: true}, commands: []string{"open " + pept},
			body: fmt.Sprintf(opened, `[null]`), contentType: "text/plain",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, out := newTestSimulator(t)
			var ok bool
			if s.release, ok = findRelease(tt.release); !ok {
				t.Fatalf("no release %s", tt.release)
			}
			body, contentType := s.runREST(&tt.rs, tt.commands, tt.commands != nil)
			if string(body) != tt.body || contentType != tt.contentType || out.String() != tt.stdout {
				t.Errorf("runREST(%q) = %q, %q, stdout %q; want %q, %q, stdout %q",
					tt.commands, body, contentType, out, tt.body, tt.contentType, tt.stdout)
			}
		})
	}
}

// TestRawRequests sends requests that no well-behaved client sends, over a
// socket to a REST server in the test process, and compares the replies
// with what Python 3.11's http.server sends.
func TestRawRequests(t *testing.T) {
	s, out := newTestSimulator(t)
	stdin := func(text string) error { // as the stdin loop runs commands
		s.exec.Lock()
		defer s.exec.Unlock()
		_, err := s.runText(text, fromStdin, false, false)
		return err
	}
	if err := stdin("remotecontrol rest start port 0 json true"); err != nil {
		t.Fatal(err)
	}
	port := regexp.MustCompile(`port (\d+)\n`).FindStringSubmatch(out.String())[1]
	t.Cleanup(func() { stdin("remotecontrol rest stop quiet true") })

	// Before the request line names a version, replies are bare HTML.
	bare := func(code, message, explain string) string {
		return "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n" +
			"        <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n" +
			"        <p>Error code: " + code + "</p>\n        <p>Message: " + message + ".</p>\n" +
			"        <p>Error code explanation: " + code + " - " + explain + ".</p>\n    </body>\n</html>\n"
	}
	tests := []struct {
		name, request string
		want          string // the reply, or its first line when it has headers
	}{
		{"bad version", "GET /run HTTP/x\r\n\r\n", bare("400", "Bad request version ('HTTP/x')", "Bad request syntax or unsupported method")},
		{"HTTP/2", "GET /run HTTP/2.0\r\n\r\n", bare("505", "Invalid HTTP version (2.0)", "Cannot fulfill request")},
		{"too many words", "GET /run x HTTP/1.0\r\n\r\n", "HTTP/1.0 400 Bad request syntax ('GET /run x HTTP/1.0')"},
		{"HTTP/0.9 POST", "POST /run\r\n\r\n", bare("400", "Bad HTTP/0.9 request type ('POST')", "Bad request syntax or unsupported method")},
		{"HTTP/0.9 GET", "GET /run?command=wait\r\n\r\n",
			`{"json values": [null], "python values": [null], "log messages": {"note": [], "warning": [], "error": [], "bug": []}, "error": null}`},
		{"lower-case method", "get /run HTTP/1.1\r\n\r\n", "HTTP/1.0 501 Unsupported method ('get')"},
		{"HEAD", "HEAD /cmdline.html HTTP/1.1\r\n\r\n", "HTTP/1.0 501 Unsupported method ('HEAD')"},
		{"request line too long", "GET /" + strings.Repeat("x", 65536) + " HTTP/1.1\r\n\r\n", "HTTP/1.0 414 Request-URI Too Long"},
		{"double slash", "GET //cmdline.html HTTP/1.1\r\n\r\n", "HTTP/1.0 200 OK"},
		{"multipart without length", "POST /run HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n" +
			"--b\r\nContent-Disposition: form-data; name=\"command\"\r\n\r\nwait\r\n--b--\r\n", "HTTP/1.0 200 OK"},
		{"multipart without boundary", "POST /run HTTP/1.1\r\nContent-Type: multipart/form-data\r\nContent-Length: 0\r\n\r\n", ""},
		{"URL-encoded without length", "POST /run HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", "127.0.0.1:"+port)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tt.request); err != nil {
				t.Fatal(err)
			}
			reply, err := io.ReadAll(bufio.NewReader(conn))
			if err != nil {
				t.Fatal(err)
			}
			got := string(reply)
			if strings.HasPrefix(tt.want, "HTTP/") {
				got, _, _ = strings.Cut(got, "\r\n")
			}
			if got != tt.want {
				t.Errorf("reply to %.60q =\n%q\nwant\n%q", tt.request, got, tt.want)
			}
		})
	}
}
