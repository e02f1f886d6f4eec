package sim

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// webServer serves testdata files on 127.0.0.1 under /files/ and remembers
// every path asked for. /hang answers only when the test ends.
type webServer struct {
	*httptest.Server
	mu     sync.Mutex
	paths  []string
	agents []string
}

func newWebServer(t *testing.T) *webServer {
	t.Helper()
	ws := &webServer{}
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(testdata))))
	mux.HandleFunc("/structure", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(testdata, "pept.pdb"))
	})
	mux.HandleFunc("/script.py", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("print('ran')\n"))
	})
	mux.HandleFunc("/hang.pdb", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/big.pdb", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("REMARK  99 filler\n", 100)))
	})
	ws.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws.mu.Lock()
		ws.paths = append(ws.paths, r.URL.Path)
		ws.agents = append(ws.agents, r.UserAgent())
		ws.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(ws.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets /hang return
	return ws
}

// requested returns the paths asked for so far, and the User-Agents that
// asked.
func (ws *webServer) requested() (paths, agents []string) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return slices.Clone(ws.paths), slices.Clone(ws.agents)
}

// newWebSimulator returns a simulator whose HOME is a temporary directory
// with a Downloads directory in it, and that HOME.
func newWebSimulator(t *testing.T) (*simulator, *strings.Builder, string) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	if err := os.Mkdir(filepath.Join(home, "Downloads"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, out := newTestSimulator(t)
	return s, out, home
}

// refusedURL returns an http URL on 127.0.0.1 where nothing listens.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestOpenURL(t *testing.T) {
	ws := newWebServer(t)
	s, out, home := newWebSimulator(t)
	downloads := filepath.Join(home, "Downloads")

	u := ws.URL + "/files/pept.pdb"
	r := run(t, s, "open "+u)
	if got, want := []any{r[0].json, r[0].python}, []any{`{"model specs": ["#1"]}`, []any{modelValue("pept.pdb #1")}}; !reflect.DeepEqual(got, want) {
		t.Errorf("open %s = %#v, want %#v", u, got, want)
	}
	saved := filepath.Join(downloads, "pept.pdb")
	wantSummary := "Summary of feedback from opening " + strings.TrimPrefix(u, "http:") + " fetched from http\n---\n" +
		"notes | Fetching pept.pdb from " + u + "\nDownloaded pept.pdb to " + saved + "\n"
	if !strings.Contains(out.String(), wantSummary) {
		t.Errorf("open %s logged\n%s\nwant the summary\n%s", u, out, wantSummary)
	}
	if want, _ := os.ReadFile(filepath.Join(testdata, "pept.pdb")); !fileHolds(saved, string(want)) {
		t.Errorf("%s does not hold pept.pdb", saved)
	}
	if _, agents := ws.requested(); len(agents) != 1 || agents[0] != "UCSF-ChimeraX/1.11 (Linux)" {
		t.Errorf("User-Agent = %q, want ChimeraX's", agents)
	}

	// A second fetch of the same name does not overwrite the first.
	run(t, s, "open "+u)
	if !exists(filepath.Join(downloads, "pept(1).pdb")) {
		t.Errorf("second fetch of pept.pdb not saved as pept(1).pdb")
	}

	// dataFormat names the format of a name without a suffix; the file is
	// renamed to the format's suffix, as ChimeraX does.
	out.Reset()
	r = run(t, s, "open "+ws.URL+"/structure?x=1 dataFormat PDB name fetched")
	if got, want := r[0].python, []any{modelValue("fetched #3")}; !reflect.DeepEqual(got, want) {
		t.Errorf("open /structure dataFormat PDB = %#v, want %#v", got, want)
	}
	for _, want := range []string{
		"mime type (application/octet-stream), does not match file name extension ()\n",
		`renaming "` + filepath.Join(downloads, "structure") + `" to "` + filepath.Join(downloads, "structure.pdb") + `"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("open /structure dataFormat PDB logged\n%s\nwant %q", out, want)
		}
	}

	// A gzipped file is gunzipped on the way and renamed, ".gz" and all.
	run(t, s, "open "+ws.URL+"/files/1hpv.pdb.gz")
	if !exists(filepath.Join(downloads, "1hpv.pdb.pdb")) || !strings.Contains(out.String(), "Fetching compressed 1hpv.pdb.gz from ") {
		t.Errorf("open 1hpv.pdb.gz: want a compressed fetch saved as 1hpv.pdb.pdb; logged\n%s", out)
	}
	if got := modelIDs(s); len(got) != 4 {
		t.Errorf("models %v, want #1-4", got)
	}
}

func TestOpenURLErrors(t *testing.T) {
	ws := newWebServer(t)
	refused := refusedURL(t) + "/run?command=version"
	tests := []struct {
		command    string
		class, msg string
		fetched    string // the path the server saw, if any
	}{
		{"open " + ws.URL + "/files/nosuch.pdb", "UserError", "HTTP Error 404: Not Found", "/files/nosuch.pdb"},
		{"open " + refused + " dataFormat pdb", "UserError", "<urlopen error [Errno 111] Connection refused>", ""},
		{"open " + ws.URL + "/hang.pdb", "UserError", "127.0.0.1 failed to respond", "/hang.pdb"},
		{"open " + ws.URL + "/big.pdb", "UserError", "open: the chimerad simulator fetches at most 1000 bytes", "/big.pdb"},
		{"open " + ws.URL + "/script.py", "UserError", "open: running .py files is not supported by the chimerad simulator", "/script.py"},
		{"open " + ws.URL + "/files/pept.pdb format pdb", "UserError", "Format 'pdb' not supported for database 'http'", ""},
		{"open " + ws.URL + "/files/pept.pdb dataFormat nosuch", "UserError",
			`Invalid "dataFormat" argument: Should be one of 'html', 'mmcif', 'mol2', 'pdb', 'sdf', or 'session'`, ""},
		{"open ftp://127.0.0.1/x.pdb", "UserError", "open: fetching ftp URLs is not supported by the chimerad simulator", ""},
		{"open http:///x.pdb", "UserError", "<urlopen error no host given>", ""},
		{"open " + abs(t, "pept.pdb") + " dataFormat pdb", "UserError", "No such file/path: dataFormat", ""},
	}
	for _, tt := range tests {
		s, _, home := newWebSimulator(t)
		s.web.Timeout, s.webLimit = 300*time.Millisecond, 1000
		seen, _ := ws.requested()
		before := len(seen)
		class, msg := runErr(t, s, tt.command)
		if class != tt.class || msg != tt.msg {
			t.Errorf("%s: error %s: %q, want %s: %q", tt.command, class, msg, tt.class, tt.msg)
		}
		var want []string
		if tt.fetched != "" {
			want = []string{tt.fetched}
		}
		seen, _ = ws.requested()
		if got := seen[before:]; !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: server saw %q, want %q", tt.command, got, want)
		}
		if left, _ := os.ReadDir(filepath.Join(home, "Downloads")); tt.fetched != "/script.py" && len(left) != 0 {
			t.Errorf("%s: left %d files in ~/Downloads", tt.command, len(left))
		}
		if len(s.models) != 0 {
			t.Errorf("%s: opened %v", tt.command, modelIDs(s))
		}
	}
}

// TestOpenURLNotFetched: a name with no structure suffix goes to the help
// viewer, which nogui leaves to a browser a server does not have; so does
// "format html". Nothing is fetched.
func TestOpenURLNotFetched(t *testing.T) {
	ws := newWebServer(t)
	for _, u := range []string{
		ws.URL + "/run?command=version",
		ws.URL + "/files/x.xyz",
		ws.URL + "/index.html",
		ws.URL + "/files/pept.pdb format html",
		ws.URL + "/files/pept.pdb dataFormat html",
	} {
		s, out, _ := newWebSimulator(t)
		r := run(t, s, "open "+u)
		if r[0].json != `{"model specs": []}` || !strings.Contains(out.String(), "Opened "+strings.Fields(u)[0]+"\n") {
			t.Errorf("open %s = %v, logged %q; want no models and an Opened note", u, r[0].json, out)
		}
	}
	if got, _ := ws.requested(); len(got) != 0 {
		t.Errorf("server saw %q, want nothing", got)
	}
}

// TestOpenURLWithoutDownloads: ChimeraX saves into ~/Downloads without
// making it first, so in a fresh HOME the fetch is made and then fails.
func TestOpenURLWithoutDownloads(t *testing.T) {
	ws := newWebServer(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	s, _ := newTestSimulator(t)
	class, msg := runErr(t, s, "open "+ws.URL+"/files/pept.pdb")
	want := "[Errno 2] No such file or directory: '" + filepath.Join(home, "Downloads", "pept.pdb") + "'"
	if class != "FileNotFoundError" || msg != want {
		t.Errorf("open without ~/Downloads: %s: %q, want FileNotFoundError: %q", class, msg, want)
	}
	if got, _ := ws.requested(); !reflect.DeepEqual(got, []string{"/files/pept.pdb"}) {
		t.Errorf("server saw %q, want the fetch", got)
	}
}

func fileHolds(path, want string) bool {
	b, err := os.ReadFile(path)
	return err == nil && string(b) == want
}
