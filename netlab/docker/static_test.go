package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A dynamically linked binary is refused before any image is built (a
// FROM scratch image has no loader); a file that is not ELF is left for the
// container start to refuse.
func TestCheckStatic(t *testing.T) {
	text := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(text, []byte("not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"dynamic", "/bin/ls", "dynamically linked"},
		{"not elf", text, ""},
		{"missing", filepath.Join(t.TempDir(), "nothing"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path == "/bin/ls" {
				if _, err := os.Stat(tt.path); err != nil {
					t.Skip("no /bin/ls here")
				}
			}
			err := checkStatic(tt.path)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("checkStatic(%s) = %v, want nil", tt.path, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("checkStatic(%s) = %v, want an error containing %q", tt.path, err, tt.want)
			}
		})
	}
}
