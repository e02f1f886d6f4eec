package structure

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Format is a structure file format ChimeraX opens for chimerad.
type Format string

// The formats accepted for uploads, each also gzip-compressed.
const (
	FormatPDB   Format = "pdb"
	FormatMMCIF Format = "mmcif"
	FormatSDF   Format = "sdf"
	FormatMOL2  Format = "mol2"
)

var formatByExt = map[string]Format{
	".pdb": FormatPDB, ".ent": FormatPDB,
	".cif": FormatMMCIF, ".mmcif": FormatMMCIF,
	".sdf": FormatSDF, ".mol": FormatSDF,
	".mol2": FormatMOL2,
}

// Suffixes lists the file suffixes uploads may have, by format; each may
// also end in .gz.
func Suffixes() map[Format][]string {
	out := make(map[Format][]string)
	for ext, f := range formatByExt {
		out[f] = append(out[f], ext)
	}
	for _, exts := range out {
		slices.Sort(exts)
	}
	return out
}

// Ext is the file suffix chimerad gives a stored structure of format f.
func (f Format) Ext() string {
	switch f {
	case FormatMMCIF:
		return ".cif"
	case FormatSDF:
		return ".sdf"
	case FormatMOL2:
		return ".mol2"
	}
	return ".pdb"
}

// sniffBytes is how much of a file DetectFormat looks at.
const sniffBytes = 64 << 10

// maxFilenameBytes bounds a client's file name; only its suffix is used.
const maxFilenameBytes = 255

// DetectFormat decides an upload's format from its file name and its first
// bytes (up to 64 KiB; for a .gz name, the compressed bytes). The name's
// suffix must name a known format and the content must look like it; the
// name itself never becomes a path.
func DetectFormat(filename string, head []byte) (f Format, gz bool, err error) {
	if len(filename) > maxFilenameBytes || !utf8.ValidString(filename) || strings.ContainsRune(filename, 0) {
		return "", false, fmt.Errorf("%w: file name is not a plain name of at most %d bytes", ErrInvalid, maxFilenameBytes)
	}
	name := strings.ToLower(displayName(filename))
	if base, ok := strings.CutSuffix(name, ".gz"); ok {
		name, gz = base, true
	}
	f, ok := formatByExt[filepath.Ext(name)]
	if !ok {
		return "", false, fmt.Errorf("%w: file name %q: want a .pdb, .ent, .cif, .mmcif, .sdf, .mol or .mol2 file, optionally .gz", ErrUnsupportedFormat, truncate(filename, 80))
	}
	if gz {
		zr, err := gzip.NewReader(bytes.NewReader(head))
		if err != nil {
			return "", false, fmt.Errorf("%w: %q is not gzip data", ErrUnsupportedFormat, truncate(filename, 80))
		}
		// The head is a prefix of the stream, so it may end mid-block.
		head, _ = io.ReadAll(io.LimitReader(zr, sniffBytes))
	}
	if !looksLike(f, head) {
		return "", false, fmt.Errorf("%w: content of %q is not %s", ErrUnsupportedFormat, truncate(filename, 80), f)
	}
	return f, gz, nil
}

// pdbRecord matches the start of a PDB line: a record name of capitals and
// digits (HEADER, ATOM  , HETATM, SCALE1, END …), padded to six columns.
var pdbRecord = regexp.MustCompile(`^[A-Z][A-Z0-9]{0,5}( |$|[0-9])`)

