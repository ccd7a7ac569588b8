package client_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Where DESIGN section 1 is tested (all against the reference server,
// server/servertest, on loopback):
//
//	1.1-1.2 same-port listen, advertised endpoint: TestFullMesh, TestProcess
//	1.3 table replaces: TestReplaceSameInitiator, TestTieBreak
//	1.4 newcomer dials, SetupP2PMessage, tie-break: TestFullMesh,
//	    TestTieBreak, TestSimultaneousLogin, TestControlConnect
//	1.5 channel or relay: TestChatOverChannel, TestRelayFallback
//	1.6 offline notify closes the channel: TestPeerOfflineClosesChannel,
//	    TestPeerOfflineNotifyWinsOverChannel
//	1.7 channel heartbeats, independence from the server:
//	    TestHeartbeatTeardown, TestHeartbeatKeepsIdleChannel,
//	    TestChatSurvivesServerDeath, TestServerRestored, TestProcess/freeze
//	1.8 files both ways: TestFiles, TestFileRejected, TestFileToOfflineUser,
//	    TestFileChannelLostMidTransfer
//	1.9 ack, dedupe, resend, refusal: TestDedupe, TestResendThroughServer,
//	    TestInFlightExactlyOnce, TestChatToOfflineUser
//	1.10 P2PInfo log: asserted in most of the above (every log must parse)
//	1.11 server counters: TestChatOverChannel, TestRelayFallback, TestFiles
//
// Bad input: TestMalformedFrameClosesOnlyThatChannel, TestHostilePeer,
// TestControlBadRequests, TestProcessUsage, TestLoginRefused.

// TestMain fails the run if goroutines outlive the tests: every client,
// server, raw peer and control API client must have been stopped.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "goroutine leak: %d goroutines after the tests, %d before\n%s\n", n, before, leaked(string(buf)))
			code = 1
		}
	}
	os.Exit(code)
}

// leaked drops the test runner's own goroutines from a stack dump.
func leaked(dump string) string {
	var out []string
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.Contains(g, "testing.(*M).Run") || strings.Contains(g, "runtime.Stack") {
			continue
		}
		out = append(out, g)
	}
	return strings.Join(out, "\n\n")
}
