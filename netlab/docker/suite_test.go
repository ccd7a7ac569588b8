package docker

import (
	"testing"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/netlab/netlabtest"
)

// TestBackendSuite runs the shared backend suite on docker.
func TestBackendSuite(t *testing.T) {
	needDocker(t)
	netlabtest.TestBackendOpts(t, func() netlab.Backend { return New() }, netlab.Options{Binary: testBinary(t)})
}
