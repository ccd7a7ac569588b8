package sim

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/p2plab/p2plab/api"
)

// Expectations (docs/scenarios.md, Expectations): the `expect` step, one
// type per kind. Within bounds how long an expectation may take to come
// true, counted from the start of the last action step, for every kind:
// events, log lines and deliveries are judged by their own timestamps
// (read up to readGrace after the deadline); channel tables and server
// stats have none, so they are polled up to the deadline and an
// expectation reached after it fails (ErrDeadline).

// Expectation is a step that checks the lab instead of acting on it.
type Expectation interface {
	Step
	// ExpectKind is the expectation's key under expect, e.g. "stats".
	ExpectKind() string
}

// expectBase is what every expectation has.
type expectBase struct {
	stepBase
	// Within bounds how long it may take to come true, from the start of
	// the last action step.
	Within time.Duration `json:"within,omitempty"`
	// During is how long a no_event or delivered expectation watches.
	During time.Duration `json:"during,omitempty"`
}

// Kind is "expect" for every expectation.
func (*expectBase) Kind() string { return StepExpect }

// expectReaders reads each expectation kind: b is its value, m the expect
// mapping (for within and during), x what was read of those already.
var expectReaders = map[string]func(v *validator, b node, m mapping, x expectBase) Step{
	ExpectEvent:     readEventExpect,
	ExpectNoEvent:   readNoEventExpect,
	ExpectChannels:  readChannelsExpect,
	ExpectPath:      readPathExpect,
	ExpectLog:       readLogExpect,
	ExpectStats:     readStatsExpect,
	ExpectDelivered: readDeliveredExpect,
}

var expectKinds = []string{ExpectEvent, ExpectNoEvent, ExpectChannels, ExpectPath, ExpectLog, ExpectStats, ExpectDelivered}

func readExpect(v *validator, n node) Step {
	m, ok := n.asMap(append([]string{"within", "during"}, expectKinds...)...)
	if !ok {
		return nil
	}
	kind := ""
	for _, k := range m.keys {
		if contains(expectKinds, k) {
			if kind != "" {
				v.e.add(m.get(k), "one expectation per expect step (already %s)", kind)
				continue
			}
			kind = k
		}
	}
	if kind == "" {
		v.e.add(n, "say what to expect: one of %s", strings.Join(expectKinds, ", "))
		return nil
	}
	x := expectBase{Within: v.within(m.get("within"), DefaultWithin), During: m.get("during").duration(0)}
	return expectReaders[kind](v, m.get(kind), m, x)
}

// window is the expectation's: Within from the start of the last action.
func (x *expectBase) window(rn *runner) window { return windowOf(rn.mark, x.Within) }

func (x *expectBase) deadline(rn *runner) time.Time { return x.window(rn).deadline() }

// EventExpectStep expects an event of one client.
type EventExpectStep struct {
	expectBase
	EventMatch
}

func readEventExpect(v *validator, b node, _ mapping, x expectBase) Step {
	em := v.eventMatch(b)
	if em == nil {
		return nil
	}
	return &EventExpectStep{expectBase: x, EventMatch: *em}
}

// ExpectKind is "event".
func (*EventExpectStep) ExpectKind() string { return ExpectEvent }
func (x *EventExpectStep) String() string {
	return fmt.Sprintf("expect %s at %s within %s", x.EventMatch.match(nil), x.At, x.Within)
}

func (x *EventExpectStep) run(ctx context.Context, rn *runner) (string, error) {
	l, m, w := rn.lab, x.EventMatch.match(rn.sent), x.window(rn)
	from := rn.mark
	if x.Since == "start" {
		from = Mark{}
	}
	e, err := l.Client(x.At).waitEvent(ctx, from, m, w)
	if err != nil {
		return "", l.failErr(fmt.Errorf("%w: %w", ErrDeadline, err), "event "+w.String(), m.String()+" at "+x.At, err.Error(), x.At, x.Peer, x.From)
	}
	return fmt.Sprintf("after %s: %s", e.Time.Sub(rn.mark.Time).Round(time.Millisecond), fmtEvent(e)), nil
}

