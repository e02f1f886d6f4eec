package sim

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// This file is ChimeraX's open of a URL (core_formats/web_fetch.py and
// core/fetch.py's retrieve_url): an http: or https: name is a "database"
// whose fetcher downloads the URL with urllib into ~/Downloads, then opens
// the file as the format its suffix, or the dataFormat keyword, names. A
// name with no suffix ChimeraX knows goes to the help viewer instead, which
// in nogui hands it to Python's webbrowser module. The simulator fetches for
// real, so a URL reaches whatever it names: it is as dangerous as ChimeraX's,
// and shows what a sandbox stops.

const (
	// webFetchTimeout bounds a whole fetch. ChimeraX allows 60 s for each
	// socket operation; the simulator gives up sooner, so that a server that
	// never answers costs seconds.
	webFetchTimeout = 5 * time.Second
	// maxWebFetch caps what one fetch reads and saves; ChimeraX has no cap.
	maxWebFetch = 64 << 20
)

// webDatabases are the "databases" open fetches URLs from.
var webDatabases = []string{"http", "https", "ftp"}

// webName reports whether open takes arg for a URL, as fetch_info does: a
// "db:" prefix naming a web database, or else fromDatabase naming one. It
// returns the database (the URL's scheme) and the rest of the name.
func webName(arg, fromDatabase string) (db, ident string, ok bool) {
	if prefix, rest, found := strings.Cut(arg, ":"); found {
		db, ident = strings.ToLower(prefix), rest
	} else {
		db, ident = strings.ToLower(fromDatabase), arg
	}
	return db, ident, slices.Contains(webDatabases, db)
}

// openURL opens db:ident, a URL, as web_fetch.py's fetch_web does.
func (s *simulator) openURL(db, ident string, c *call) ([]*model, error) {
	rawURL := db + ":" + ident
	if db == "ftp" {
		return nil, userErrorf("open: fetching ftp URLs is not supported by the chimerad simulator")
	}
	if name := c.str("format", ""); name != "" {
		// The http database has two formats, "web fetch" and HTML (the
		// help viewer's), and format picks one of them.
		if !strings.EqualFold(name, "html") {
			return nil, userErrorf("Format '%s' not supported for database '%s'", name, db)
		}
		return s.showURL(rawURL), nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &commandError{class: "ValueError", msg: err.Error()}
	}
	// The file name is the path's last segment, the query left out.
	p := u.Path
	if u.Opaque != "" { // "http:x.pdb"
		p, _ = url.PathUnescape(u.Opaque)
	}
	base := p[strings.LastIndexByte(p, '/')+1:]

	var format *dataFormat
	if name := c.str("dataFormat", ""); name != "" {
		if strings.EqualFold(name, "html") {
			return s.showURL(rawURL), nil
		}
		if format = formatByNickname(name); format == nil {
			return nil, invalidDataFormat()
		}
	} else {
		f, suffix := formatBySuffix(base)
		switch {
		case f != nil:
			format = f
		case slices.Contains(scriptSuffixes, suffix):
			// Fetched, then refused by openFile rather than run.
		default: // HTML, or no format ChimeraX knows: the help viewer's
			return s.showURL(rawURL), nil
		}
	}

	dir := expandPath("~/Downloads")
	stem, ext := splitExt(base)
	filename := freeName(dir, stem, ext)
	contentType, notes, err := s.download(rawURL, filename, strings.EqualFold(ext, ".gz"))
	if err == nil {
		notes = append(notes, fmt.Sprintf("Downloaded %s to %s", base, filename))
		if c.str("dataFormat", "") == "" && contentType != "None" && contentType != "application/octet-stream" {
			notes = append(notes, "Unrecognized mime type: "+contentType)
		}
		if format != nil && !slices.Contains(format.suffixes, ext) {
			renamed := freeName(dir, stem, format.suffixes[0])
			notes = append(notes,
				fmt.Sprintf("mime type (%s), does not match file name extension (%s)", contentType, ext),
				fmt.Sprintf("renaming \"%s\" to \"%s\"", filename, renamed))
			if err = os.Rename(filename, renamed); err != nil {
				err = pythonOSErrorOf(err)
			}
			filename = renamed
		}
	}
	if len(notes) > 0 {
		label := "note"
		if len(notes) > 1 {
			label = "notes"
		}
		s.log(levelNote, fmt.Sprintf("Summary of feedback from opening %s fetched from %s\n---\n%s | %s",
			ident, db, label, strings.Join(notes, "\n")))
	}
	if err != nil {
		return nil, err
	}
	return s.openFile(filename, filename, format, c)
}

// showURL opens a URL in the help viewer, which nogui leaves to Python's
// webbrowser module. A server has no browser for it to start, so nothing is
// fetched; ChimeraX reports the URL opened all the same.
func (s *simulator) showURL(rawURL string) []*model {
	s.log(levelNote, "Opened "+rawURL)
	return nil
}

// formatByNickname returns the format whose first nickname is name, as the
// dataFormat keyword's EnumOf matches.
func formatByNickname(name string) *dataFormat {
	for _, f := range formats {
		if strings.EqualFold(f.nicknames[0], name) {
			return f
		}
	}
	return nil
}

func invalidDataFormat() error {
	names := []string{"'html'"}
	for _, f := range formats {
		names = append(names, "'"+f.nicknames[0]+"'")
	}
	slices.Sort(names)
	return userErrorf("Invalid \"dataFormat\" argument: Should be one of %s", commas(names, "or"))
}

// splitExt splits a file name as Python's os.path.splitext does: leading
// dots do not start an extension.
func splitExt(name string) (stem, ext string) {
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || strings.Trim(name[:dot], ".") == "" {
		return name, ""
	}
	return name[:dot], name[dot:]
}

