package sim

import (
	"testing"

	"github.com/p2plab/p2plab/internal/leaktest"
)

// TestMain fails the package when its tests leave goroutines running
// (see internal/leaktest, on go.uber.org/goleak; P2PLAB_LEAKCHECK=off skips the check).
func TestMain(m *testing.M) { leaktest.Main(m) }