// NoEventExpectStep expects no such event after the last action step nor
// while it watches for During.
type NoEventExpectStep struct {
	expectBase
	EventMatch
}

func readNoEventExpect(v *validator, b node, m mapping, x expectBase) Step {
	em := v.eventMatch(b)
	if x.During == 0 {
		v.e.add(m.get("during"), "missing: how long no such event may happen (e.g. 1s)")
	}
	if m.has("within") {
		v.e.add(m.get("within"), "no_event takes during, not within")
	}
	if em == nil {
		return nil
	}
	return &NoEventExpectStep{expectBase: x, EventMatch: *em}
}

// deadline is none: no_event watches During instead.
func (*NoEventExpectStep) deadline(*runner) time.Time { return time.Time{} }

// ExpectKind is "no_event".
func (*NoEventExpectStep) ExpectKind() string { return ExpectNoEvent }
func (x *NoEventExpectStep) String() string {
	return fmt.Sprintf("expect no %s at %s during %s", x.EventMatch.match(nil), x.At, x.During)
}

func (x *NoEventExpectStep) run(ctx context.Context, rn *runner) (string, error) {
	l, m := rn.lab, x.EventMatch.match(rn.sent)
	from := rn.mark
	if x.Since == "start" {
		from = Mark{}
	}
	if err := l.Client(x.At).NoEvent(ctx, from, m, x.During); err != nil {
		return "", l.fail("no event for "+x.During.String(), "no "+m.String()+" at "+x.At, err.Error(), x.At)
	}
	return "", nil
}

// ChannelsExpectStep expects the channel tables to agree with
// ChannelsExpect.
type ChannelsExpectStep struct {
	expectBase
	ChannelsExpect
}

func readChannelsExpect(v *validator, b node, _ mapping, x expectBase) Step {
	cm, ok := b.asMap("mesh", "pairs", "absent", "exact", "transport", "method")
	if !ok {
		return nil
	}
	c := ChannelsExpect{Exact: cm.get("exact").boolean(false)}
	for _, it := range cm.get("mesh").seq(true) {
		s, _ := it.str()
		if s == "all" || v.isClient(it, s) {
			c.Mesh = append(c.Mesh, s)
		}
	}
	c.Pairs = v.pairs(cm.get("pairs"))
	c.Absent = v.pairs(cm.get("absent"))
	c.Transport = v.oneOf(cm.get("transport"), "tcp", "udp")
	c.Method = v.oneOf(cm.get("method"), "lan", "direct", "tcp-punch", "udp-punch")
	if (c.Transport != "" || c.Method != "") && len(c.Pairs) == 0 && len(c.Mesh) == 0 {
		v.e.add(b, "transport and method need mesh or pairs")
	}
	if len(c.Mesh) == 0 && len(c.Pairs) == 0 && len(c.Absent) == 0 && !c.Exact {
		v.e.add(b, "give mesh, pairs, absent or exact")
	}
	return &ChannelsExpectStep{expectBase: x, ChannelsExpect: c}
}

// ExpectKind is "channels".
func (*ChannelsExpectStep) ExpectKind() string { return ExpectChannels }

func (x *ChannelsExpectStep) String() string {
	var parts []string
	if len(x.Mesh) > 0 {
		parts = append(parts, "mesh "+strings.Join(x.Mesh, ","))
	}
	for _, p := range x.Pairs {
		parts = append(parts, p[0]+"-"+p[1])
	}
	for _, p := range x.Absent {
		parts = append(parts, "no "+p[0]+"-"+p[1])
	}
	if x.Transport != "" {
		parts = append(parts, "transport "+x.Transport)
	}
	if x.Method != "" {
		parts = append(parts, "method "+x.Method)
	}
	return "expect channels " + strings.Join(parts, " ")
}

func (x *ChannelsExpectStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.lab.WaitChannels(ctx, x.ChannelsExpect, rn.mark, x.Within)
}

