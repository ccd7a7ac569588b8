package matrixreport

import (
	"time"
)

// Schema names the JSON format written by WriteJSON; it changes when a
// field changes meaning or goes away (new fields may be added without a
// change).
const Schema = "p2plab-matrix/1"

// Path is how two clients ended up talking: a P2P channel made one way
// (the methods of docs/protocol.md 9.7) or the relay through the server.
type Path string

// The paths, from the most direct to the least.
const (
	PathLAN      Path = "lan"       // direct TCP to the peer's LAN address
	PathDirect   Path = "direct"    // direct TCP to the peer's public address
	PathTCPPunch Path = "tcp-punch" // TCP simultaneous open
	PathUDPPunch Path = "udp-punch" // UDP hole punch
	PathRelay    Path = "relay"     // no P2P channel: chat through the server
	PathNone     Path = "none"      // not even the relay: nothing got through
)

// Paths lists the paths in the order the reports show them.
var Paths = []Path{PathLAN, PathDirect, PathTCPPunch, PathUDPPunch, PathRelay, PathNone}

// Verdict is the outcome of a trial or of a pair.
type Verdict string

// The verdicts. A pair's verdict is the worst of its trials' (Error, then
// Fail, then Unsupported, then Pass) unless the runner sets it.
const (
	// Pass: the path achieved is in the oracle's set and no message was
	// lost.
	Pass Verdict = "pass"
	// Fail: a path outside the oracle's set (the relay where a direct path
	// was possible counts), or a lost message.
	Fail Verdict = "fail"
	// Unsupported: the implementation under test does not advertise the
	// features the expected path needs, and fell back as it should.
	Unsupported Verdict = "unsupported"
	// Error: the trial could not be run (the lab or a program failed to
	// start, a timeout before the chat); it says nothing of the pair.
	Error Verdict = "error"
)

// Verdicts lists the verdicts from the worst to the best.
var Verdicts = []Verdict{Error, Fail, Unsupported, Pass}

// Report is one matrix run.
type Report struct {
	// Schema is the Schema constant; WriteJSON sets it.
	Schema string `json:"schema"`
	// Meta is how the run was made.
	Meta Meta `json:"meta"`
	// Kinds are the NAT kinds of the rows (the side that connects) and of
	// the columns (the side connected to), in display order.
	Kinds []Kind `json:"kinds"`
	// Cells has one cell per pair run, in any order (the writers order
	// them by Kinds).
	Cells []*Cell `json:"cells"`
}

// Meta is how a run was made.
type Meta struct {
	// Started is when the run began.
	Started time.Time `json:"started"`
	// Wall is the run's wall time.
	Wall time.Duration `json:"wall_ns"`
	// CPU is the CPU time the run used (user and system, the lab's
	// programs included), zero when unknown.
	CPU time.Duration `json:"cpu_ns,omitempty"`
	// Backend is the lab backend ("netns" or "docker").
	Backend string `json:"backend"`
	// ServerCmd and ClientCmd are the command templates of the programs
	// under test (as `p2plab run --server-cmd/--client-cmd`), empty for
	// the reference programs.
	ServerCmd string `json:"server_cmd,omitempty"`
	ClientCmd string `json:"client_cmd,omitempty"`
	// TrialsPerPair is the number of trials asked for each pair.
	TrialsPerPair int `json:"trials_per_pair"`
	// WANDelay is the one-way delay added on each home link.
	WANDelay time.Duration `json:"wan_delay_ns"`
	// KindNames are the kinds asked for (the names of Report.Kinds).
	KindNames []string `json:"kind_names"`
	// Note is free text shown under the title (e.g. the command line).
	Note string `json:"note,omitempty"`
}

// Kind is one network situation a client can be in: no NAT, behind a NAT
// preset, or both clients behind one NAT.
type Kind struct {
	// Name is the short name used on the command line and in the grid
	// ("none", "full-cone", "same-nat-hairpin", ...).
	Name string `json:"name"`
	// Description says what the kind is (mapping, filtering, hairpin...).
	Description string `json:"description,omitempty"`
}

