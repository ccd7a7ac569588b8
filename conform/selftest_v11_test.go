package conform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/conform"
	"github.com/p2plab/p2plab/conform/internal/defective"
	"github.com/p2plab/p2plab/server"
	"github.com/p2plab/p2plab/server/servertest"
)

// v11Reqs is the section 9 part of a role's catalogue.
func v11Reqs(t *testing.T, role conform.Role) []conform.Requirement {
	t.Helper()
	reqs, err := conform.Select(conform.Catalogue(role), []string{string(role) + "/9.*"})
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

// The reference server passes every v1.1 requirement.
func TestReferenceServerV11(t *testing.T) {
	target := referenceServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reqs := v11Reqs(t, conform.RoleServer)
	results := conform.RunServer(ctx, target, reqs, nil)
	if len(results) != len(reqs) || len(reqs) < 10 {
		t.Fatalf("%d results for %d requirements", len(results), len(reqs))
	}
	if bad, text := notPassed(results); len(bad) > 0 {
		t.Fatalf("the reference server does not pass:\n%s", text)
	}
}

// A version 1 server (the reference server with --v1) passes the v1
// requirements of section 9 and is unsupported, not failed, on the rest:
// exit status 127.
func TestV1ServerUnsupported(t *testing.T) {
	s := servertest.NewServer(t, server.Config{Heartbeat: testHeartbeat, Misses: testMisses, Version1: true})
	target := conform.ServerTarget{Addr: s.Addr, Admin: s.AdminAddr.String(), Heartbeat: testHeartbeat, Misses: testMisses, CheckTimeout: testCheckTimeout}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results := conform.RunServer(ctx, target, v11Reqs(t, conform.RoleServer), nil)
	for _, r := range results {
		want := conform.Unsupported
		if r.ID == "server/9.1/v1-frames" {
			want = conform.Pass
		}
		if r.Verdict != want {
			t.Errorf("%s: verdict %s, want %s (%s %s %s)", r.ID, r.Verdict, want, r.Expected, r.Actual, r.Message)
		}
	}
	if code := conform.Summarize(results).ExitCode(false); code != conform.ExitUnsupported {
		t.Errorf("exit code %d, want %d", code, conform.ExitUnsupported)
	}
	var b strings.Builder
	conform.WriteReport(&b, results, false)
	if !strings.Contains(b.String(), "conforms to protocol v1; v1.1 features not advertised: ") || strings.Contains(b.String(), "CONFORMS") {
		t.Errorf("report:\n%s", b.String())
	}
}

// The reference client (with --punch) passes every v1.1 requirement.
func TestReferenceClientV11(t *testing.T) {
	parallelShort(t)
	target := clientTarget(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reqs := v11Reqs(t, conform.RoleClient)
	results, err := conform.RunClient(ctx, target, reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(reqs) || len(reqs) < 8 {
		t.Fatalf("%d results for %d requirements", len(results), len(reqs))
	}
	if bad, text := notPassed(results); len(bad) > 0 {
		t.Fatalf("the reference client does not pass:\n%s", text)
	}
}

// v11ServerDefects is what each defective server fails in section 9 of the
// catalogue (the full runs of TestDefectiveServersFailExactly add the
// rest).
var v11ServerDefects = map[defective.ServerDefect][]string{
	defective.ForwardForged:       {"server/9.6/punch-forged"},
	defective.KeepBadConn:         {"server/9.1/bad-key"},
	defective.WrongObserved:       {"server/9.5/udp-hello"},
	defective.LeakV11:             {"server/9.1/v1-frames", "server/9.6/punch-v1-dest"},
	defective.UDPNoToken:          {"server/9.5/udp-wrong-token", "server/9.5/udp-not-logged-in", "server/9.10/udp-rejected-counted"},
	defective.PunchTrustEndpoints: {"server/9.6/punch-relay"},
	defective.StripKeys:           {"server/9.3/key-distribution"},
	defective.StripMisses:         {"server/9.1/login-result"},
}

// Each defective server fails exactly its section 9 requirements (fast:
// section 9 only, so it runs under -short too).
func TestDefectiveServersV11(t *testing.T) {
	parallelShort(t)
	for _, d := range defective.ServerDefects {
		t.Run(string(d), func(t *testing.T) {
			parallelShort(t)
			// A server of its own: udp-rejected-counted reads a
			// server-wide counter that parallel runs would move.
			target := referenceServer(t)
			p, err := defective.NewServerProxy(target.Addr, d)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			bad := target
			bad.Addr = p.Addr()
			bad.CheckTimeout = testDefectTimeout
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			results := conform.RunServer(ctx, bad, v11Reqs(t, conform.RoleServer), nil)
			got, text := notPassed(results)
			if want := set(v11ServerDefects[d]...); !sameSet(got, want) {
				t.Fatalf("defect %s: failed %v, want exactly %v:\n%s", d, keys(got), keys(want), text)
			}
			for _, r := range results {
				if got[r.ID] && r.Verdict != conform.Fail {
					t.Errorf("%s: verdict %s, want fail (%s)", r.ID, r.Verdict, r.Message)
				}
			}
		})
	}
}

// v11ClientDefects is what each defective client fails in section 9 of the
// catalogue (the full runs of TestDefectiveClientsFailExactly add the
// rest).
var v11ClientDefects = map[defective.ClientDefect][]string{
	defective.AcceptAnyProof: {"client/9.4/wrong-proof"},
	defective.AcceptV1Claim:  {"client/9.2/downgrade-refused"},
	// Every check that opens a proved channel to the client.
	defective.BadProof:     {"client/9.4/handshake", "client/9.4/wrong-proof", "client/9.4/forged-ack", "client/9.4/forged-chunk", "client/9.9/channels-transport"},
	defective.CrossChannel: {"client/9.4/forged-ack", "client/9.4/forged-chunk"},
	defective.NoPunch:      {"client/9.5/udp-hello", "client/9.6/punch-answer"},
	defective.WrongMethod:  {"client/9.9/channels-transport"},
	// The refusals of an impostor end with a close that it keeps open.
	defective.KeepBadChannel: {"client/9.2/downgrade-refused", "client/9.4/wrong-proof"},
	// The checks that take a HeartbeatAck on a proved channel as a marker.
	defective.NoHeartbeatAck: {"client/9.4/handshake", "client/9.4/forged-ack", "client/9.4/forged-chunk"},
	// A forged ack leaves its message to be resent, which it never is.
	defective.NoChannelResend: {"client/9.4/forged-ack"},
	// The message of a forged ack goes over a channel, then the server.
	defective.NoP2PChat:   {"client/9.4/forged-ack"},
	defective.NoChatRelay: {"client/9.4/forged-ack"},
	// Without its key no proved channel can be made or refused.
	defective.KeylessID: {"client/9.1/features", "client/9.2/downgrade-refused", "client/9.4/handshake", "client/9.4/wrong-proof",
		"client/9.4/forged-ack", "client/9.4/forged-chunk", "client/9.9/channels-transport"},
}

// Each defective client fails exactly its section 9 requirements.
func TestDefectiveClientsV11(t *testing.T) {
	parallelShort(t)
	for _, d := range defective.ClientDefects {
		t.Run(string(d), func(t *testing.T) {
			parallelShort(t)
			target := clientTarget(t, func(start conform.StartClientFunc) conform.StartClientFunc {
				return defective.WrapClient(start, d)
			})
			target.CheckTimeout = testDefectTimeout
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			results, err := conform.RunClient(ctx, target, v11Reqs(t, conform.RoleClient), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, text := notPassed(results)
			if want := set(v11ClientDefects[d]...); !sameSet(got, want) {
				t.Fatalf("defect %s: failed %v, want exactly %v:\n%s", d, keys(got), keys(want), text)
			}
			for _, r := range results {
				if got[r.ID] && r.Verdict != conform.Fail {
					t.Errorf("%s: verdict %s, want fail (%s)", r.ID, r.Verdict, r.Message)
				}
			}
		})
	}
}

// A version 1 client (the reference client with --v1) is unsupported, not
// failed, on every v1.1 requirement: exit status 127, through the CLI too,
// with the verdict in the JSON and JUnit reports.
func TestV1ClientUnsupported(t *testing.T) {
	parallelShort(t)
	target := referenceServer(t)
	dir := t.TempDir()
	jsonPath, junitPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.xml")
	code, out := runCLI(t, "conform", "client", "--server", target.Addr.String(), "--run", "client/9.*,client/6.3/accept",
		"--json", jsonPath, "--junit", junitPath, "--cmd", referenceClient()+" --v1")
	if code != conform.ExitUnsupported || !strings.Contains(out, "conforms to protocol v1; v1.1 features not advertised: id, punch, any (a version 1 program)") ||
		strings.Contains(out, "CONFORMS") || !strings.Contains(out, "UNSP  MUST   client/9.4/handshake") || !strings.Contains(out, "PASS  MUST   client/6.3/accept") {
		t.Fatalf("exit %d, want %d:\n%s", code, conform.ExitUnsupported, out)
	}
	var rep conform.Report
	b, err := os.ReadFile(jsonPath)
	if err != nil || json.Unmarshal(b, &rep) != nil || rep.ExitCode != conform.ExitUnsupported || rep.Summary.Unsupported != len(v11Reqs(t, conform.RoleClient)) ||
		!strings.HasPrefix(rep.Verdict, "conforms to protocol v1") {
		t.Fatalf("json report: %v\n%s", err, b)
	}
	if b, err := os.ReadFile(junitPath); err != nil || !bytes.Contains(b, []byte(`<skipped message="unsupported: the client&#39;s Login carries no features`)) {
		t.Fatalf("junit report: %v\n%s", err, b)
	}
}

// MUST checks skipped (no --heartbeat) give exit status 3 and a verdict
// that does not say CONFORMS.
func TestCLISkippedMust(t *testing.T) {
	parallelShort(t)
	target := referenceServer(t)
	code, out := runCLI(t, "conform", "server", "--addr", target.Addr.String(), "--run", "server/5.8")
	if code != conform.ExitSkipped || strings.Contains(out, "CONFORMS") ||
		!strings.Contains(out, "NOT FULLY CHECKED: no MUST failed, but 2 MUST requirements were not checked (SKIP above): server/5.8/heartbeat-timeout, server/5.8/server-heartbeat") {
		t.Fatalf("exit %d, want %d:\n%s", code, conform.ExitSkipped, out)
	}
	// A failure takes precedence over the skips.
	bad, err := defective.NewServerProxy(target.Addr, defective.ForwardForged)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bad.Close)
	if code, out := runCLI(t, "conform", "server", "--addr", bad.Addr().String(), "--run", "server/5.8,server/5.5/forged-sender"); code != conform.ExitFailed {
		t.Fatalf("exit %d, want %d:\n%s", code, conform.ExitFailed, out)
	}
}
