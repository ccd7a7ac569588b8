package docker

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

var envOnce sync.Once

// VerboseEnv, when set to anything, keeps testcontainers' own logging
// (its "Connected to docker" banner and lifecycle lines) on stderr.
const VerboseEnv = "P2PLAB_DOCKER_VERBOSE"

// ensureEnv disables Ryuk (it would be pulled) before the first
// testcontainers call, as testcontainers reads its configuration only once,
// and silences testcontainers' default logger unless VerboseEnv is set.
func ensureEnv() {
	envOnce.Do(func() {
		if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
			os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		}
		if os.Getenv(VerboseEnv) == "" {
			tclog.SetDefault(tclog.NewNoopLogger())
		}
	})
}

// newProvider connects to the Docker engine through testcontainers, quietly.
func newProvider(ctx context.Context) (*testcontainers.DockerProvider, error) {
	ensureEnv()
	type result struct {
		p   *testcontainers.DockerProvider
		err error
	}
	ch := make(chan result, 1)
	go func() {
		p, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tclog.NewNoopLogger()))
		ch <- result{p, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("docker: connect to the engine: %w", r.err)
		}
		return r.p, nil
	case <-ctx.Done():
		// The provider is made without a context; let it finish and close.
		go func() {
			if r := <-ch; r.p != nil {
				r.p.Close()
			}
		}()
		return nil, fmt.Errorf("docker: connect to the engine: %w", ctx.Err())
	}
}

// Available reports whether a Docker engine answers (nil) or why not. Tests
// use it to skip the docker specs with a clear message.
func Available(ctx context.Context) error {
	p, err := newProvider(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	if _, err := p.Client().Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("docker: engine does not answer: %w", err)
	}
	return nil
}
