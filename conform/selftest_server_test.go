package conform_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/conform"
	"github.com/p2plab/p2plab/conform/internal/defective"
)

// The reference server passes every server requirement, with nothing
// skipped.
func TestReferenceServerConforms(t *testing.T) {
	parallelShort(t)
	target := referenceServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results := conform.RunServer(ctx, target, conform.Catalogue(conform.RoleServer), nil)
	if len(results) != len(conform.Catalogue(conform.RoleServer)) {
		t.Fatalf("%d results for %d requirements", len(results), len(conform.Catalogue(conform.RoleServer)))
	}
	if bad, text := notPassed(results); len(bad) > 0 {
		t.Fatalf("the reference server does not pass:\n%s", text)
	}
}

// serverDefectCases lists each defective server with the requirements it
// fails exactly (TestDefectiveServersFailExactly adds its section 9 failures
// from v11ServerDefects).
var serverDefectCases = []struct {
	defect defective.ServerDefect
	fails  map[string]bool
}{
	{defective.NoStateNotify, set("server/5.7/notify-online", "server/5.7/notify-logout", "server/5.7/notify-disconnect", "server/5.8/heartbeat-timeout",
		"server/5.10/slow-consumer", "server/2.2/omit-absent")},
	// The proxy reads whole frames to launder senders: a half frame
	// stays in it, and nothing ever cuts it with bad_frame.
	{defective.ForwardForged, set("server/5.5/forged-sender", "server/5.9/stalled-frame")},
	{defective.IgnoreLengthLimit, set("server/2.1/length-limit")},
	{defective.KeepBadConn, set("server/2.1/length-zero", "server/2.1/length-limit", "server/2.4/not-json", "server/2.4/no-type",
		"server/3.11/malformed-re", "server/4.2/unknown-type", "server/2.2/bad-id", "server/2.2/case-sensitive", "server/2.4/body-not-object",
		"server/4.2/client-type", "server/5.4/no-dest", "server/5.5/sender-not-string", "server/5.9/stalled-frame", "server/5.5/sender-null",
		"server/2.4/trailing-bytes", "server/2.2/float-id", "server/2.2/exponent-id", "server/2.4/invalid-utf8", "server/2.4/empty-type")},
	{defective.DropUserOffline, set("server/5.4/user-offline", "server/5.4/user-offline-file", "server/5.10/slow-consumer", "server/2.2/omit-absent")},
	{defective.WrongObserved, set("server/5.1/observed")},
	// Version 1.1 defects (their section 9 failures are added from
	// v11ServerDefects, as for every defect above).
	{defective.LeakV11, set()},
	{defective.UDPNoToken, set()},
	// Reads whole frames, as forward-forged does.
	{defective.PunchTrustEndpoints, set("server/5.9/stalled-frame")},
	{defective.StripKeys, set()},
	{defective.AnswerError, set("server/4.1/no-error-answer")},
	{defective.NullMembers, set("server/2.2/omit-absent")},
	// The strict defects (server_strict.go): lenient decoding, case
	// folding, and answers a sloppy server adds or drops.
	{defective.AcceptTrailing, set("server/2.4/trailing-bytes")},
	{defective.AcceptFloatID, set("server/2.2/float-id", "server/2.2/exponent-id")},
	{defective.AcceptBadUTF8, set("server/2.4/invalid-utf8")},
	{defective.FoldCase, set("server/1.2/user-id-case")},
	{defective.CutAfterRefusal, set("server/5.4/user-offline", "server/5.10/slow-consumer", "server/2.2/omit-absent")},
	{defective.FirstDuplicate, set("server/2.2/duplicate-last")},
	{defective.NullMalformed, set("server/2.2/null-absent")},
	{defective.DropUnnumberedAck, set("server/3.8/heartbeat-no-id")},
	{defective.EmptyTypeUnknown, set("server/2.4/empty-type")},
	{defective.UnknownBeforeLogin, set("server/4.2/unknown-before-login")},
	{defective.NoSelfRelay, set("server/5.4/self-relay")},
	{defective.SelfNotify, set("server/5.7/no-self-notify")},
	{defective.BadFrameFatal, set("server/5.4/insert-overflow")},
	// A strict server that cuts the flooding sender first: the
	// flood's write fails (broken pipe, reset), which is a failure of
	// the server's, not an error of the checker's.
	{defective.CutFlooder, set("server/5.10/slow-consumer")},
	// The coverage defects (server_cover.go): each breaks a rule no
	// defect above breaks.
	{defective.RefuseLongID, set("server/2.5/user-id-64")},
	// insert-overflow sends a frame of the maximum length.
	{defective.RefuseMaxFrame, set("server/2.1/length-max", "server/5.4/insert-overflow")},
	// The checker pads its maximum-length frame and its empty-type frame
	// with an unknown member.
	{defective.RejectUnknownFields, set("server/2.2/unknown-fields", "server/2.1/length-max", "server/2.4/empty-type")},
	{defective.AcceptSecondLogin, set("server/5.1/second-login")},
	// omit-absent reads the refusal's close too; unknown-before-login
	// expects the close after not_logged_in.
	{defective.KeepRefused, set("server/5.1/bad-user-id", "server/5.1/already-online", "server/5.1/login-first", "server/4.2/unknown-before-login", "server/2.2/omit-absent")},
	{defective.KeepIdle, set("server/5.1/idle-before-login")},
	{defective.WrongLoginRe, set("server/5.1/login-reply")},
	// already-online finds the first session in ResP2pInfo at its
	// endpoint.
	{defective.WrongSelfEndpoint, set("server/5.3/p2pinfo", "server/5.1/already-online")},
	{defective.ListLoggedOut, set("server/5.3/p2pinfo-offline")},
	{defective.DropRelayedAck, set("server/5.4/relay-ack")},
	{defective.DropFileChunk, set("server/5.4/relay-file")},
	// self-relay reads the relayed frame's id too.
	{defective.NumberRelayed, set("server/5.4/relay-chat", "server/5.4/self-relay")},
	{defective.ReorderChats, set("server/5.4/relay-order")},
	{defective.IgnoreSenderCase, set("server/5.5/forged-sender-case")},
	{defective.NoSenderInsert, set("server/5.5/sender-inserted")},
	// omit-absent reads a server Heartbeat for absent members.
	{defective.NoServerHeartbeat, set("server/5.8/server-heartbeat", "server/2.2/omit-absent")},
	{defective.DropHeartbeatAck, set("server/5.8/heartbeat-ack")},
	{defective.KeepAfterLogout, set("server/5.11/logout-closes")},
	// Its 9.1 failure is in v11ServerDefects.
	{defective.StripMisses, set()},
}

