package htmlreport

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/sim"
)

// Scenario is what the page shows of one scenario run.
type Scenario struct {
	Result     *sim.Result
	Start, End time.Time
	Lanes      []string // hosts, the server first
	Channels   []Channel
	Faults     []Fault
	Messages   []Message
	Steps      []Step
	Failure    *Step // the failing step, if any
	Artifacts  []string
	Warnings   []string // what could not be read
}

// Channel is one P2P channel's life between two hosts.
type Channel struct {
	A, B       string // A is the initiator when known
	Transport  string
	Open       time.Time
	Close      time.Time // zero: open at the end
	Reason     string
	OpenedSeen string // who reported the opening first
}

// Fault is a window in which a fault was in force on a host ("" = the lab).
type Fault struct {
	Host, Kind, Detail string
	From, To           time.Time
	Instant            bool // a kill: no window
}

// Message is one chat or file as it arrived.
type Message struct {
	File      bool
	From, To  string
	Via       string
	Sent, Got time.Time
	Label     string
}

// Step is one step of the scenario as it ran.
type Step struct {
	sim.StepResult
	End    time.Time
	Expect bool
}

// faultEnds maps a netlab fault event kind to the kind of its undo; a kind
// K whose undo is "K-end" needs no entry (loss, rate and newer faults).
var faultEnds = map[string]string{
	"cut": "restore", "freeze": "thaw", "block": "unblock", "partition": "heal",
}

// notFaults are netlab event kinds that are not faults.
var notFaults = map[string]bool{
	"up": true, "down": true, "start": true, "exit": true, "sysctl": true, "capture": true, "stop": true,
}

// ErrNoTimeline is returned (wrapped) by Load when a scenario's timeline is
// missing.
var ErrNoTimeline = errors.New("htmlreport: no timeline.jsonl")

// Load reads one scenario's evidence from its artifacts folder.
func Load(r *sim.Result) (*Scenario, error) {
	s := &Scenario{Result: r, Start: r.Start, End: r.Start.Add(r.Duration)}
	entries, err := readTimeline(filepath.Join(r.Artifacts, "timeline.jsonl"))
	if err != nil {
		return s, err
	}
	s.build(entries)
	s.Artifacts = listFiles(r.Artifacts)
	return s, nil
}

func readTimeline(p string) ([]sim.TimelineEntry, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoTimeline, p)
	}
	if err != nil {
		return nil, fmt.Errorf("htmlreport: %w", err)
	}
	defer f.Close()
	var out []sim.TimelineEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for n := 1; sc.Scan(); n++ {
		var e sim.TimelineEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return out, fmt.Errorf("htmlreport: %s:%d: %w", p, n, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("htmlreport: %s: %w", p, err)
	}
	return out, nil
}

func (s *Scenario) lane(h string) {
	if h != "" && !slices.Contains(s.Lanes, h) {
		s.Lanes = append(s.Lanes, h)
	}
}

func (s *Scenario) build(entries []sim.TimelineEntry) {
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Time.Before(entries[j].Time) })
	for _, e := range entries {
		if !e.Time.IsZero() && e.Time.Before(s.Start) {
			s.Start = e.Time
		}
		if e.Time.After(s.End) {
			s.End = e.Time
		}
	}
	// Lanes: the server first, then hosts as they first appear.
	for _, e := range entries {
		if e.Host == "server" {
			s.lane("server")
			break
		}
	}
	for _, e := range entries {
		s.lane(e.Host)
	}
	open := map[string]*Fault{}
	chans := map[[2]string]*Channel{}
	sent := map[string]api.Event{}
	for _, e := range entries {
		switch e.Kind {
		case "lab":
			kind, detail, _ := strings.Cut(e.Detail, " ")
			s.labEvent(open, e, kind, detail)
		case "event":
			if e.Event == nil {
				continue
			}
			s.clientEvent(chans, sent, e.Host, *e.Event)
		}
	}
	for _, f := range open {
		f.To = s.End
		s.Faults = append(s.Faults, *f)
	}
	sort.SliceStable(s.Faults, func(i, j int) bool { return s.Faults[i].From.Before(s.Faults[j].From) })
	for _, c := range chans {
		s.Channels = append(s.Channels, *c)
	}
	sort.SliceStable(s.Channels, func(i, j int) bool { return s.Channels[i].Open.Before(s.Channels[j].Open) })
	for _, st := range s.Result.Steps {
		x := Step{StepResult: st, End: st.Start.Add(st.Duration), Expect: st.Kind == "expect" || !st.Deadline.IsZero()}
		s.Steps = append(s.Steps, x)
		if !st.Passed && s.Failure == nil {
			f := x
			s.Failure = &f
		}
	}
}

func (s *Scenario) labEvent(open map[string]*Fault, e sim.TimelineEntry, kind, detail string) {
	if notFaults[kind] || strings.HasPrefix(kind, "capture") {
		return
	}
	for start, end := range faultEnds {
		if kind == end {
			s.closeFault(open, e, start)
			return
		}
	}
	if base, ok := strings.CutSuffix(kind, "-end"); ok {
		s.closeFault(open, e, base)
		return
	}
	if kind == "kill" || kind == "signal" {
		s.Faults = append(s.Faults, Fault{Host: e.Host, Kind: kind, Detail: detail, From: e.Time, To: e.Time, Instant: true})
		return
	}
	key := e.Host + "/" + kind
	if f, ok := open[key]; ok { // a change of a fault in force: close and reopen
		f.To = e.Time
		s.Faults = append(s.Faults, *f)
	}
	open[key] = &Fault{Host: e.Host, Kind: kind, Detail: detail, From: e.Time}
}

func (s *Scenario) closeFault(open map[string]*Fault, e sim.TimelineEntry, kind string) {
	key := e.Host + "/" + kind
	if f, ok := open[key]; ok {
		f.To = e.Time
		s.Faults = append(s.Faults, *f)
		delete(open, key)
	}
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

func (s *Scenario) clientEvent(chans map[[2]string]*Channel, sent map[string]api.Event, host string, ev api.Event) {
	switch ev.Type {
	case "channel_opened":
		k := pair(host, ev.Peer)
		if c, ok := chans[k]; ok && c.Close.IsZero() {
			return // the other side's report of the same channel
		} else if ok {
			s.Channels = append(s.Channels, *c)
		}
		c := &Channel{A: host, B: ev.Peer, Open: ev.Time, OpenedSeen: host, Transport: "tcp"}
		if ev.Initiator == ev.Peer {
			c.A, c.B = ev.Peer, host
		}
		chans[k] = c
	case "channel_closed":
		if c, ok := chans[pair(host, ev.Peer)]; ok && c.Close.IsZero() {
			c.Close, c.Reason = ev.Time, ev.Reason
		}
	case "chat_sent", "file_sent":
		key := ev.MessageID + ev.TransferID
		if key != "" {
			ev.UserID = host
			sent[key] = ev
		}
	case "chat_received", "file_received":
		m := Message{File: ev.Type == "file_received", From: ev.From, To: host, Via: ev.Via, Got: ev.Time, Sent: ev.Time}
		if se, ok := sent[ev.MessageID+ev.TransferID]; ok {
			m.Sent = se.Time
		}
		if m.File {
			m.Label = ev.Name
		} else {
			m.Label = ev.Content
		}
		s.lane(m.From)
		s.Messages = append(s.Messages, m)
	}
}

func listFiles(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		out = append(out, p)
		return nil
	})
	sort.Strings(out)
	return out
}
