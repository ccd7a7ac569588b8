package netlab_test

import (
	"os"
	"testing"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/netlab/netlabtest"
)

// needRoot skips tests that make namespaces when not root.
func needRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("netns backend needs root (namespaces, netlink, nftables): run as root")
	}
}

func TestNetnsBackend(t *testing.T) {
	needRoot(t)
	netlabtest.TestBackend(t, netlab.NewNetns)
}
