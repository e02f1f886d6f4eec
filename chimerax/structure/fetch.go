package structure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultPDBMirrors are the wwPDB partners' archives of gzip'd mmCIF files,
// tried in order: RCSB, PDBe, PDBj. {id} is the lower-case 4-character id,
// {mid} its middle two characters (the archive's directory).
var DefaultPDBMirrors = []string{
	"https://files.wwpdb.org/pub/pdb/data/structures/divided/mmCIF/{mid}/{id}.cif.gz",
	"https://ftp.ebi.ac.uk/pub/databases/pdb/data/structures/divided/mmCIF/{mid}/{id}.cif.gz",
	"https://ftp.pdbj.org/pub/pdb/data/structures/divided/mmCIF/{mid}/{id}.cif.gz",
}

// Fetcher downloads PDB entries for sessions, so that ChimeraX never fetches
// by itself (a sandboxed ChimeraX has no network): from a list of mirrors,
// with timeouts and a size cap, into a size-bounded cache shared by all
// sessions. Concurrent requests for one entry download it once.
type Fetcher struct {
	// Mirrors are URL templates with {id} and {mid}; see DefaultPDBMirrors.
	Mirrors []string
	// Dir is the cache directory.
	Dir string
	// MaxBytes caps one download (compressed); MaxUncompressed what it
	// inflates to; CacheMaxBytes the whole cache (oldest used go first).
	MaxBytes, MaxUncompressed, CacheMaxBytes int64
	// Client makes the requests; its Timeout bounds each one.
	Client *http.Client

	mu       sync.Mutex
	inflight map[string]*fetchCall
}

type fetchCall struct {
	done chan struct{}
	path string
	err  error
}

// DefaultCacheMaxBytes bounds a Fetcher's cache unless told otherwise.
const DefaultCacheMaxBytes = 2 << 30

// NewFetcher returns a fetcher with sane limits caching in dir.
func NewFetcher(dir string, mirrors []string) *Fetcher {
	return &Fetcher{
		Mirrors:         mirrors,
		Dir:             dir,
		MaxBytes:        512 << 20,
		MaxUncompressed: 4 << 30,
		CacheMaxBytes:   DefaultCacheMaxBytes,
		Client: &http.Client{
			Timeout: 5 * time.Minute,
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				TLSHandshakeTimeout:   15 * time.Second,
				ResponseHeaderTimeout: 30 * time.Second,
			},
		},
	}
}

// Fetch returns the path of the cached, checked mmCIF (gzip) file of a PDB
// entry, downloading it if needed. id must already be normalized.
func (f *Fetcher) Fetch(ctx context.Context, id string) (string, error) {
	key := ArchiveID(id)
	path := filepath.Join(f.Dir, key+".cif.gz")
	if _, err := os.Stat(path); err == nil {
		now := time.Now()
		os.Chtimes(path, now, now) // the cache evicts least recently used
		return path, nil
	}

	f.mu.Lock()
	if f.inflight == nil {
		f.inflight = make(map[string]*fetchCall)
	}
	if c, ok := f.inflight[key]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.path, c.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	c := &fetchCall{done: make(chan struct{})}
	f.inflight[key] = c
	f.mu.Unlock()

	// The download outlives the request that started it, so that others
	// waiting for the same entry are not failed by its cancellation.
	c.path, c.err = f.download(context.WithoutCancel(ctx), key, path)
	f.mu.Lock()
	delete(f.inflight, key)
	f.mu.Unlock()
	close(c.done)
	if c.err == nil {
		f.evict(path)
	}
	return c.path, c.err
}

// ArchiveID is the 4-character id the archives use; an extended id of the
// classic range (pdb_0000xxxx) maps to its classic form.
func ArchiveID(id string) string {
	if rest, ok := strings.CutPrefix(id, "pdb_0000"); ok {
		return rest
	}
	return id
}

// download tries each mirror in turn until one gives a checked file.
func (f *Fetcher) download(ctx context.Context, id, path string) (string, error) {
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return "", err
	}
	var problems []string
	notFound := 0
	for _, tmpl := range f.Mirrors {
		url := strings.NewReplacer("{id}", id, "{mid}", mid(id)).Replace(tmpl)
		err := f.get(ctx, url, path)
		if err == nil {
			return path, nil
		}
		if errors.Is(err, ErrPDBNotFound) {
			notFound++
		}
		problems = append(problems, fmt.Sprintf("%s: %v", hostOf(url), err))
	}
	if notFound > 0 { // an archive that answers says the entry does not exist
		return "", fmt.Errorf("%w: %s (%s)", ErrPDBNotFound, id, strings.Join(problems, "; "))
	}
	return "", fmt.Errorf("%w: %s could not be downloaded: %s", ErrPDBUnavailable, id, strings.Join(problems, "; "))
}

// get downloads url to path if it answers with a plausible gzip'd mmCIF file
// within the size caps.
func (f *Fetcher) get(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return ErrPDBNotFound
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("answered %s", resp.Status)
	}
	tmp, err := os.CreateTemp(f.Dir, ".download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone once renamed
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, f.MaxBytes+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return fmt.Errorf("read answer: %v", err)
	case n > f.MaxBytes:
		return fmt.Errorf("answer over %d bytes", f.MaxBytes)
	}
	if err := checkEntry(tmp.Name(), f.MaxUncompressed); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// checkEntry checks a downloaded entry as an upload is checked.
func checkEntry(path string, maxUncompressed int64) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	head := make([]byte, sniffBytes)
	k, _ := io.ReadFull(fh, head)
	fh.Close()
	if _, _, err := DetectFormat("entry.cif.gz", head[:k]); err != nil {
		return fmt.Errorf("not a gzip'd mmCIF file")
	}
	if err := checkGzip(path, maxUncompressed); err != nil {
		return fmt.Errorf("bad gzip data: %v", err)
	}
	return nil
}

// evict removes the least recently used entries until the cache fits its
// cap, never the one just fetched.
func (f *Fetcher) evict(keep string) {
	entries, err := os.ReadDir(f.Dir)
	if err != nil {
		return
	}
	type entry struct {
		path string
		size int64
		used time.Time
	}
	var all []entry
	var total int64
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".cif.gz") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		all = append(all, entry{filepath.Join(f.Dir, e.Name()), fi.Size(), fi.ModTime()})
		total += fi.Size()
	}
	sort.Slice(all, func(i, j int) bool { return all[i].used.Before(all[j].used) })
	for _, e := range all {
		if total <= f.CacheMaxBytes {
			break
		}
		if e.path == keep {
			continue
		}
		if os.Remove(e.path) == nil {
			total -= e.size
		}
	}
}

func mid(id string) string {
	if len(id) == 4 {
		return id[1:3]
	}
	return id[len(id)-3 : len(id)-1]
}

func hostOf(url string) string {
	rest := url
	if _, r, ok := strings.Cut(url, "://"); ok {
		rest = r
	}
	host, _, _ := strings.Cut(rest, "/")
	return host
}

// FetchTo puts PDB entry id (normalized) at dst, a gzip'd mmCIF file: it
// fetches the entry into the cache if needed, then links it to dst where
// the file system allows, else copies it. An existing dst is left as is.
// Fetch's errors come back as they are.
func (f *Fetcher) FetchTo(ctx context.Context, id, dst string) error {
	cached, err := f.Fetch(ctx, id)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if err := linkOrCopy(cached, dst); err != nil {
		return fmt.Errorf("place PDB entry %s: %w", id, err)
	}
	return nil
}

// linkOrCopy puts a cached file at dst: a hard link
// where the file system allows, else a copy.
func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
