package conform_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/p2plab/p2plab/conform"
	"github.com/p2plab/p2plab/netlab"
)

// labBackends are the backends the lab tests run on: local always, netns
// as root.
func labBackends(t *testing.T) []string {
	out := []string{netlab.BackendLocal}
	if os.Geteuid() == 0 {
		out = append(out, netlab.BackendNetns)
	} else {
		t.Log("not root: the netns lab is not tried")
	}
	return out
}

// The reference server started on a lab host, checked from another lab
// host, passes every server requirement.
func TestReferenceServerInLab(t *testing.T) {
	parallelShort(t)
	for _, b := range labBackends(t) {
		t.Run(b, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			lab, target, err := conform.StartServerLab(ctx, conform.LabOptions{Backend: b, Binary: p2plabBin,
				Command:   p2plabBin + " server --listen {listen} --admin {admin} --heartbeat {heartbeat} --misses {misses}",
				Heartbeat: testHeartbeat, Misses: testMisses})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := lab.Close(); err != nil {
					t.Errorf("lab close: %v", err)
				}
			})
			if a := target.Addr.Addr(); a.Is4() && a.As4()[0] == 127 && a.As4()[1] == 0 || target.Admin == "" || target.AdminHTTP == nil {
				t.Fatalf("target %+v is not a lab host's address with an admin API", target)
			}
			target.CheckTimeout = testCheckTimeout
			results := conform.RunServer(ctx, target, conform.Catalogue(conform.RoleServer), nil)
			if bad, text := notPassed(results); len(bad) > 0 {
				t.Fatalf("the reference server in the lab does not pass:\n%s\nserver output:\n%s", text, lab.Output())
			}
		})
	}
}

// The reference client started on a netns lab host, with the reference
// server and the fake peers on two other hosts, passes every client
// requirement (the local backend's run is TestReferenceClientConforms).
func TestReferenceClientInLab(t *testing.T) {
	parallelShort(t)
	if os.Geteuid() != 0 {
		t.Skip("the netns lab needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lab, target, err := conform.StartClientLab(ctx, conform.LabOptions{Backend: netlab.BackendNetns, Binary: p2plabBin,
		Command: referenceClient(), Heartbeat: testClientHeartbeat, Misses: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	target.CheckTimeout = testCheckTimeout
	results, err := conform.RunClient(ctx, target, conform.Catalogue(conform.RoleClient), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bad, text := notPassed(results); len(bad) > 0 {
		t.Fatalf("the reference client in the lab does not pass:\n%s", text)
	}
}
