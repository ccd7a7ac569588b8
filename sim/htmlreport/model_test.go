package htmlreport

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/sim"
)

// writeRun writes a scenario's artifacts folder with the given timeline.
func writeRun(t *testing.T, start time.Time, entries []sim.TimelineEntry, steps []sim.StepResult) *sim.Result {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "timeline.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(f)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	os.MkdirAll(filepath.Join(dir, "alice"), 0o755)
	os.WriteFile(filepath.Join(dir, "alice", "p2pinfo.log"), []byte("x\n"), 0o644)
	return &sim.Result{ID: "t", Start: start, Duration: 10 * time.Second, Artifacts: dir, Steps: steps, TotalSteps: len(steps)}
}

func TestBuild(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ev := func(ms int, host string, e api.Event) sim.TimelineEntry {
		e.Time = at(ms)
		return sim.TimelineEntry{Time: at(ms), Kind: "event", Host: host, Event: &e}
	}
	lab := func(ms int, host, detail string) sim.TimelineEntry {
		return sim.TimelineEntry{Time: at(ms), Kind: "lab", Host: host, Detail: detail}
	}
	entries := []sim.TimelineEntry{
		lab(0, "server", "start pid 1: p2plab server"),
		lab(10, "alice", "start pid 2: p2plab client"),
		lab(20, "bob", "start pid 3: p2plab client"),
		ev(30, "bob", api.Event{Type: api.EventChannelOpened, Peer: "alice", Initiator: "bob"}),
		ev(31, "alice", api.Event{Type: api.EventChannelOpened, Peer: "bob", Initiator: "bob"}),
		ev(40, "alice", api.Event{Type: api.EventChatSent, To: "bob", MessageID: "m1", Via: "p2p"}),
		ev(42, "bob", api.Event{Type: api.EventChatReceived, From: "alice", MessageID: "m1", Via: "p2p", Content: "hi"}),
		lab(50, "bob", "cut "),
		lab(60, "bob", "loss 20%"),
		ev(900, "alice", api.Event{Type: api.EventChannelClosed, Peer: "bob", Reason: "peer offline"}),
		ev(950, "bob", api.Event{Type: api.EventChannelClosed, Peer: "alice", Reason: "heartbeat timeout"}),
		lab(1000, "bob", "restore "),
		lab(1100, "bob", "kill pid 3"),
		lab(1200, "bob", "stop pid 3"),
		ev(1300, "bob", api.Event{Type: api.EventChannelOpened, Peer: "alice", Initiator: "alice"}),
	}
	steps := []sim.StepResult{
		{Index: 0, Kind: "cut", Text: "cut bob", Passed: true, Start: at(50), Duration: time.Millisecond},
		{Index: 1, Kind: "expect", Text: "expect event at alice channel_closed within 1s", Passed: true, Start: at(51), Duration: 849 * time.Millisecond, Deadline: at(1050)},
		{Index: 2, Kind: "expect", Text: "expect channels", Passed: false, Error: "expected x; seen y", Start: at(1400), Duration: time.Millisecond},
	}
	s, err := Load(writeRun(t, t0, entries, steps))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Lanes; len(got) != 3 || got[0] != "server" || got[1] != "alice" || got[2] != "bob" {
		t.Errorf("lanes %v, want [server alice bob]", got)
	}
	if len(s.Channels) != 2 {
		t.Fatalf("channels %+v, want 2 (one closed, one open at the end)", s.Channels)
	}
	c := s.Channels[0]
	if c.A != "bob" || c.B != "alice" || !c.Open.Equal(at(30)) || !c.Close.Equal(at(900)) || c.Reason != "peer offline" {
		t.Errorf("first channel %+v: want bob->alice from 30ms to 900ms, peer offline", c)
	}
	if c := s.Channels[1]; c.A != "alice" || !c.Close.IsZero() {
		t.Errorf("second channel %+v: want alice-initiated, open at the end", c)
	}
	want := map[string][2]int{"cut": {50, 1000}, "loss": {60, 10000}, "kill": {1100, 1100}}
	if len(s.Faults) != len(want) {
		t.Fatalf("faults %+v, want %d (stop is not a fault)", s.Faults, len(want))
	}
	for _, f := range s.Faults {
		w, ok := want[f.Kind]
		if !ok || f.Host != "bob" || !f.From.Equal(at(w[0])) || !f.To.Equal(at(w[1])) {
			t.Errorf("fault %+v: want bob %v", f, w)
		}
	}
	if len(s.Messages) != 1 || s.Messages[0].Via != "p2p" || !s.Messages[0].Sent.Equal(at(40)) || !s.Messages[0].Got.Equal(at(42)) {
		t.Errorf("messages %+v: want one p2p chat sent at 40ms, got at 42ms", s.Messages)
	}
	if !s.Steps[1].Expect || s.Steps[0].Expect {
		t.Errorf("steps %+v: want step 1 an expectation, step 0 an action", s.Steps)
	}
	v := layout(s, t.TempDir())
	if m := v.Marks[1]; !m.HasDeadline || m.Within != time.Second || m.DX2 <= m.DX1 {
		t.Errorf("mark %+v: want a deadline bracket of 1s from the cut", m)
	}
	if v.Verdict != "FAIL" {
		t.Errorf("verdict %s, want FAIL", v.Verdict)
	}
	if s.Failure == nil || s.Failure.Index != 2 {
		t.Errorf("failure %+v, want step 2", s.Failure)
	}
	if len(s.Artifacts) != 2 {
		t.Errorf("artifacts %v, want timeline.jsonl and alice/p2pinfo.log", s.Artifacts)
	}
}

func TestLoadWithoutTimeline(t *testing.T) {
	r := &sim.Result{ID: "gone", Artifacts: t.TempDir()}
	if _, err := Load(r); !errors.Is(err, ErrNoTimeline) {
		t.Fatalf("Load of a folder without timeline.jsonl: %v, want ErrNoTimeline", err)
	}
	p := filepath.Join(t.TempDir(), "r.html")
	if err := Write(p, "t", []*sim.Result{r}); err != nil {
		t.Fatalf("Write with a missing timeline must still write the page: %v", err)
	}
	b, err := os.ReadFile(p)
	if err != nil || !strings.Contains(string(b), "no timeline.jsonl") {
		t.Fatalf("the page does not say the timeline is missing (%v):\n%s", err, b)
	}
}

func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		r    sim.Result
		want string
	}{
		{sim.Result{Passed: true}, "PASS"},
		{sim.Result{}, "FAIL"},
		{sim.Result{Verdict: sim.VerdictInterrupted}, "INTERRUPTED"},
		{sim.Result{Verdict: sim.VerdictPass, Passed: true}, "PASS"},
	} {
		if got := verdict(&c.r); got != c.want {
			t.Errorf("verdict(%+v) = %s, want %s", c.r, got, c.want)
		}
	}
}

// The page names the role programs a scenario ran (escaped).
func TestRolesOnPage(t *testing.T) {
	r := writeRun(t, time.Now(), nil, nil)
	r.Roles = sim.Roles{Server: sim.RoleProgram{Command: "{bin} server --listen {listen}"},
		Client: sim.RoleProgram{Command: "/opt/im <client> --control {control}", Image: "im:dev"}}
	p := filepath.Join(t.TempDir(), "r.html")
	if err := Write(p, "t", []*sim.Result{r}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	for _, want := range []string{"server: <code>{bin} server --listen {listen}</code>", "client: <code>image im:dev /opt/im &lt;client&gt; --control {control}</code>"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
