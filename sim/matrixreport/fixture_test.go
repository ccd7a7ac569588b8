package matrixreport

import (
	"fmt"
	"strings"
	"time"
)

// hostile is a string that breaks every format that does not escape.
const hostile = `<script>alert("x")</script> | *b* _i_ [l](javascript:alert(1)) & </td></tr> ` + "`tick`\nnewline ]]> \x1b[31m"

// longKind is a kind name longer than a grid cell.
var longKind = "same-nat-hairpin-with-a-name-" + strings.Repeat("much-", 8) + "longer-than-a-cell"

const ms = time.Millisecond

// trial builds a trial; path "" for one that reached nothing.
func trial(i int, v Verdict, path Path, direct time.Duration, sent, delivered int, reason string, attempts ...Attempt) *Trial {
	return &Trial{
		Index: i, Path: path, Attempts: attempts, TimeToDirect: direct, Sent: sent, Delivered: delivered,
		Verdict: v, Reason: reason, Duration: 2 * time.Second,
		Timeline: []Event{
			{0, "clients started"},
			{120 * ms, "a connects to b"},
			{direct, "channel " + string(path)},
			{1500 * ms, "cut the direct path"},
		},
		Artifacts: []Artifact{
			{"timeline", "pairs/x/trial-" + string(rune('0'+i%10)) + "/timeline.jsonl"},
			{"client a log", "pairs/x/trial-" + string(rune('0'+i%10)) + "/a.log"},
		},
	}
}

func won(m Path, d time.Duration) Attempt {
	return Attempt{Method: m, Result: "ok", Duration: d, Won: true}
}
func lostA(m Path, result string, d time.Duration) Attempt {
	return Attempt{Method: m, Result: result, Duration: d}
}

// fixture is a report with every verdict: a pass, a fail (relay where a
// punch was possible, and a lost message), an unsupported cell, an error
// cell with no trials, an error trial in a cell, a pair not run, a long
// kind name and hostile strings everywhere a run's text goes.
func fixture() *Report {
	r := &Report{
		Meta: Meta{
			Started: time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC), Wall: 83 * time.Second, CPU: 61 * time.Second,
			Backend: "netns", ClientCmd: "my-client --ctl {{.Control}} " + hostile, TrialsPerPair: 3,
			WANDelay: 20 * ms, KindNames: []string{"none", "full-cone", "symmetric", longKind, hostile},
		},
		Kinds: []Kind{
			{"none", "no NAT: a public address"},
			{"full-cone", "endpoint-independent mapping and filtering"},
			{"symmetric", "address-and-port-dependent mapping and filtering"},
			{longKind, "both behind one NAT that hairpins"},
			{hostile, hostile},
		},
	}
	var samples []time.Duration
	for i := 1; i <= 3; i++ {
		samples = append(samples, time.Duration(100*i)*ms)
	}
	r.Cells = []*Cell{
		{Row: "none", Col: "none", Expected: []Path{PathDirect}, Why: "both public", Trials: []*Trial{
			trial(1, Pass, PathDirect, 40*ms, 4, 4, "", won(PathDirect, 40*ms)),
			trial(2, Pass, PathDirect, 45*ms, 4, 4, "", won(PathDirect, 45*ms)),
			trial(3, Pass, PathDirect, 50*ms, 4, 4, "", won(PathDirect, 50*ms)),
		}},
		{Row: "full-cone", Col: "symmetric", Expected: []Path{PathUDPPunch, PathTCPPunch}, Why: "one side keeps its mapping", Trials: []*Trial{
			trial(1, Pass, PathUDPPunch, samples[0], 4, 4, "", lostA(PathDirect, "timeout", 3*time.Second), won(PathUDPPunch, 90*ms)),
			trial(2, Fail, PathRelay, 0, 4, 4, "relay where udp-punch was possible", lostA(PathDirect, "timeout", 3*time.Second), lostA(PathUDPPunch, "timeout", 2*time.Second)),
			trial(3, Fail, PathUDPPunch, samples[2], 4, 3, "1 message lost after the cut", won(PathUDPPunch, 250*ms)),
		}},
		{Row: "symmetric", Col: "symmetric", Expected: []Path{PathRelay}, Why: "no mapping survives", Trials: []*Trial{
			trial(1, Pass, PathRelay, 0, 4, 4, "", lostA(PathUDPPunch, "timeout", 2*time.Second)),
		}},
		{Row: "full-cone", Col: "full-cone", Expected: []Path{PathUDPPunch}, Verdict: Unsupported, Reason: "the client does not advertise udp-punch; it used the relay", Trials: []*Trial{
			trial(1, Unsupported, PathRelay, 0, 4, 4, "udp-punch not advertised", lostA(PathUDPPunch, "not advertised", 0)),
		}},
		{Row: "symmetric", Col: "none", Expected: []Path{PathDirect}},
		{Row: "none", Col: "symmetric", Expected: []Path{PathDirect}, Trials: []*Trial{
			trial(1, Pass, PathDirect, 60*ms, 4, 4, "", won(PathDirect, 60*ms)),
			{Index: 2, Path: PathNone, Verdict: Error, Reason: "client b did not start: exit status 1"},
		}},
		{Row: longKind, Col: longKind, Expected: []Path{PathLAN}, Trials: []*Trial{
			trial(1, Pass, PathLAN, 5*ms, 4, 4, "", won(PathLAN, 5*ms)),
		}},
		{Row: hostile, Col: "none", Expected: []Path{Path(hostile)}, Why: hostile, Reason: hostile, Verdict: Fail, Trials: []*Trial{
			{Index: 1, Path: Path(hostile), Verdict: Fail, Reason: hostile, Sent: 1, Delivered: 0,
				Attempts:  []Attempt{{Method: Path(hostile), Result: hostile, Won: true}},
				Timeline:  []Event{{time.Second, hostile}},
				Artifacts: []Artifact{{hostile, "javascript:alert(1)"}, {"log", `a"b'c<d>e f(g).log`}}},
		}},
	}
	fs := r.Cell("full-cone", "symmetric")
	fs.Trials[0].Recovery, fs.Trials[0].RecoveryTime = PathUDPPunch, 1200*ms
	fs.Trials[2].Recovery = PathRelay
	r.Summarize()
	return r
}