// PathExpectStep checks a labelled message's path three ways.
type PathExpectStep struct {
	expectBase
	PathExpect
}

func readPathExpect(v *validator, b node, _ mapping, x expectBase) Step {
	pm, ok := b.asMap("message", "via")
	if !ok {
		return nil
	}
	p := PathExpect{Message: v.useLabel(pm.get("message"), StepChat), Via: v.via(pm.get("via"))}
	if pm.get("via").absent() {
		v.e.add(pm.get("via"), "missing (p2p or relay)")
	}
	return &PathExpectStep{expectBase: x, PathExpect: p}
}

// ExpectKind is "path".
func (*PathExpectStep) ExpectKind() string { return ExpectPath }
func (x *PathExpectStep) String() string {
	return fmt.Sprintf("expect %s went %s", x.Message, x.Via)
}

func (x *PathExpectStep) run(ctx context.Context, rn *runner) (string, error) {
	return rn.lab.checkPath(ctx, rn.sent[x.Message], x.Via, x.window(rn))
}

// LogExpectStep checks a client's P2PInfo log.
type LogExpectStep struct {
	expectBase
	LogExpect
}

func readLogExpect(v *validator, b node, _ mapping, x expectBase) Step {
	lm, ok := b.asMap("at", "lines", "absent", "since")
	if !ok {
		return nil
	}
	l := LogExpect{At: v.client(lm.get("at")), Lines: lm.get("lines").strs(), Absent: lm.get("absent").strs()}
	l.Since = v.since(lm.get("since"), "start")
	if len(l.Lines) == 0 && len(l.Absent) == 0 {
		v.e.add(b, "give lines and/or absent")
	}
	for _, set := range [][]string{l.Lines, l.Absent} {
		for _, p := range set {
			for _, u := range placeholders(p) {
				if !contains(v.s.Clients, u) {
					v.e.add(b, "phrase %q: {%s} is not a client", p, u)
				}
			}
		}
	}
	return &LogExpectStep{expectBase: x, LogExpect: l}
}

// ExpectKind is "log".
func (*LogExpectStep) ExpectKind() string { return ExpectLog }
func (x *LogExpectStep) String() string {
	return fmt.Sprintf("expect %s's log: %s", x.At, strings.Join(x.Lines, " | "))
}

func (x *LogExpectStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.lab.WaitLog(ctx, x.LogExpect, rn.mark, x.Within)
}

// StatsExpectStep checks the server's admin stats.
type StatsExpectStep struct {
	expectBase
	StatsExpect
}

func readStatsExpect(v *validator, b node, _ mapping, x expectBase) Step {
	sm, ok := b.asMap("user", "online", "uploads", "downloads", "total_online")
	if !ok {
		return nil
	}
	st := StatsExpect{}
	if sm.has("user") {
		st.User = v.client(sm.get("user"))
	}
	if sm.has("online") {
		o := sm.get("online").boolean(false)
		st.Online = &o
	}
	for _, f := range []struct {
		k string
		p *string
	}{{"uploads", &st.Uploads}, {"downloads", &st.Downloads}, {"total_online", &st.TotalOnline}} {
		if c := sm.get(f.k); !c.absent() {
			s, _ := c.str()
			if _, _, err := parseCmp(s); err != nil {
				v.e.add(c, "%v", err)
			}
			*f.p = s
		}
	}
	if st.User == "" && (st.Online != nil || st.Uploads != "" || st.Downloads != "") {
		v.e.add(b, "online, uploads and downloads need a user")
	}
	if st.User == "" && st.TotalOnline == "" {
		v.e.add(b, "give user (with online, uploads, downloads) or total_online")
	}
	return &StatsExpectStep{expectBase: x, StatsExpect: st}
}

// ExpectKind is "stats".
func (*StatsExpectStep) ExpectKind() string { return ExpectStats }
func (x *StatsExpectStep) String() string {
	if x.User == "" {
		return "expect stats totals.online " + x.TotalOnline
	}
	return "expect stats " + x.User
}

