package server

import (
	"testing"

	"github.com/p2plab/p2plab/reliability/leakcheck"
)

// TestMain fails the package when its tests leave goroutines running
// (see reliability/leakcheck; P2PLAB_LEAKCHECK=off skips the check).
func TestMain(m *testing.M) { leakcheck.Main(m, leakcheck.Options{}) }
