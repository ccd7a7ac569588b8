package sim

import (
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// Levels of a scenario's requirement.
const (
	LevelMust   = "must"
	LevelShould = "should"
)

// Scenario is one loaded and validated scenario file.
type Scenario struct {
	// File is the file it was read from, as named to the loader.
	File string `json:"file"`
	// ID is stable across edits; reports and artifacts are named by it.
	ID string `json:"id"`
	// Requirement is the sentence the scenario checks.
	Requirement string   `json:"requirement"`
	Level       string   `json:"level"`
	Labels      []string `json:"labels,omitempty"`
	// TopologyName is the shipped topology used, "" if inline.
	TopologyName string          `json:"topologyName,omitempty"`
	Topology     netlab.Topology `json:"topology"`
	// Server is the host running the server; Clients the hosts running a
	// client each, whose user ID is the host name.
	Server  string   `json:"server"`
	Clients []string `json:"clients"`
	// Heartbeat and Misses are passed to every program.
	Heartbeat time.Duration `json:"heartbeat"`
	Misses    int           `json:"misses"`
	// Slack is the scheduling allowance added to the teardown bound
	// (default heartbeat/2): programs and the lab share a busy machine.
	Slack time.Duration `json:"slack"`
	// Timeout bounds the whole scenario.
	Timeout time.Duration `json:"timeout"`
	// ClientArgs are words given to every client's command (Options.
	// ClientArgs): what the scenario needs of the clients, such as
	// --punch.
	ClientArgs []string `json:"clientArgs,omitempty"`
	// Steps are typed values, one type per kind (see Step).
	Steps []Step `json:"steps"`
}

// Teardown is heartbeat x (misses+1): how long a dead peer may take to be
// noticed and its channel closed.
func (s *Scenario) Teardown() time.Duration {
	return s.Heartbeat * time.Duration(s.Misses+1)
}

// TeardownBound is Teardown plus Slack: what `within: teardown` means.
func (s *Scenario) TeardownBound() time.Duration { return s.Teardown() + s.Slack }

// Step kinds.
const (
	StepStart     = "start"
	StepStop      = "stop"
	StepKill      = "kill"
	StepFreeze    = "freeze"
	StepThaw      = "thaw"
	StepCut       = "cut"
	StepRestore   = "restore"
	StepBlock     = "block"
	StepUnblock   = "unblock"
	StepPartition = "partition"
	StepHeal      = "heal"
	StepLoss      = "loss"
	StepRate      = "rate"
	StepDelay     = "delay"
	StepDuplicate = "duplicate"
	StepFlap      = "flap"
	StepLogin     = "login"
	StepLogout    = "logout"
	StepChat      = "chat"
	StepFile      = "file"
	StepConnect   = "connect"
	StepWait      = "wait"
	StepExpect    = "expect"
)

// StepKinds lists every step kind, in documentation order.
var StepKinds = []string{StepStart, StepStop, StepKill, StepFreeze, StepThaw, StepCut, StepRestore,
	StepBlock, StepUnblock, StepPartition, StepHeal, StepLoss, StepRate, StepDelay, StepDuplicate, StepFlap, StepLogin, StepLogout,
	StepChat, StepFile, StepConnect, StepWait, StepExpect}

// Expectation kinds.
const (
	ExpectEvent     = "event"
	ExpectNoEvent   = "no_event"
	ExpectChannels  = "channels"
	ExpectPath      = "path"
	ExpectLog       = "log"
	ExpectStats     = "stats"
	ExpectDelivered = "delivered"
)

// EventMatch selects control-API events of one client. Empty fields match
// anything; Reasons matches any of the listed reasons.
type EventMatch struct {
	At      string   `json:"at"`
	Type    string   `json:"type"`
	Peer    string   `json:"peer,omitempty"`
	From    string   `json:"from,omitempty"`
	To      string   `json:"to,omitempty"`
	UserID  string   `json:"userID,omitempty"`
	Via     string   `json:"via,omitempty"`
	Content string   `json:"content,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
	// Message is a chat label (ChatStep.As): matches its messageID.
	Message string `json:"message,omitempty"`
	// Since is "last" (default: events after the last action step) or
	// "start" (every event of the client).
	Since string `json:"since,omitempty"`
}

// ChannelsExpect checks the channel tables.
type ChannelsExpect struct {
	// Mesh lists users that must all have channels to each other, both ends
	// agreeing on the endpoints; ["all"] means every running client.
	Mesh []string `json:"mesh,omitempty"`
	// Pairs must have a channel (both ends agree); Absent must have none at
	// either end.
	Pairs  [][2]string `json:"pairs,omitempty"`
	Absent [][2]string `json:"absent,omitempty"`
	// Exact: no channels other than the ones required.
	Exact bool `json:"exact,omitempty"`
	// Transport, when set, is what every required channel must report at
	// both ends ("tcp" or "udp"); Method how at least one end says it was
	// made ("lan", "direct", "tcp-punch", "udp-punch"; docs/control-api.md).
	Transport string `json:"transport,omitempty"`
	Method    string `json:"method,omitempty"`
}

// PathExpect checks the path of a labelled chat message three ways.
type PathExpect struct {
	Message string `json:"message"`
	Via     string `json:"via"`
}

// LogExpect checks a client's P2PInfo log. Lines are phrases (without the
// timestamp) where * matches anything and {user} stands for that user's
// endpoint user:IP:PORT; they must appear in order. Absent phrases must not
// appear.
type LogExpect struct {
	At     string   `json:"at"`
	Lines  []string `json:"lines,omitempty"`
	Absent []string `json:"absent,omitempty"`
	// Since is "start" (default: the whole log) or "last" (lines logged
	// after the last action step started).
	Since string `json:"since,omitempty"`
}

// StatsExpect checks the server's admin stats of one user, and/or totals.
// Counts are comparisons: "3", ">= 1", "< 2".
type StatsExpect struct {
	User      string `json:"user,omitempty"`
	Online    *bool  `json:"online,omitempty"`
	Uploads   string `json:"uploads,omitempty"`
	Downloads string `json:"downloads,omitempty"`
	// TotalOnline compares the number of users online.
	TotalOnline string `json:"totalOnline,omitempty"`
}

// DeliveredExpect checks how many times a labelled message reached its
// receiver: Count (default 1) within Within, and still Count after During.
type DeliveredExpect struct {
	Message string `json:"message"`
	Count   int    `json:"count"`
}
