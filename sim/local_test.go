package sim

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/internal/selfbuild"
	"github.com/p2plab/p2plab/netlab"
)

// The runner on the local backend: no root, no namespaces. These tests
// run as any user (docs/netlab.md, "The local backend").

// buildP2plab builds the p2plab binary for one test (removed after it).
func buildP2plab(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds the p2plab binary")
	}
	if bin := os.Getenv("P2PLAB_TEST_BINARY"); bin != "" {
		return bin // a prebuilt binary (e.g. for a run as another user)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := selfbuild.Binary(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// pairTopology resolves every topology name to a server and two clients.
func pairTopology(string) (string, []byte, error) {
	return "pair.yaml", []byte("hosts: [server, alice, bob]\n"), nil
}

func runLocal(t *testing.T, bin, yaml string) *Result {
	t.Helper()
	s, err := ParseScenario("local.yaml", []byte(yaml), pairTopology)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return Run(ctx, s, RunOptions{Backend: BackendLocal, Binary: bin, Artifacts: t.TempDir()})
}

const localHead = `id: local
requirement: the runner drives real programs on the local backend
level: must
topology: pair
heartbeat: 500ms
steps:
  - start: server
  - start: alice
  - start: bob
`

func TestLocalRunner(t *testing.T) {
	bin := buildP2plab(t)
	t.Run("Pass", func(t *testing.T) {
		r := runLocal(t, bin, localHead+`  - chat: {from: alice, to: bob, content: "hello bob"}
  - expect:
      event: {at: bob, type: chat_received, from: alice, content: "hello bob"}
  - expect:
      stats: {total_online: 2}
`)
		if !r.Passed {
			t.Fatalf("scenario failed: %v", r.Err)
		}
		if r.Backend != BackendLocal || len(r.Steps) != r.TotalSteps {
			t.Fatalf("backend %s, %d of %d steps", r.Backend, len(r.Steps), r.TotalSteps)
		}
	})
	t.Run("MustFail", func(t *testing.T) {
		r := runLocal(t, bin, localHead+`  - chat: {from: alice, to: bob, content: "hello bob"}
  - expect:
      within: 1s
      event: {at: bob, type: chat_received, content: "never sent"}
`)
		if r.Passed || !errors.Is(r.Err, ErrNoEvent) || !strings.Contains(r.Error, "within 1s") {
			t.Fatalf("passed %v, error %v; want no matching event", r.Passed, r.Err)
		}
	})
	t.Run("FaultNotSupported", func(t *testing.T) {
		for _, step := range []string{
			"cut: bob",
			"delay: {host: bob, delay: 10ms}",
			"duplicate: {host: bob, percent: 5}",
			"flap: {host: bob, down: 10ms, up: 10ms, count: 1}",
			"loss: {host: bob, percent: 5, direction: out}",
			"rate: {host: bob, rate: 1mbit, direction: in}",
		} {
			r := runLocal(t, bin, localHead+"  - "+step+"\n")
			if r.Passed || !errors.Is(r.Err, netlab.ErrNotSupported) || !strings.Contains(r.Error, "not supported on the local backend") {
				t.Errorf("%s: passed %v, error %v; want netlab.ErrNotSupported", step, r.Passed, r.Err)
			}
		}
	})
	t.Run("Freeze", func(t *testing.T) {
		r := runLocal(t, bin, localHead+"  - freeze: bob\n  - thaw: bob\n")
		if !r.Passed {
			t.Fatalf("freeze and thaw on the local backend: %v", r.Err)
		}
	})
}

// A role template is checked before a lab comes up, and a program that
// does not exist is reported as such.
func TestStartTemplates(t *testing.T) {
	topo := netlab.Topology{
		LANs:  []netlab.LAN{{Name: "lan", Subnet: netip.MustParsePrefix("198.18.1.0/24")}},
		Hosts: []netlab.HostSpec{{Name: "server", NICs: []netlab.NIC{{LAN: "lan"}}}, {Name: "alice", NICs: []netlab.NIC{{LAN: "lan"}}}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tests := []struct {
		name, server, client string
		want                 error
		text                 string
	}{
		{"no control", "", "/bin/true --user {user}", ErrTemplate, "needs the {control} placeholder"},
		{"no listen", "/bin/true --admin {admin}", "", ErrTemplate, "needs the {listen} placeholder"},
		{"typo", "", "/bin/true --control {contrl}", ErrTemplate, "unknown placeholder {contrl}"},
		{"no such program", "/no/such/program --listen {listen}", "", fs.ErrNotExist, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Start(ctx, Options{Backend: BackendLocal, Topology: topo, ServerCommand: tt.server, ClientCommand: tt.client,
				Artifacts: t.TempDir(), Binary: "/bin/true", StartTimeout: 10 * time.Second})
			if l != nil {
				l.Close(ctx)
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("error %v; want %v with %q", err, tt.want, tt.text)
			}
		})
	}
}
