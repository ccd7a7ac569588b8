package sim

import (
	"context"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/internal/junit"
	"github.com/p2plab/p2plab/scenarios"
)

// runYAML runs one scenario text on a backend and returns its result;
// netns needs root and is skipped without it.
func runYAML(t *testing.T, bin, backend, text string) *Result {
	t.Helper()
	if backend == BackendNetns && os.Geteuid() != 0 {
		t.Skip("netns needs root for network namespaces")
	}
	s, err := ParseScenario(t.Name()+".yaml", []byte(text), FSTopologies(scenarios.FS))
	if err != nil {
		t.Fatalf("scenario does not load:\n%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return Run(ctx, s, RunOptions{Backend: backend, Binary: bin, Artifacts: t.TempDir()})
}

// A heartbeat of 200ms with 2 misses: a frozen or partitioned peer is torn
// down after 400-600ms (silence counts from the last heartbeat heard), well
// after the 100ms the timestamp-judged checks below allow and well before
// the 1.5s watches end.
const verdictHead = `id: verdict
requirement: verdicts cannot lie
topology: pair
heartbeat: 200ms
misses: 2
steps:
  - start: [server, alice, bob]
  - expect:
      channels: {pairs: [[alice, bob]]}
`

// TestVerdictsCannotLie runs scenarios whose last expectation is reached
// after a watch that outlasts its deadline: `within` counts from the start
// of the last action step for every kind, so each must FAIL, naming the
// expectation and its deadline. The in-time variants show the same checks
// pass when the behaviour did happen in time.
//
// Cases whose only fault is freeze also run on the local backend, so they
// need no root.
func TestVerdictsCannotLie(t *testing.T) {
	bin := buildP2plab(t)
	frozen := verdictHead + `  - freeze: bob
  - expect:
      no_event: {at: alice, type: login}
      during: 1500ms
`
	inflight := verdictHead + `  - partition: {host: alice, peer: bob}
  - chat: {from: alice, to: bob, content: "in flight", as: m1}
  - expect:
      no_event: {at: alice, type: login}
      during: 2s
`
	tests := []struct {
		name string
		text string
		// pass: the scenario must pass; else it must fail with every want
		// in its error.
		pass bool
		want []string
		// max bounds the failing step's duration (0: not checked).
		max time.Duration
		// local: the case runs on the local backend too (freeze only).
		local bool
	}{
		{local: true, name: "stats", text: frozen + `  - expect:
      stats: {user: bob, online: false}
      within: 300ms
`, want: []string{"server stats within 300ms of the last action", "deadline"}},
		{name: "channels", text: inflight + `  - expect:
      channels: {absent: [[alice, bob]]}
      within: 300ms
`, want: []string{"channels within 300ms of the last action", "deadline"}},
		{local: true, name: "log", text: frozen + `  - expect:
      log: {at: alice, lines: ["closed bob: *"], since: last}
      within: 100ms
`, want: []string{"P2PInfo log of alice within 100ms of the last action", "closed bob: *", "after the deadline"}},
		{local: true, name: "log in time, read late", pass: true, text: frozen + `  - expect:
      log: {at: alice, lines: ["closed bob: *"], since: last}
      within: teardown
`},
		{local: true, name: "event", text: frozen + `  - expect:
      event: {at: alice, type: channel_closed, peer: bob}
      within: 100ms
`, want: []string{"event within 100ms of the last action", "channel_closed"}},
		{name: "delivered", text: inflight + `  - expect:
      delivered: {message: m1}
      within: 100ms
      during: 100ms
`, want: []string{"delivery of alice->bob", "within 100ms of the last action", "after the deadline"}},
		{name: "delivered in time, read late", pass: true, text: inflight + `  - expect:
      delivered: {message: m1}
      within: 5s
      during: 100ms
`},
		{name: "path", text: inflight + `  - expect:
      path: {message: m1, via: p2p}
      within: 100ms
`, want: []string{"chat_received at bob within 100ms of the last action"}},
		{name: "chat via", text: verdictHead + `  - partition: {host: alice, peer: bob}
  - chat: {from: alice, to: bob, content: "in flight", via: p2p, within: 100ms}
`, want: []string{"chat_received at bob within 100ms of the last action"}},
		{name: "file", text: verdictHead + `  - rate: {host: alice, rate: 1mbit}
  - file: {from: alice, to: bob, size: 256KiB, within: 500ms}
`, want: []string{"file_received at bob within 500ms of the last action"}},
		{local: true, name: "no_event", text: frozen[:strings.Index(frozen, "  - expect:\n      no_event")] + `  - expect:
      event: {at: alice, type: channel_closed, peer: bob}
      within: teardown
  - expect:
      no_event: {at: alice, type: channel_closed, peer: bob}
      during: 200ms
`, want: []string{"no event for 200ms", "channel_closed"}},
		{local: true, name: "slow admin call", text: verdictHead + `  - freeze: server
  - expect:
      stats: {total_online: ">= 1"}
      within: 300ms
`, want: []string{"server stats within 300ms of the last action"}, max: 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		backends := []string{BackendNetns}
		if tt.local {
			backends = append(backends, BackendLocal)
		}
		for _, backend := range backends {
			t.Run(tt.name+"/"+backend, func(t *testing.T) {
				r := runYAML(t, bin, backend, tt.text)
				if tt.pass {
					if !r.Passed {
						t.Fatalf("want PASS, got %s:\n%s", r.Verdict, r.Error)
					}
					return
				}
				if r.Passed {
					t.Fatalf("want FAIL, the scenario passed: %+v", r.Steps)
				}
				if r.Verdict != VerdictFail || (!errors.Is(r.Err, ErrDeadline) && tt.name != "no_event") {
					t.Fatalf("verdict %q (%v), want %q with ErrDeadline", r.Verdict, r.Err, VerdictFail)
				}
				t.Logf("FAIL as it must:\n%s", firstLines(r.Error, 4))
				last := r.Steps[len(r.Steps)-1]
				if last.Index != r.TotalSteps-1 {
					t.Fatalf("failed at step %d, want the last (%d): %s", last.Index, r.TotalSteps-1, r.Error)
				}
				for _, w := range tt.want {
					if !strings.Contains(r.Error, w) {
						t.Errorf("error does not name %q:\n%s", w, r.Error)
					}
				}
				if tt.name != "no_event" && (last.Deadline.IsZero() || !strings.Contains(r.Error, "within")) {
					t.Errorf("the failing step has no deadline (%v)", last.Deadline)
				}
				if tt.max > 0 && last.Duration > tt.max {
					t.Errorf("the failing step took %s, want at most %s (a poll outlived the deadline)", last.Duration, tt.max)
				}
			})
		}
	}
}

// writerFunc is an io.Writer that hands each write to a function.
type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// A scenario whose caller's context ends (Ctrl-C in p2plab run) is
// INTERRUPTED, not FAIL; one that runs out of its own timeout fails.
// It runs on the local backend: no root needed.
func TestInterruptedIsNotAFailure(t *testing.T) {
	bin := buildP2plab(t)
	text := `id: interrupted
requirement: an interrupted run has no verdict on the programs
topology: pair
timeout: 20s
steps:
  - start: [server, alice, bob]
  - wait: 60s
  - expect:
      channels: {pairs: [[alice, bob]]}
`
	s, err := ParseScenario("interrupted.yaml", []byte(text), FSTopologies(scenarios.FS))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("caller cancels", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Interrupt once the lab runs: when step 0's progress line is out.
		progress := writerFunc(func(p []byte) {
			if strings.Contains(string(p), "[ 0]") {
				cancel()
			}
		})
		art := t.TempDir()
		r := Run(ctx, s, RunOptions{Backend: BackendLocal, Binary: bin, Artifacts: art, Progress: progress})
		if r.Verdict != VerdictInterrupted || r.Passed || !errors.Is(r.Err, ErrInterrupted) {
			t.Fatalf("verdict %q passed %v err %v; want interrupted", r.Verdict, r.Passed, r.Err)
		}
		if r.Duration > 15*time.Second {
			t.Errorf("the interrupted run took %s: the wait was not cut short", r.Duration)
		}
		for _, st := range r.Steps {
			if !st.Passed && !st.Interrupted {
				t.Errorf("step %d FAILED in an interrupted run: %s", st.Index, st.Error)
			}
		}
		if len(r.Steps) == r.TotalSteps {
			t.Errorf("every step ran: %+v", r.Steps)
		}
		saved, err := os.ReadFile(filepath.Join(r.Artifacts, "result.json"))
		if err != nil || !strings.Contains(string(saved), `"verdict": "interrupted"`) {
			t.Errorf("result.json (%v):\n%s", err, saved)
		}
		jp := filepath.Join(art, "junit.xml")
		if err := WriteJUnit(jp, []*Result{r}); err != nil {
			t.Fatal(err)
		}
		var doc junit.Report
		data, _ := os.ReadFile(jp)
		if err := xml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Failures != 0 || doc.Errors != 1 || doc.Suites[0].Cases[0].Error == nil || doc.Suites[0].Cases[0].Error.Type != VerdictInterrupted {
			t.Errorf("junit: %s", data)
		}
		var b strings.Builder
		WriteSummary(&b, []*Result{r})
		if !strings.Contains(b.String(), "INTERRUPTED") || !strings.Contains(b.String(), "0 failed, 1 interrupted") {
			t.Errorf("summary:\n%s", b.String())
		}
	})
	t.Run("own timeout", func(t *testing.T) {
		short := *s
		short.Timeout = 3 * time.Second
		r := Run(context.Background(), &short, RunOptions{Backend: BackendLocal, Binary: bin, Artifacts: t.TempDir()})
		if r.Verdict != VerdictFail || errors.Is(r.Err, ErrInterrupted) {
			t.Fatalf("verdict %q err %v; want fail", r.Verdict, r.Err)
		}
	})
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
