package protocol

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestLogEntryRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 22, 4, 5, 6, 7, time.UTC)
	ap := netip.MustParseAddrPort("198.18.1.10:40001")
	ap6 := netip.MustParseAddrPort("[2001:db8::1]:5")
	tests := []struct {
		e      LogEntry
		phrase string
	}{
		{LogEntry{Kind: LogPrepare, Peer: "bob", Addr: ap}, "prepare to create bob:198.18.1.10:40001"},
		{LogEntry{Kind: LogCreated, Peer: "bob", Addr: ap6}, "created bob:2001:db8::1:5"},
		{LogEntry{Kind: LogCreateFailed, Peer: "b.o-b_", Addr: ap, Reason: "connection refused: x"}, "create failed b.o-b_:198.18.1.10:40001: connection refused: x"},
		{LogEntry{Kind: LogAccepted, Peer: "bob", Addr: ap}, "accepted bob:198.18.1.10:40001"},
		{LogEntry{Kind: LogSendP2P, Me: "alice"}, "send messages through p2p channel, current user ID is alice"},
		{LogEntry{Kind: LogForwarding}, "server Forwarding Message"},
		{LogEntry{Kind: LogClosed, Peer: "bob", Reason: ReasonPeerOffline}, "closed bob: peer offline"},
		{LogEntry{Kind: LogClosed, Peer: "bob", Reason: ReasonHeartbeatTimeout}, "closed bob: heartbeat timeout"},
		{LogEntry{Kind: LogClosed, Peer: "bob", Reason: ReasonConnectionLost}, "closed bob: connection lost"},
		{LogEntry{Kind: LogClosed, Peer: "bob", Reason: ReasonReplaced}, "closed bob: replaced"},
		{LogEntry{Kind: LogClosed, Peer: "bob", Reason: ReasonLogout}, "closed bob: logout"},
		{LogEntry{Kind: LogTry, Method: MethodLAN, Peer: "bob", Addr: ap}, "try lan bob:198.18.1.10:40001"},
		{LogEntry{Kind: LogTry, Method: MethodUDPPunch, Peer: "bob", Addr: ap6}, "try udp-punch bob:2001:db8::1:5"},
		{LogEntry{Kind: LogTryFailed, Method: MethodTCPPunch, Peer: "bob", Addr: ap, Reason: "timeout"}, "try failed tcp-punch bob:198.18.1.10:40001: timeout"},
		{LogEntry{Kind: LogPunched, Method: MethodUDPPunch, Peer: "bob", Addr: ap}, "punched udp-punch bob:198.18.1.10:40001"},
		{LogEntry{Kind: LogRefused, Peer: "mallory", Addr: ap, Reason: "identity: bad proof"}, "refused mallory:198.18.1.10:40001: identity: bad proof"},
	}
	for _, tt := range tests {
		t.Run(tt.phrase, func(t *testing.T) {
			tt.e.Time = ts
			line := tt.e.String()
			if want := "2026-11-22T04:05:06.000000007Z " + tt.phrase; line != want {
				t.Fatalf("String() = %q, want %q", line, want)
			}
			got, err := ParseLogLine(line + "\n")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.e {
				t.Fatalf("parsed %+v, want %+v", got, tt.e)
			}
		})
	}
}

func TestParseLogLineRejects(t *testing.T) {
	const ts = "2026-11-22T04:05:06.000000007Z "
	bad := []string{
		"",
		"server Forwarding Message",            // no timestamp
		"2026-11-22 server Forwarding Message", // bad timestamp
		"2026-11-22T04:05:06.000000007+01:00 server Forwarding Message", // not UTC
		ts + "server forwarding message",                                // wrong case
		ts + "server Forwarding Message ",                               // trailing space
		ts + "prepare to create bob",                                    // no endpoint
		ts + "prepare to create bob:1.2.3.4",                            // no port
		ts + "prepare to create bob:1.2.3.4:99999",                      // port out of range
		ts + "prepare to create bob:999.2.3.4:1",                        // bad IP
		ts + "create bob:1.2.3.4:1",                                     // not a phrase
		ts + "create failed bob:1.2.3.4:1",                              // no reason
		ts + "closed bob: timeout",                                      // unknown reason
		ts + "closed bob",                                               // no reason
		ts + "closed b ob: logout",                                      // bad peer
		ts + "send messages through p2p channel, current user ID is",
		ts + "send messages through P2P channel, current user ID is alice",
	}
	for _, line := range bad {
		if e, err := ParseLogLine(line); err == nil {
			t.Errorf("ParseLogLine(%q) = %+v, want error", line, e)
		}
	}
}

func TestParseLog(t *testing.T) {
	const ts = "2026-11-22T04:05:06.000000007Z "
	text := ts + "server Forwarding Message\n\n" + ts + "closed bob: logout\n" + ts + "bogus\n" + ts + "server Forwarding Message\n"
	es, err := ParseLog(text)
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("err = %v, want one naming line 4", err)
	}
	if len(es) != 2 || es[1].Kind != LogClosed {
		t.Fatalf("entries before the bad line: %+v", es)
	}
}