// freeName returns dir/stem+ext, or the first of dir/stem(1)+ext,
// dir/stem(2)+ext... that does not exist yet.
func freeName(dir, stem, ext string) string {
	name := filepath.Join(dir, stem+ext)
	for n := 1; exists(name); n++ {
		name = filepath.Join(dir, fmt.Sprintf("%s(%d)%s", stem, n, ext))
	}
	return name
}

// download saves rawURL's body in filename as retrieve_url does, gunzipping
// it if uncompress is set or the server says it is gzipped. It returns the
// content type retrieve_url reports (application/octet-stream whenever the
// server sent one, "None" when it did not) and the notes it logged. Errors
// are ChimeraX's: a UserError with urllib's text for network and HTTP
// failures, an OSError when the file cannot be written.
func (s *simulator) download(rawURL, filename string, uncompress bool) (contentType string, notes []string, err error) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return "", nil, &commandError{class: "ValueError", msg: err.Error()}
	}
	host := strings.ToLower(req.URL.Hostname())
	if host == "" {
		return "", nil, userErrorf("<urlopen error no host given>")
	}
	req.Header.Set("User-Agent", "UCSF-ChimeraX/"+s.release.version+" (Linux)")
	req.Close = true // urllib sends "Connection: close"
	resp, err := s.web.Do(req)
	if err != nil {
		return "", nil, urlopenError(host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		reason := strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode))
		return "", nil, userErrorf("HTTP Error %d:%s", resp.StatusCode, reason)
	}

	contentType = "None"
	compressed := uncompress
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		contentType = ct
		if !uncompress {
			compressed = slices.Contains([]string{"application/gzip", "application/x-gzip"}, strings.ToLower(ct))
			contentType = "application/octet-stream"
		}
	}
	// Go's transport has already undone a "Content-Encoding: gzip".
	compressed = compressed || resp.Uncompressed
	what := ""
	if compressed {
		what = " compressed"
	}
	fullURL, _, _ := strings.Cut(rawURL, "#")
	notes = []string{fmt.Sprintf("Fetching%s %s from %s", what, filepath.Base(filename), fullURL)}

	f, err := os.Create(filename)
	if err != nil {
		return "", notes, pythonOSErrorOf(err)
	}
	if err = save(f, resp, compressed && !resp.Uncompressed, host, s.webLimit); err != nil {
		os.Remove(filename)
		return "", notes, err
	}
	return contentType, notes, nil
}

// save copies resp's body into f, gunzipping it if gunzip is set, and
// closes f. Over limit bytes, read or written, is an error.
func save(f *os.File, resp *http.Response, gunzip bool, host string, limit int64) error {
	body := &countingReader{r: io.LimitReader(resp.Body, limit+1)}
	var n int64
	var err error
	if gunzip {
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(body); err == nil {
			n, err = io.Copy(f, io.LimitReader(zr, limit+1))
		}
	} else {
		n, err = io.Copy(f, body)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	var ne net.Error
	switch {
	case n > limit || body.n > limit:
		return userErrorf("open: the chimerad simulator fetches at most %d bytes", limit)
	case err == nil:
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF) && resp.ContentLength >= 0 && body.n != resp.ContentLength:
		return userErrorf("<urlopen error Got %d bytes when %d were expected>", body.n, resp.ContentLength)
	case errors.Is(err, gzip.ErrHeader):
		return &commandError{class: "gzip.BadGzipFile", msg: "Not a gzipped file"}
	case gunzip && errors.Is(err, io.ErrUnexpectedEOF):
		return &commandError{class: "EOFError", msg: "Compressed file ended before the end-of-stream marker was reached"}
	case errors.As(err, &ne) && ne.Timeout():
		return userErrorf("%s failed to respond", host)
	}
	return pythonOSErrorOf(err)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// urlopenError turns a failed request into what ChimeraX reports: "<host>
// failed to respond" for a timeout, and otherwise urllib's URLError as
// str() prints it, "<urlopen error [Errno 111] Connection refused>".
func urlopenError(host string, err error) error {
	var dns *net.DNSError
	var errno syscall.Errno
	var ne net.Error
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		return userErrorf("<urlopen error [Errno -2] Name or service not known>")
	case errors.As(err, &dns):
		return userErrorf("<urlopen error [Errno -3] Temporary failure in name resolution>")
	case errors.As(err, &ne) && ne.Timeout():
		return userErrorf("%s failed to respond", host)
	case errors.As(err, &errno):
		return userErrorf("<urlopen error [Errno %d] %s>", int(errno), pythonStrerror(errno))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return userErrorf("<urlopen error %v>", err)
}

// pythonOSErrorOf turns a failed file operation into the OSError Python
// raises for it: "FileNotFoundError: [Errno 2] No such file or directory:
// '/home/u/Downloads/x.pdb'".
func pythonOSErrorOf(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return &commandError{class: "OSError", msg: err.Error()}
	}
	class := map[syscall.Errno]string{
		syscall.ENOENT: "FileNotFoundError", syscall.EACCES: "PermissionError", syscall.EPERM: "PermissionError",
		syscall.EISDIR: "IsADirectoryError", syscall.ECONNRESET: "ConnectionResetError", syscall.ENOTDIR: "NotADirectoryError", syscall.EEXIST: "FileExistsError",
	}[errno]
	if class == "" {
		class = "OSError"
	}
	msg := fmt.Sprintf("[Errno %d] %s", int(errno), pythonStrerror(errno))
	var pe *os.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		msg += fmt.Sprintf(": '%s'", pe.Path)
	case errors.As(err, &le):
		msg += fmt.Sprintf(": '%s' -> '%s'", le.Old, le.New)
	}
	return &commandError{class: class, msg: msg}
}
