// Package selfbuild finds this module's root and builds its static p2plab
// binary, for the test suites that run the real binary in labs (scenarios,
// reliability). It is test support, not part of the lab's API.
package selfbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Root returns the module root: the nearest directory above the working
// directory that holds go.mod.
func Root() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("selfbuild: %w", err)
	}
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("selfbuild: no go.mod above " + wd)
}

// Binary builds ./cmd/p2plab statically (CGO_ENABLED=0, so the docker
// backend's FROM scratch image can run it too) into dir/p2plab.
func Binary(ctx context.Context, dir string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "p2plab")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/p2plab")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("selfbuild: go build ./cmd/p2plab: %w\n%s", err, bytes.TrimSpace(out))
	}
	return bin, nil
}