func (x *StatsExpectStep) run(ctx context.Context, rn *runner) (string, error) {
	return "", rn.lab.WaitStats(ctx, x.StatsExpect, rn.mark, x.Within)
}

// DeliveredExpectStep checks exactly-once delivery of a labelled message.
type DeliveredExpectStep struct {
	expectBase
	DeliveredExpect
}

func readDeliveredExpect(v *validator, b node, _ mapping, x expectBase) Step {
	dm, ok := b.asMap("message", "count")
	if !ok {
		return nil
	}
	d := DeliveredExpect{Message: v.useLabel(dm.get("message"), StepChat), Count: int(dm.get("count").integer(1, 0, 1000))}
	return &DeliveredExpectStep{expectBase: x, DeliveredExpect: d}
}

// ExpectKind is "delivered".
func (*DeliveredExpectStep) ExpectKind() string { return ExpectDelivered }
func (x *DeliveredExpectStep) String() string {
	return fmt.Sprintf("expect %s delivered %d time(s)", x.Message, x.Count)
}

func (x *DeliveredExpectStep) run(ctx context.Context, rn *runner) (string, error) {
	during := x.During
	if during == 0 {
		during = rn.s.Teardown()
	}
	return "", rn.lab.delivered(ctx, rn.sent[x.Message], x.Count, x.window(rn), during)
}

// match is the event selector of an EventMatch; sent resolves a Message
// label to its messageID (nil: labels are not resolved, for descriptions).
func (e *EventMatch) match(sent map[string]Sent) Match {
	m := Match{Type: e.Type, Peer: e.Peer, From: e.From, To: e.To, UserID: e.UserID, Via: e.Via, Content: e.Content, Reasons: e.Reasons}
	if e.Message != "" && sent != nil {
		m.MessageID = sent[e.Message].Response.MessageID
	}
	return m
}

// eventTypes lists the control API's event types (docs/control-api.md).
var eventTypes = []string{api.EventLogin, api.EventUserOnline, api.EventUserOffline, api.EventChannelOpened,
	api.EventChannelClosed, api.EventChatSent, api.EventChatReceived, api.EventChatAcked, api.EventChatFailed,
	api.EventChatResent, api.EventFileSent, api.EventFileReceived, api.EventFileFailed, api.EventServerLost,
	api.EventServerRestored, api.EventLogout}

func (v *validator) eventMatch(n node) *EventMatch {
	m, ok := n.asMap("at", "type", "peer", "from", "to", "user", "via", "content", "reason", "message", "since")
	if !ok {
		return nil
	}
	em := &EventMatch{At: v.client(m.get("at")), Type: m.get("type").reqStr()}
	if em.Type != "" && !contains(eventTypes, em.Type) {
		v.e.add(m.get("type"), "%q is not an event type (want one of %s)", em.Type, strings.Join(eventTypes, ", "))
	}
	for _, f := range []struct {
		k string
		p *string
	}{{"peer", &em.Peer}, {"from", &em.From}, {"to", &em.To}, {"user", &em.UserID}} {
		if c := m.get(f.k); !c.absent() {
			*f.p = v.client(c)
		}
	}
	em.Via = v.via(m.get("via"))
	em.Content, _ = m.get("content").str()
	for _, r := range m.get("reason").seq(true) {
		s, _ := r.str()
		em.Reasons = append(em.Reasons, s)
	}
	if m.has("message") {
		em.Message = v.useLabel(m.get("message"), StepChat)
	}
	em.Since = v.since(m.get("since"), "last")
	return em
}

func (v *validator) pairs(n node) [][2]string {
	var out [][2]string
	for _, p := range n.seq(false) {
		names := p.strs()
		if len(names) != 2 {
			v.e.add(p, "a pair is [user, user]")
			continue
		}
		if v.isClient(p, names[0]) && v.isClient(p, names[1]) {
			out = append(out, [2]string{names[0], names[1]})
		}
	}
	return out
}
