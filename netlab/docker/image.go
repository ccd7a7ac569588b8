package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// BuildBinary builds a static p2plab binary (CGO_ENABLED=0) at dir/p2plab
// with the go tool and returns its path. It needs the module's source (run
// it from inside the module, as tests and the sim do).
func BuildBinary(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "p2plab")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/p2plab/p2plab/cmd/p2plab")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker: build static p2plab: %w: %s", err, bytes.TrimSpace(msg))
	}
	return out, nil
}

// dockerfile is the whole image: the static binary and nothing else (every
// container names its entrypoint; each extra instruction would cost a
// commit on the engine).
const dockerfile = "FROM scratch\nCOPY p2plab " + BinaryPath + "\n"

// buildContext returns an in-memory tar holding "Dockerfile" and the binary.
func buildContext(binary string) (*bytes.Reader, error) {
	f, err := os.Open(binary)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", binary)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "p2plab", Mode: 0o755, Size: st.Size()}); err != nil {
		return nil, err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return bytes.NewReader(buf.Bytes()), nil
}

// buildAttempts is how often buildImage tries: a build can fail when
// another lab removes an image the engine was about to reuse.
const buildAttempts = 3

// buildImage builds the run's image from scratch (never pulling) and returns
// its tag. NoCache: with the build cache, concurrent labs building the same
// binary share intermediate images, and one lab's Destroy (which prunes
// them) breaks another's build ("failed to get digest ... no such file").
func buildImage(ctx context.Context, p *testcontainers.DockerProvider, runID, binary string, pid int) (string, error) {
	if err := checkStatic(binary); err != nil {
		return "", err
	}
	var err error
	for range buildAttempts {
		var tarball *bytes.Reader
		tarball, err = buildContext(binary)
		if err != nil {
			return "", fmt.Errorf("docker: image context: %w", err)
		}
		req := &testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
			ContextArchive: tarball,
			Dockerfile:     "Dockerfile",
			Repo:           runName(runID),
			Tag:            "latest",
			KeepImage:      true,
			BuildOptionsModifier: func(o *client.ImageBuildOptions) {
				o.PullParent = false
				o.NoCache = true
				o.Remove = true
				o.ForceRemove = true
				o.Labels = labels(runID, "image", "", pid)
			},
		}}
		var tag string
		tag, err = p.BuildImage(ctx, req)
		if err == nil {
			return tag, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("docker: build image %s: %w", imageRef(runID), err)
}

// checkStatic refuses a dynamically linked binary: a FROM scratch image has
// no loader or libc, so it would fail inside every container. A file that
// is not ELF is let through (its container fails to start, and Create
// reports that).
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) || errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("docker: binary %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("docker: binary %s is dynamically linked; a FROM scratch image needs a static build (CGO_ENABLED=0 go build, or make build)", path)
		}
	}
	return nil
}
