package structure_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chimerad/chimerad/chimerax/structure"
)

func TestNormalizePDBID(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"1hpv", "1hpv"},
		{"1HPV", "1hpv"},
		{"9zzz", "9zzz"},
		{"pdb_00001hpv", "pdb_00001hpv"},
		{"PDB_00001HPV", "pdb_00001hpv"},
		{"", ""},
		{"hpv1", ""},
		{"1hp", ""},
		{"1hpvx", ""},
		{"1hp;", ""},
		{"1hp ", ""},
		{"pdb_1hpv", ""},
		{"pdb_0001hpv", ""},
		{"pdb_a0001hpv", ""},
		{"pdb:1hpv", ""},
		{"1hpv\n", ""},
	} {
		got, err := structure.NormalizePDBID(tc.in)
		if tc.want == "" {
			if !errors.Is(err, structure.ErrInvalid) {
				t.Errorf("NormalizePDBID(%q) = %q, %v, want ErrInvalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizePDBID(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		content []byte
		want    structure.Format
		gz      bool
		err     error
	}{
		{"1hpv.pdb", read("1hpv.pdb"), structure.FormatPDB, false, nil},
		{"1HPV.ENT", read("1hpv.pdb"), structure.FormatPDB, false, nil},
		{"pept.pdb", read("pept.pdb"), structure.FormatPDB, false, nil},
		{"1hpv.pdb.gz", read("1hpv.pdb.gz"), structure.FormatPDB, true, nil},
		{"3al1.cif", read("3al1.cif"), structure.FormatMMCIF, false, nil},
		{"3al1.mmcif", read("3al1.cif"), structure.FormatMMCIF, false, nil},
		{"ligs3d.sdf", read("ligs3d.sdf"), structure.FormatSDF, false, nil},
		{"ligs.mol", read("ligs3d.sdf"), structure.FormatSDF, false, nil},
		{"small03.mol2", read("small03.mol2"), structure.FormatMOL2, false, nil},
		{`C:\Users\me\1hpv.pdb`, read("1hpv.pdb"), structure.FormatPDB, false, nil},
		{"1hpv.xyz", read("1hpv.pdb"), "", false, structure.ErrUnsupportedFormat},
		{"1hpv.pdb", read("3al1.cif"), "", false, structure.ErrUnsupportedFormat},
		{"3al1.cif", read("1hpv.pdb"), "", false, structure.ErrUnsupportedFormat},
		{"x.sdf", read("small03.mol2"), "", false, structure.ErrUnsupportedFormat},
		{"x.mol2", read("ligs3d.sdf"), "", false, structure.ErrUnsupportedFormat},
		{"x.pdb.gz", read("1hpv.pdb"), "", false, structure.ErrUnsupportedFormat},
		{"x.py", []byte("import os\n"), "", false, structure.ErrUnsupportedFormat},
		{"x.pdb", nil, "", false, structure.ErrUnsupportedFormat},
		{"x.pdb", []byte("ATOM  \x00"), "", false, structure.ErrUnsupportedFormat},
		{"a\x00b.pdb", read("1hpv.pdb"), "", false, structure.ErrInvalid},
		{strings.Repeat("a", 256) + ".pdb", read("1hpv.pdb"), "", false, structure.ErrInvalid},
		{"\xff.pdb", read("1hpv.pdb"), "", false, structure.ErrInvalid},
	} {
		head := tc.content[:min(len(tc.content), 64<<10)]
		f, gz, err := structure.DetectFormat(tc.name, head)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("DetectFormat(%.40q) = %q, %v, want %v", tc.name, f, err, tc.err)
			}
			continue
		}
		if err != nil || f != tc.want || gz != tc.gz {
			t.Errorf("DetectFormat(%.40q) = %q, %v, %v, want %q, %v", tc.name, f, gz, err, tc.want, tc.gz)
		}
	}
}

func TestSaveUploadGzipBomb(t *testing.T) {
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	line := []byte("ATOM      1  N   PRO A   1      -2.555   9.253  34.411  1.00 30.60           N  \n")
	for range (4 << 20) / len(line) {
		zw.Write(line)
	}
	zw.Close()
	dir := t.TempDir()
	_, err := structure.SaveUpload(dir, "bomb.pdb.gz", &bomb, 1<<20)
	if !errors.Is(err, structure.ErrTooLarge) {
		t.Errorf("SaveUpload(bomb) = %v, want ErrTooLarge", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("SaveUpload left %d files after refusing", len(left))
	}
}

var spoolName = regexp.MustCompile(`^upload-[0-9]+\.(pdb|cif|sdf|mol2)(\.gz)?$`)

// FuzzDetectFormat: whatever the client sends as name and content, the
// answer is a known format or an error of ours, never a panic, and the
// spooled file's name is always chimerad's own.
func FuzzDetectFormat(f *testing.F) {
	for _, name := range []string{"1hpv.pdb", "3al1.cif", "ligs3d.sdf", "small03.mol2", "1hpv.pdb.gz"} {
		b, _ := os.ReadFile(filepath.Join("..", "..", "testdata", name))
		f.Add(name, b[:min(len(b), 4096)])
	}
	f.Add("../../etc/passwd.pdb", []byte("ATOM  "))
	f.Add("x.cif", []byte("data_x\n"))
	f.Fuzz(func(t *testing.T, name string, content []byte) {
		dir := t.TempDir()
		u, err := structure.SaveUpload(dir, name, bytes.NewReader(content), 1<<20)
		if err != nil {
			if !errors.Is(err, structure.ErrInvalid) && !errors.Is(err, structure.ErrUnsupportedFormat) && !errors.Is(err, structure.ErrTooLarge) {
				t.Fatalf("SaveUpload(%q) = %v, want one of our errors", name, err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("refused upload left %d files", len(left))
			}
			return
		}
		if filepath.Dir(u.Path) != dir || !spoolName.MatchString(filepath.Base(u.Path)) {
			t.Fatalf("SaveUpload(%q) stored %q, want a name of ours in %s", name, u.Path, dir)
		}
		if strings.ContainsAny(u.Filename, "/\x00") {
			t.Fatalf("display name %q holds a path separator or NUL", u.Filename)
		}
	})
}

// FuzzNormalizePDBID: an accepted id is always one of the two safe forms.
func FuzzNormalizePDBID(f *testing.F) {
	for _, s := range []string{"1hpv", "pdb_00001hpv", "1hp;", "http://x", "pdb:1hpv"} {
		f.Add(s)
	}
	safe := regexp.MustCompile(`^([0-9][a-z0-9]{3}|pdb_[0-9]{5}[a-z0-9]{3})$`)
	f.Fuzz(func(t *testing.T, id string) {
		got, err := structure.NormalizePDBID(id)
		if err == nil && !safe.MatchString(got) {
			t.Fatalf("NormalizePDBID(%q) = %q, not a safe id", id, got)
		}
	})
}
