package client

import (
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
