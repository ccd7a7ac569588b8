package netlab_test

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

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

// A program that does not exist is reported as such (fs.ErrNotExist), on
// every backend that runs this machine's files.
func TestStartMissingProgram(t *testing.T) {
	for _, name := range []string{netlab.BackendLocal, netlab.BackendNetns} {
		t.Run(name, func(t *testing.T) {
			if name == netlab.BackendNetns {
				needRoot(t)
			}
			b, err := netlab.NewBackend(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			topo := netlab.Topology{
				LANs:  []netlab.LAN{{Name: "lan", Subnet: netip.MustParsePrefix("198.18.41.0/24")}},
				Hosts: []netlab.HostSpec{{Name: "h1", NICs: []netlab.NIC{{LAN: "lan"}}}},
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			l, err := netlab.New(ctx, b, topo, netlab.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close(ctx)
			// Twice: the first start also makes the host's cgroup (netns).
			for range 2 {
				if _, err := l.Host("h1").Start(ctx, netlab.Command{Argv: []string{"/no/such/program"}}); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("start /no/such/program: %v, want fs.ErrNotExist", err)
				}
			}
		})
	}
}
