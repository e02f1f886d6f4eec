//go:build linux

package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/chimerax/chimeraxtest"
	"github.com/chimerad/chimerad/server"
)

// TestConnectionsPerClient: a client that holds http.max_conns_per_client
// connections gets its next one answered 429 too_many_connections and
// closed; closing one lets the next in.
func TestConnectionsPerClient(t *testing.T) {
	d := MustServe(t, options{server: func(c *server.Config) { c.MaxConnsPerClient = 8 }})
	alice := d.mustUser(t, "alice", false)
	addr := strings.TrimPrefix(d.URL, "http://")
	var held []net.Conn
	for range 8 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// The listener counts a connection when it accepts it: poll until the
	// ninth is refused.
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", alice)
		resp, err = http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err == nil && resp.StatusCode == 429 || time.Now().After(deadline) {
			break
		}
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 429 || !strings.Contains(string(body), "too_many_connections") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("connection over the cap = %d %s, want 429 too_many_connections with Retry-After", resp.StatusCode, body)
	}
	held[0].Close()
	held = held[1:]
	chimeraxtest.WaitFor(t, 10*time.Second, "a connection once one is closed", func() bool {
		r, _ := d.call(t, "GET", "/api/me", alice, nil)
		return r.StatusCode == 200
	})
}

// TestSlowUploadTimesOut: a body that stalls past its deadline (here a
// 1 s base, as the test cannot wait the default minute) fails with 408
// request_timeout instead of holding the connection.
func TestSlowUploadTimesOut(t *testing.T) {
	d := MustServe(t, options{server: func(c *server.Config) { c.BodyTimeout = time.Second }})
	alice := d.mustUser(t, "alice", false)
	c, err := net.Dial("tcp", strings.TrimPrefix(d.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{", alice)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 408 || !strings.Contains(string(body), "request_timeout") {
		t.Errorf("stalled body = %d %s, want 408 request_timeout", resp.StatusCode, body)
	}
}

// TestLargeGzipBoundedByMemory: a generated gzip upload, small on the wire
// and inside limits.max_uncompressed_bytes, that would inflate past a
// tenth of chimerax.memory_max is refused 413 before any ChimeraX sees it.
func TestLargeGzipBoundedByMemory(t *testing.T) {
	d := MustServe(t, options{sv: func(c *chimerax.Config) { c.MemoryMax = 100 << 20 }})
	alice := d.mustUser(t, "alice", false)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	line := []byte("ATOM      1  N   PRO A   1      -2.555   9.253  34.411  1.00 30.60           N  \n")
	for range (20 << 20) / len(line) { // 20 MiB of ATOM lines: over 100 MiB / 10
		zw.Write(line)
	}
	zw.Close()
	resp, body := d.upload(t, alice, "big.pdb.gz", gz.Bytes(), nil)
	if resp.StatusCode != 413 || !strings.Contains(string(body), "too_large") {
		t.Errorf("a %d KiB gzip of 20 MiB with memory_max 100 MiB = %d %s, want 413 too_large", gz.Len()>>10, resp.StatusCode, body)
	}
}
