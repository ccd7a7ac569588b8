package client_test

import (
	"testing"

	"github.com/p2plab/p2plab/internal/leaktest"
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
// server, raw peer and control API client must have been stopped. The
// check (internal/leaktest, on go.uber.org/goleak) compares goroutine stacks with those before
// the tests, so the fuzzing engine's own goroutines do not count.
func TestMain(m *testing.M) { leaktest.Main(m) }
