package netlab_test

import (
	"context"
	"errors"
	"os"
	"slices"
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

// The conformance suite runs on every registered backend that can run
// here (docker, registered when netlab/docker is imported, runs it in its
// own package with the image it builds).
func TestBackends(t *testing.T) {
	for _, name := range netlab.Backends() {
		t.Run(name, func(t *testing.T) {
			switch name {
			case netlab.BackendNetns:
				needRoot(t)
			case netlab.BackendDocker:
				t.Skip("netlab/docker runs the suite with its image")
			}
			if _, err := netlab.NewBackend(context.Background(), name); err != nil {
				t.Skipf("backend %s is not available here: %v", name, err)
			}
			netlabtest.TestBackend(t, func() netlab.Backend {
				b, err := netlab.NewBackend(context.Background(), name)
				if err != nil {
					t.Fatal(err)
				}
				return b
			})
		})
	}
}

func TestRegistry(t *testing.T) {
	if got := netlab.Backends(); !slices.Contains(got, netlab.BackendNetns) || !slices.Contains(got, netlab.BackendLocal) {
		t.Fatalf("Backends() = %v, want netns and local built in", got)
	}
	if _, err := netlab.NewBackend(context.Background(), "nosuch"); !errors.Is(err, netlab.ErrUnknownBackend) {
		t.Fatalf("NewBackend(nosuch): %v, want ErrUnknownBackend", err)
	}
	b, err := netlab.NewBackend(context.Background(), netlab.BackendLocal)
	if err != nil || b.Name() != netlab.BackendLocal {
		t.Fatalf("NewBackend(local) = %v, %v", b, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a name twice does not panic")
		}
	}()
	netlab.Register(netlab.BackendLocal, func(context.Context) (netlab.Backend, error) { return netlab.NewLocal(), nil })
}
