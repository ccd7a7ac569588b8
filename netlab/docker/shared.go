package docker

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/moby/moby/client"

	"github.com/p2plab/p2plab/netlab"
)

// Image is a p2plab image built once and shared by many labs of one process
// (a test suite, or one `p2plab run` of many scenarios), so that each lab
// does not pay for its own build. Labs given it with WithImage neither build
// nor remove it; Remove does, and Clean removes it once its process is gone.
type Image struct {
	// Tag is the image reference, "p2pl<id>:latest".
	Tag   string
	runID string
}

// BuildImage builds the FROM scratch image around a static p2plab binary
// (see BuildBinary), never pulling anything. The caller removes it with
// Remove (register that before checking the error).
func BuildImage(ctx context.Context, binary string) (*Image, error) {
	p, err := newProvider(ctx)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	img := &Image{runID: netlab.NewRunID()}
	if _, err := buildImage(ctx, p, img.runID, binary, os.Getpid()); err != nil {
		// A failed build may still have left a tagged image: keep the tag
		// so that Remove sweeps it.
		img.Tag = imageRef(img.runID)
		return img, err
	}
	img.Tag = imageRef(img.runID)
	return img, nil
}

// Remove removes the image. It is safe on a nil Image and more than once.
func (img *Image) Remove(ctx context.Context) error {
	if img == nil || img.Tag == "" {
		return nil
	}
	p, err := newProvider(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	cli := p.Client()
	if _, err := cli.ImageRemove(ctx, img.Tag, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil && !isNotFound(err) {
		return fmt.Errorf("docker: remove image %s: %w", img.Tag, err)
	}
	img.Tag = ""
	return nil
}

// WithImage makes the backend use a shared image instead of building its
// own; Destroy leaves it in place. It must be called before Create.
func (b *Backend) WithImage(img *Image) (*Backend, error) {
	if img == nil || img.Tag == "" {
		return nil, errors.New("docker: WithImage: no image")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.shared = img.Tag
	return b, nil
}

// imageTag is the image the lab's containers run: the shared one, or the
// lab's own.
func (b *Backend) imageTag() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.imageLocked()
}

// imageLocked is imageTag with b.mu held.
func (b *Backend) imageLocked() string {
	if b.shared != "" {
		return b.shared
	}
	return b.image
}