// Cell is one pair of kinds: Row connects to Col.
type Cell struct {
	// Row and Col are the kinds' names.
	Row string `json:"row"`
	Col string `json:"col"`
	// Expected is the oracle's set of paths that must result.
	Expected []Path `json:"expected"`
	// Why is the oracle's reasoning for Expected, one line.
	Why string `json:"why,omitempty"`
	// Verdict is the pair's verdict; Summarize derives it from the trials
	// when empty.
	Verdict Verdict `json:"verdict"`
	// Reason says why the verdict, one line ("2 of 10 trials got relay,
	// expected udp-punch"); Summarize writes one when empty.
	Reason string `json:"reason,omitempty"`
	// Trials are the trials run, in order.
	Trials []*Trial `json:"trials"`

	// The fields below are derived from Trials by Summarize.

	// Achieved counts the trials by the path they achieved.
	Achieved map[Path]int `json:"achieved"`
	// Successes is the number of trials whose verdict is Pass; Runs the
	// number of trials.
	Successes int `json:"successes"`
	Runs      int `json:"runs"`
	// Rate is Successes/Runs (0 when Runs is 0), with its 95% Wilson
	// score interval [RateLow, RateHigh].
	Rate     float64 `json:"rate"`
	RateLow  float64 `json:"rate_low"`
	RateHigh float64 `json:"rate_high"`
	// DirectSamples are the times to a direct channel of the trials that
	// made one, in trial order; P50 and P99 are their percentiles (zero
	// when there are none).
	DirectSamples []time.Duration `json:"time_to_direct_samples_ns"`
	P50           time.Duration   `json:"time_to_direct_p50_ns"`
	P99           time.Duration   `json:"time_to_direct_p99_ns"`
	// Sent and Delivered are the messages sent and delivered over all
	// trials.
	Sent      int `json:"sent"`
	Delivered int `json:"delivered"`
}

// Trial is one try of a pair: both clients start, one connects to the
// other, they chat both ways, the direct path is cut and they recover.
type Trial struct {
	// Index is the trial's number in its cell, from 1.
	Index int `json:"index"`
	// Path is the path achieved (the first channel's, PathRelay if none
	// was made and the chat went through the server).
	Path Path `json:"path"`
	// Attempts are the connection attempts made, in order.
	Attempts []Attempt `json:"attempts"`
	// TimeToDirect is the time from the connect request to a direct
	// channel; zero when none was made.
	TimeToDirect time.Duration `json:"time_to_direct_ns,omitempty"`
	// Recovery is the path the clients talked over after the direct path
	// was cut and restored, and RecoveryTime how long from the restore
	// it took to get it; both empty when the trial did not get there.
	Recovery     Path          `json:"recovery,omitempty"`
	RecoveryTime time.Duration `json:"recovery_ns,omitempty"`
	// Sent and Delivered count the trial's messages.
	Sent      int `json:"sent"`
	Delivered int `json:"delivered"`
	// Verdict and Reason are the trial's outcome and why.
	Verdict Verdict `json:"verdict"`
	Reason  string  `json:"reason,omitempty"`
	// Duration is the trial's wall time.
	Duration time.Duration `json:"duration_ns"`
	// Timeline is what happened, in order.
	Timeline []Event `json:"timeline"`
	// Artifacts are the trial's files (logs, timeline, captures).
	Artifacts []Artifact `json:"artifacts"`
}

// Attempt is one way of making a channel tried in a trial.
type Attempt struct {
	// Method is the path it tried (lan, direct, tcp-punch, udp-punch).
	Method Path `json:"method"`
	// Result is how it ended: "ok", or what went wrong ("timeout",
	// "refused", "not advertised", ...).
	Result string `json:"result"`
	// Duration is how long it took.
	Duration time.Duration `json:"duration_ns"`
	// Won is true for the attempt whose channel was used.
	Won bool `json:"won,omitempty"`
}

// Event is one line of a trial's timeline.
type Event struct {
	// At is the time since the trial started.
	At time.Duration `json:"at_ns"`
	// Text is what happened.
	Text string `json:"text"`
}

// Artifact is a file a trial left.
type Artifact struct {
	// Name is what the link says ("client a log").
	Name string `json:"name"`
	// Path is relative to the directory the reports are written to, with
	// forward slashes; the HTML page links to it as is.
	Path string `json:"path"`
}

// Cell returns the cell of the pair row, col, or nil.
func (r *Report) Cell(row, col string) *Cell {
	for _, c := range r.Cells {
		if c.Row == row && c.Col == col {
			return c
		}
	}
	return nil
}

// Winner returns the attempt that won, or nil.
func (t *Trial) Winner() *Attempt {
	for i := range t.Attempts {
		if t.Attempts[i].Won {
			return &t.Attempts[i]
		}
	}
	return nil
}
