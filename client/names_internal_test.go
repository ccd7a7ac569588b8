package client

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCleanNameUTF8: a long name is cut at a character boundary and stays
// valid UTF-8, so the stored file and the event name agree.
func TestCleanNameUTF8(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int // length in bytes
	}{
		{"ascii", strings.Repeat("a", 300), 200},
		{"three-byte runes across the cut", "x" + strings.Repeat("€", 100), 199},
		{"four-byte runes", strings.Repeat("😀", 60), 200},
		{"short", "ok.txt", 6},
		{"invalid bytes", "a\xffb", 5}, // U+FFFD
	} {
		got := cleanName(tc.in)
		if !utf8.ValidString(got) || len(got) != tc.want {
			t.Errorf("%s: %q (%d bytes, valid %v), want %d valid bytes", tc.name, got, len(got), utf8.ValidString(got), tc.want)
		}
	}
}

// TestStoreAsCollision: a received file whose name is taken is stored as
// NAME.1.EXT, NAME.2.EXT, ... and never replaces a file
// (docs/control-api.md, POST /v1/files).
func TestStoreAsCollision(t *testing.T) {
	dir := t.TempDir()
	c := &Client{cfg: Config{FilesDir: dir}}
	if err := os.WriteFile(filepath.Join(dir, "report.bin"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"report.1.bin", "report.2.bin"} {
		tmp := filepath.Join(dir, fmt.Sprintf(".part-%d", i))
		if err := os.WriteFile(tmp, []byte("new"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := c.storeAs(tmp, "report.bin")
		if err != nil || got != filepath.Join(dir, want) {
			t.Fatalf("storeAs = %q, %v; want %s", got, err, want)
		}
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Errorf("the temporary file %s is left: %v", tmp, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "report.bin")); string(b) != "old" {
		t.Errorf("the existing file was replaced: %q", b)
	}
}
