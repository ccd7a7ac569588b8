package docker

import (
	"archive/tar"
	"bytes"
	"context"
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

// buildImage builds the run's image from scratch (never pulling) and returns
// its tag.
func buildImage(ctx context.Context, p *testcontainers.DockerProvider, runID, binary string, pid int) (string, error) {
	tarball, err := buildContext(binary)
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
			o.Remove = true
			o.ForceRemove = true
			o.Labels = labels(runID, "image", "", pid)
		},
	}}
	tag, err := p.BuildImage(ctx, req)
	if err != nil {
		return "", fmt.Errorf("docker: build image %s: %w", imageRef(runID), err)
	}
	return tag, nil
}
