package conform_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/conform"
	"github.com/p2plab/p2plab/conform/internal/defective"
)

// clientTarget is the reference client (or a defective wrapping of it,
// when wrap is not nil) checked in a lab on the local backend: no root.
func clientTarget(t *testing.T, wrap func(conform.StartClientFunc) conform.StartClientFunc) conform.ClientTarget {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, target, err := conform.StartClientLab(ctx, conform.LabOptions{Backend: "local", Binary: p2plabBin, Command: referenceClient(),
		Heartbeat: testClientHeartbeat, Misses: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	if wrap != nil {
		target.Start = wrap(target.Start)
	}
	target.CheckTimeout = testCheckTimeout
	return target
}

// The reference client passes every client requirement.
func TestReferenceClientConforms(t *testing.T) {
	parallelShort(t)
	target := clientTarget(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reqs := conform.Catalogue(conform.RoleClient)
	results, err := conform.RunClient(ctx, target, reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(reqs) {
		t.Fatalf("%d results for %d requirements", len(results), len(reqs))
	}
	if bad, text := notPassed(results); len(bad) > 0 {
		t.Fatalf("the reference client does not pass:\n%s", text)
	}
}

// clientDefectCases is each defective client with the requirements it
// fails (TestDefectiveClientsFailExactly adds its section 9 failures from
// v11ClientDefects).
var clientDefectCases = []struct {
	defect defective.ClientDefect
	fails  map[string]bool
}{
	// Its ChatAcks are dropped on the channels it opens too (they go
	// through the wrapper), where 2.2's marker is one.
	{defective.NoAck, set("client/6.6/ack", "client/6.6/ack-relay", "client/2.2/omit-absent")},
	// Its dropped HeartbeatAcks are the markers of 4.1 and 2.2 too.
	{defective.NoHeartbeatAck, set("client/6.7/heartbeat-answer", "client/5.8/heartbeat-answer", "client/4.1/no-error-answer", "client/2.2/omit-absent")},
	{defective.WrongLogPhrase, set("client/7.2/log-send")},
	{defective.NoTeardown, set("client/6.2/teardown-offline", "client/7.2/log-closed")},
	// Version 1.1 defects (their section 9 failures are added from
	// v11ClientDefects, as for every defect above).
	{defective.AcceptAnyProof, set()},
	{defective.AcceptV1Claim, set()},
	{defective.BadProof, set()},
	{defective.CrossChannel, set()},
	{defective.NoPunch, set()},
	{defective.WrongMethod, set()},
	{defective.OrderDependent, set("client/3.3/any-order")},
	{defective.AnswerErrorChannel, set("client/4.1/no-error-answer")},
	{defective.KeepBadChannel, set("client/2.1/length-limit", "client/2.4/bad-frame", "client/4.2/forbidden-close", "client/6.3/setup-required")},
	{defective.IgnoreLengthChannel, set("client/2.1/length-limit")},
	{defective.NullMembersClient, set("client/2.2/omit-absent")},
	{defective.NoResend, set("client/6.9/resend-relayed")},
	// The strict defects (client_strict.go).
	{defective.RandomPort, set("client/6.3/same-port")},
	{defective.NoDigestCheck, set("client/3.9/file-digest")},
	{defective.SilentLogout, set("client/3.10/logout-frame")},
	{defective.DeafToSilence, set("client/6.9/server-silent")},
	{defective.NoSizeCheck, set("client/3.9/file-size")},
	{defective.AcceptBadSetup, set("client/6.3/setup-bad-user")},
	{defective.IgnoreSetupSwitch, set("client/6.3/setup-other")},
	{defective.DialOnOnline, set("client/6.2/no-dial-on-online")},
	{defective.NoFileRelay, set("client/6.5/file-relay")},
	// The defects of client_cover.go: each client MUST requirement
	// fails with one of them at least.
	{defective.SwapInitiator, set("client/6.2/initiate", "client/6.3/accept", "client/6.4/tie-break")},
	{defective.WrongAcceptLog, set("client/7.2/log-accept", "client/7.2/log-closed", "client/7.2/log-send")},
	{defective.WrongCreateLog, set("client/7.2/log-create")},
	{defective.KeylessID, set()},
	{defective.LaxNotFound, set("client/api/bad-requests")},
	{defective.NoLongPoll, set("client/api/events")},
	{defective.RawListen, set("client/api/status")},
	{defective.FakeLogout, set("client/api/logout", "client/3.10/logout-frame")},
	{defective.SwapVia, set("client/6.5/p2p-send", "client/6.5/relay-fallback", "client/6.5/file-send", "client/6.5/file-relay", "client/6.9/server-loss")},
	{defective.SwallowOffline, set("client/6.6/offline-refused")},
	{defective.NoChannelHeartbeat, set("client/6.7/heartbeat-send", "client/2.2/omit-absent")},
	{defective.KeepSilentChannel, set("client/6.7/channel-timeout")},
	{defective.SetupLate, set("client/6.3/setup-first")},
	{defective.DoubleDeliver, set("client/6.6/dedupe")},
	{defective.NoChannelResend, set("client/6.6/resend")},
	{defective.FragileChannels, set("client/6.9/server-loss")},
	{defective.NoP2PChat, set("client/6.5/p2p-send", "client/6.6/resend", "client/6.9/server-loss", "client/2.2/omit-absent")},
	{defective.NoChatRelay, set("client/6.5/relay-fallback", "client/6.6/offline-refused", "client/6.6/resend", "client/6.9/resend-relayed", "client/2.2/omit-absent")},
	{defective.NoP2PFile, set("client/6.5/file-send")},
}

// Each defective client fails exactly the requirements its defect breaks.
func TestDefectiveClientsFailExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the defective runs wait out many deadlines (minutes)")
	}
	for _, tc := range clientDefectCases {
		for _, id := range v11ClientDefects[tc.defect] {
			tc.fails[id] = true
		}
		t.Run(string(tc.defect), func(t *testing.T) {
			t.Parallel()
			target := clientTarget(t, func(start conform.StartClientFunc) conform.StartClientFunc {
				return defective.WrapClient(start, tc.defect)
			})
			target.CheckTimeout = testDefectTimeout
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			results, err := conform.RunClient(ctx, target, conform.Catalogue(conform.RoleClient), nil)
			if err != nil {
				t.Fatal(err)
			}
			if testing.Verbose() {
				var b strings.Builder
				conform.WriteReport(&b, results, false)
				t.Log(b.String())
			}
			got, text := notPassed(results)
			if !sameSet(got, tc.fails) {
				t.Fatalf("defect %s: failed %v, want exactly %v:\n%s", tc.defect, keys(got), keys(tc.fails), text)
			}
			for _, r := range results {
				if tc.fails[r.ID] && r.Verdict != conform.Fail {
					t.Errorf("%s: verdict %s, want fail (%s)", r.ID, r.Verdict, r.Message)
				}
			}
		})
	}
}

// Every client MUST requirement fails with one defective client at least
// (a check no defect fails is not shown able to fail).
func TestClientMustsFailedByADefect(t *testing.T) {
	failed := map[string]bool{}
	for _, tc := range clientDefectCases {
		for id := range tc.fails {
			failed[id] = true
		}
		for _, id := range v11ClientDefects[tc.defect] {
			failed[id] = true
		}
	}
	for _, r := range conform.Catalogue(conform.RoleClient) {
		if r.Level == conform.Must && !failed[r.ID] {
			t.Errorf("%s: no defective client fails it", r.ID)
		}
	}
}