// bigFixture is the default matrix's shape: seven kinds, ten trials a
// pair, a few failures, one unsupported pair.
func bigFixture() *Report {
	names := []string{"none", "full-cone", "restricted-cone", "port-restricted-cone", "symmetric", "same-nat", "same-nat-hairpin"}
	r := &Report{Meta: Meta{Started: time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC), Wall: 9 * time.Minute, Backend: "netns", TrialsPerPair: 10, WANDelay: 20 * ms}}
	for _, n := range names {
		r.Kinds = append(r.Kinds, Kind{Name: n})
	}
	for i, a := range names {
		for j, b := range names {
			exp := []Path{PathUDPPunch, PathTCPPunch}
			path := PathUDPPunch
			if a == "none" || b == "none" {
				exp, path = []Path{PathDirect}, PathDirect
			}
			if a == "symmetric" && (b == "symmetric" || b == "port-restricted-cone") || b == "symmetric" && a == "port-restricted-cone" {
				exp, path = []Path{PathRelay}, PathRelay
			}
			if a == "same-nat-hairpin" {
				exp, path = []Path{PathLAN}, PathLAN
			}
			c := &Cell{Row: a, Col: b, Expected: exp}
			for k := 1; k <= 10; k++ {
				v, p := Pass, path
				if (i*7+j+k)%23 == 0 {
					v, p = Fail, PathRelay
				}
				if a == "same-nat" && b == "same-nat" {
					v, p = Unsupported, PathRelay
				}
				d := time.Duration(50+k*13+i*20) * ms
				if p == PathRelay {
					d = 0
				}
				c.Trials = append(c.Trials, trial(k, v, p, d, 6, 6, fmt.Sprint(map[bool]string{true: "", false: "relay where a punch was possible"}[v == Pass]), won(p, d)))
			}
			r.Cells = append(r.Cells, c)
		}
	}
	r.Summarize()
	return r
}
