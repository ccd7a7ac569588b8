package server_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/p2plab/p2plab/server"
)

// /metrics passes promtool's lint (names, types, HELP, units), when the
// prometheus package's promtool is installed.
func TestMetricsLint(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("SKIP: no promtool (apt-get install prometheus)")
	}
	s := newServer(t, server.Config{})
	alice := login(t, s, "alice")
	bob := login(t, s, "bob")
	alice.expectNotify("bob", true)
	alice.send(chat("alice", "bob", "m1", "hi"), 0)
	bob.expectChat("alice", "m1", "hi")
	m, err := s.Admin.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(m)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\nmetrics:\n%s", err, out, m)
	}
}
