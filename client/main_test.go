package client_test

import (
	"testing"

	"github.com/p2plab/p2plab/internal/leaktest"
)

// Where docs/protocol.md's client rules are tested (all against the
// reference server, server/servertest, on loopback):
//
//	6.1 same-port listen, advertised endpoint: TestFullMesh, TestProcess
//	6.4 table replaces, tie-break: TestReplaceSameInitiator, TestTieBreak
//	6.2-6.3 newcomer dials, SetupP2PMessage: TestFullMesh,
//	    TestTieBreak, TestSimultaneousLogin, TestControlConnect
//	6.5 channel or relay: TestChatOverChannel, TestRelayFallback
//	5.7, 6.8 offline notify closes the channel: TestPeerOfflineClosesChannel,
//	    TestPeerOfflineNotifyWinsOverChannel
//	6.7, 6.9 channel heartbeats, independence from the server:
//	    TestHeartbeatTeardown, TestHeartbeatKeepsIdleChannel,
//	    TestChatSurvivesServerDeath, TestServerRestored, TestProcess/freeze
//	3.9 files both ways: TestFiles, TestFileRejected, TestFileToOfflineUser,
//	    TestFileChannelLostMidTransfer
//	6.6 ack, dedupe, resend, refusal: TestDedupe, TestResendThroughServer,
//	    TestInFlightExactlyOnce, TestChatToOfflineUser
//	7 P2PInfo log: asserted in most of the above (every log must parse)
//	5.6 server counters: TestChatOverChannel, TestRelayFallback, TestFiles
//
// Bad input: TestMalformedFrameClosesOnlyThatChannel, TestHostilePeer,
// TestControlBadRequests, TestProcessUsage, TestLoginRefused.

// TestMain fails the run if goroutines outlive the tests: every client,
// server, raw peer and control API client must have been stopped. The
// check (internal/leaktest, on go.uber.org/goleak) compares goroutine stacks with those before
// the tests, so the fuzzing engine's own goroutines do not count.
func TestMain(m *testing.M) { leaktest.Main(m) }