// looksLike reports whether head plausibly starts a file of format f.
func looksLike(f Format, head []byte) bool {
	if len(head) == 0 || bytes.IndexByte(head, 0) >= 0 {
		return false
	}
	lines := strings.Split(string(head), "\n")
	if len(lines) > 1 && len(head) == sniffBytes {
		lines = lines[:len(lines)-1] // the last line may be cut short
	}
	switch f {
	case FormatPDB:
		atoms := false
		for _, l := range lines {
			l = strings.TrimRight(l, "\r")
			if strings.TrimSpace(l) == "" {
				continue
			}
			if !pdbRecord.MatchString(l) && !strings.HasPrefix(l, "#") {
				return false
			}
			atoms = atoms || strings.HasPrefix(l, "ATOM  ") || strings.HasPrefix(l, "HETATM") || strings.HasPrefix(l, "HEADER")
		}
		return atoms
	case FormatMMCIF:
		for _, l := range lines {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			return strings.HasPrefix(l, "data_")
		}
	case FormatSDF:
		// A molfile: three header lines, then the counts line naming V2000 or V3000.
		return len(lines) >= 4 && (strings.Contains(lines[3], "V2000") || strings.Contains(lines[3], "V3000"))
	case FormatMOL2:
		for _, l := range lines {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			return strings.HasPrefix(l, "@<TRIPOS>")
		}
	}
	return false
}

// Upload is a structure file received from a client and checked, waiting
// in a spool directory to become a session's structure.
type Upload struct {
	// Path is the spooled file; Create moves it into the session directory.
	Path string
	// Filename is the client's name for the file, for display only.
	Filename string
	Format   Format
	Gzip     bool
	Size     int64
}

// SaveUpload streams r into a new file in dir under a name chimerad chooses,
// checking its format on the way (by the client's file name and by content;
// a gzip file must also inflate to at most maxUncompressed bytes). On error
// nothing is left in dir. An error from r, such as *http.MaxBytesError, is
// returned wrapped.
func SaveUpload(dir, clientName string, r io.Reader, maxUncompressed int64) (*Upload, error) {
	br := bufio.NewReaderSize(r, sniffBytes)
	head, err := br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	f, gz, err := DetectFormat(clientName, head)
	if err != nil {
		return nil, err
	}
	suffix := f.Ext()
	if gz {
		suffix += ".gz"
	}
	out, err := os.CreateTemp(dir, "upload-*"+suffix)
	if err != nil {
		return nil, fmt.Errorf("spool upload: %w", err)
	}
	u := &Upload{Path: out.Name(), Filename: displayName(clientName), Format: f, Gzip: gz}
	u.Size, err = io.Copy(out, br)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && gz {
		err = checkGzip(u.Path, maxUncompressed)
	}
	if err != nil {
		os.Remove(u.Path)
		return nil, fmt.Errorf("read upload: %w", err)
	}
	return u, nil
}

// displayName is the last element of a client's file name.
func displayName(name string) string {
	return filepath.Base(strings.ReplaceAll(name, `\`, "/"))
}

// checkGzip reads a gzip file through and fails if it is corrupt or
// inflates past max bytes (a gzip bomb).
func checkGzip(path string, max int64) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	zr, err := gzip.NewReader(bufio.NewReader(fh))
	if err != nil {
		return fmt.Errorf("%w: not gzip data: %v", ErrUnsupportedFormat, err)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(zr, max+1))
	if err != nil {
		return fmt.Errorf("%w: corrupt gzip data: %v", ErrUnsupportedFormat, err)
	}
	if n > max {
		return fmt.Errorf("%w: decompresses to more than %d bytes", ErrTooLarge, max)
	}
	return nil
}

var (
	classicPDBID  = regexp.MustCompile(`^[0-9][A-Za-z0-9]{3}$`)
	extendedPDBID = regexp.MustCompile(`^(?i:pdb_)[0-9]{4}[0-9][A-Za-z0-9]{3}$`)
)

// NormalizePDBID checks a PDB entry id and returns it lower-cased: the
// classic 4-character form ("1hpv") or the extended form ("pdb_00001hpv").
func NormalizePDBID(id string) (string, error) {
	switch {
	case classicPDBID.MatchString(id), extendedPDBID.MatchString(id):
		return strings.ToLower(id), nil
	}
	return "", fmt.Errorf("%w: pdb_id %q: want 4 characters starting with a digit (1hpv) or pdb_ and 8 characters (pdb_00001hpv)", ErrInvalid, truncate(id, 40))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
