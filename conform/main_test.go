package conform_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/p2plab/p2plab/conform"
	"github.com/p2plab/p2plab/server"
	"github.com/p2plab/p2plab/server/servertest"
)

// p2plabBin is the p2plab binary built once for the tests: the reference
// server and client under test, and the CLI itself.
var p2plabBin string

func TestMain(m *testing.M) {
	if bin := os.Getenv("P2PLAB_TEST_BINARY"); bin != "" {
		// A prebuilt binary (e.g. for a run as a user who cannot build).
		p2plabBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "conform-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p2plabBin = filepath.Join(dir, "p2plab")
	build := exec.Command("go", "build", "-o", p2plabBin, "github.com/p2plab/p2plab/cmd/p2plab")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "conform tests: build p2plab:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Settings the reference server and clients run with in the tests.
const (
	// Generous settings: the machine the tests run on may be loaded, and a
	// reference program that misses its heartbeats would fail checks.
	testHeartbeat = time.Second
	testMisses    = 2
	// testCheckTimeout bounds each check: the defective implementations
	// fail many checks by never answering, so this sets the test's length.
	testCheckTimeout = 20 * time.Second
	// testDefectTimeout bounds each check against a defective
	// implementation, most of whose failures are waits for something that
	// never comes.
	testDefectTimeout = 8 * time.Second
	// testClientHeartbeat is the clients' heartbeat (misses: 3).
	testClientHeartbeat = 500 * time.Millisecond
)

// parallelShort runs t in parallel with the other such tests in a -short
// run (make test): they wait on sockets and timers far more than they use
// the CPU (a serial -short run used 11 % of it). The full self-test keeps
// them serial, so that its load-sensitive defect runs meet the load they
// were measured under (docs/conformance.md, "The self-test").
func parallelShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Parallel()
	}
}

// referenceServer starts the reference server (in this process, on
// loopback) for one test.
func referenceServer(t *testing.T) conform.ServerTarget {
	t.Helper()
	s := servertest.NewServer(t, server.Config{Heartbeat: testHeartbeat, Misses: testMisses})
	return conform.ServerTarget{Addr: s.Addr, Admin: s.AdminAddr.String(), Heartbeat: testHeartbeat, Misses: testMisses, CheckTimeout: testCheckTimeout}
}

// referenceClient is the command template of the reference client, with
// punching on so that it advertises every v1.1 feature (docs/protocol.md
// 9.1) and no requirement is unsupported.
func referenceClient() string {
	return p2plabBin + " client --punch --server {server} --user {user} --control {control} --log {log} --files {files} --heartbeat {heartbeat} --misses {misses}"
}

// notPassed returns the IDs of results that did not pass, and a text
// describing them.
func notPassed(results []conform.Result) (map[string]bool, string) {
	ids := map[string]bool{}
	text := ""
	for _, r := range results {
		if r.Verdict != conform.Pass {
			ids[r.ID] = true
			text += fmt.Sprintf("  %s %s: expected %s; actual %s; %s\n", r.Verdict, r.ID, r.Expected, r.Actual, r.Message)
		}
	}
	return ids, text
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func set(ids ...string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}