// Each defective server fails exactly the requirements its defect breaks.
func TestDefectiveServersFailExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the defective runs wait out many deadlines (minutes)")
	}
	target := referenceServer(t)
	// udp-rejected-counted reads a server-wide counter, which the other
	// defects' runs (in parallel, on the same server) move too: the
	// sequential TestDefectiveServersV11 checks it.
	const shared = "server/9.10/udp-rejected-counted"
	for _, tc := range serverDefectCases {
		for _, id := range v11ServerDefects[tc.defect] {
			if id != shared {
				tc.fails[id] = true
			}
		}
		t.Run(string(tc.defect), func(t *testing.T) {
			t.Parallel()
			p, err := defective.NewServerProxy(target.Addr, tc.defect)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			bad := target
			bad.Addr = p.Addr()
			bad.CheckTimeout = testDefectTimeout
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			results := conform.RunServer(ctx, bad, conform.Catalogue(conform.RoleServer), nil)
			if testing.Verbose() {
				var b strings.Builder
				conform.WriteReport(&b, results, false)
				t.Log(b.String())
			}
			got, text := notPassed(results)
			delete(got, shared)
			if !sameSet(got, tc.fails) {
				t.Fatalf("defect %s: failed %v, want exactly %v:\n%s", tc.defect, keys(got), keys(tc.fails), text)
			}
			for _, r := range results {
				if tc.fails[r.ID] && r.Verdict != conform.Fail {
					t.Errorf("%s: verdict %s, want fail (%s)", r.ID, r.Verdict, r.Message)
				}
				if r.Verdict == conform.Fail && (r.Expected == "" || r.Actual == "") {
					t.Errorf("%s: failure without expected/actual: %+v", r.ID, r)
				}
			}
		})
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Every server MUST requirement is failed by at least one defective server
// (docs/conformance.md, the self-test): a check no defect fails is not
// proved able to fail.
func TestServerDefectsCoverEveryMust(t *testing.T) {
	failed := map[string]bool{}
	for _, tc := range serverDefectCases {
		for id := range tc.fails {
			failed[id] = true
		}
		for _, id := range v11ServerDefects[tc.defect] {
			failed[id] = true
		}
	}
	for _, r := range conform.Catalogue(conform.RoleServer) {
		if r.Level == conform.Must && !failed[r.ID] {
			t.Errorf("%s (MUST) is failed by no defective server", r.ID)
		}
	}
}
