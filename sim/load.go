package sim

import (
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/protocol"
)

// Defaults of a scenario file.
const (
	DefaultHeartbeat = time.Second
	DefaultMisses    = 3
	DefaultWithin    = 5 * time.Second
	DefaultTimeout   = 2 * time.Minute
)

var reID = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// TopologyFunc resolves a topology name used by a scenario to its file name
// and contents.
type TopologyFunc func(name string) (file string, data []byte, err error)

// FSTopologies resolves topology names to fsys/topologies/NAME.yaml.
func FSTopologies(fsys fs.FS) TopologyFunc {
	return func(name string) (string, []byte, error) {
		p := topologyPath(name)
		data, err := fs.ReadFile(fsys, p)
		return p, data, err
	}
}

// LoadScenario reads and validates a scenario file from fsys; named
// topologies come from fsys/topologies.
func LoadScenario(fsys fs.FS, name string) (*Scenario, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("sim: scenario %s: %w", name, err)
	}
	return ParseScenario(name, data, FSTopologies(fsys))
}

// LoadScenarios loads every *.yaml at the top of fsys, sorted by name.
// Errors of all files are returned together.
func LoadScenarios(fsys fs.FS) ([]*Scenario, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []*Scenario
	var all FileErrors
	ids := map[string]string{}
	for _, n := range names {
		s, err := LoadScenario(fsys, n)
		if err != nil {
			if fe, ok := err.(FileErrors); ok {
				all = append(all, fe...)
				continue
			}
			return nil, err
		}
		if prev, dup := ids[s.ID]; dup {
			all = append(all, &FileError{Pos: Pos{File: n}, Field: "id", Msg: fmt.Sprintf("%q is also the id of %s", s.ID, prev)})
			continue
		}
		ids[s.ID] = n
		out = append(out, s)
	}
	if len(all) > 0 {
		return out, all
	}
	return out, nil
}

// ParseScenario reads and validates one scenario file. The error, if any,
// is FileErrors: every problem with its file:line:column and field.
func ParseScenario(file string, data []byte, topologies TopologyFunc) (*Scenario, error) {
	e := &errs{}
	root, ok := parseDoc(file, data, e)
	if !ok {
		return nil, e.err()
	}
	m, ok := root.asMap("id", "requirement", "level", "labels", "topology", "server", "clients",
		"heartbeat", "misses", "slack", "timeout", "steps")
	if !ok {
		return nil, e.err()
	}
	s := &Scenario{File: file}
	s.ID = m.get("id").reqStr()
	if s.ID != "" && !reID.MatchString(s.ID) {
		e.add(m.get("id"), "%q is not an id (a-z, 0-9, . _ -, up to 64)", s.ID)
	}
	s.Requirement = m.get("requirement").reqStr()
	s.Level = LevelMust
	if l, ok := m.get("level").str(); ok {
		if l != LevelMust && l != LevelShould {
			e.add(m.get("level"), "%q is not must or should", l)
		}
		s.Level = l
	}
	s.Labels = m.get("labels").strs()
	s.Heartbeat = m.get("heartbeat").duration(DefaultHeartbeat)
	if s.Heartbeat < 10*time.Millisecond && m.has("heartbeat") {
		e.add(m.get("heartbeat"), "%s is too short (at least 10ms)", s.Heartbeat)
	}
	s.Misses = int(m.get("misses").integer(DefaultMisses, 1, 100))
	s.Slack = m.get("slack").duration(s.Heartbeat / 2)
	s.Timeout = m.get("timeout").duration(DefaultTimeout)

	// Topology: a name or inline.
	tn := m.get("topology")
	switch {
	case tn.absent():
		e.add(tn, "missing (a shipped topology name, or an inline topology)")
	case tn.isMap():
		s.Topology = readTopology(tn)
	default:
		name, _ := tn.str()
		s.TopologyName = name
		if topologies == nil {
			e.add(tn, "named topologies are not available here")
			break
		}
		tf, data, err := topologies(name)
		if err != nil {
			e.add(tn, "no topology %q: %v", name, err)
			break
		}
		t, err := ParseTopology(tf, data)
		if err != nil {
			if fe, ok := err.(FileErrors); ok {
				e.list = append(e.list, fe...)
			} else {
				e.add(tn, "topology %q: %v", name, err)
			}
		}
		s.Topology = t
	}
	hosts := map[string]bool{}
	for _, h := range s.Topology.Hosts {
		hosts[h.Name] = !h.Router
	}
	s.Server = "server"
	if v, ok := m.get("server").str(); ok {
		s.Server = v
	}
	if len(hosts) > 0 && !hosts[s.Server] {
		e.add(m.get("server"), "no host %q in the topology for the server", s.Server)
	}
	if m.has("clients") {
		for _, c := range m.get("clients").seq(true) {
			name, _ := c.str()
			switch {
			case !hosts[name]:
				e.add(c, "no host %q in the topology", name)
			case name == s.Server:
				e.add(c, "%q runs the server", name)
			case !protocol.ValidUserID(name):
				e.add(c, "%q is not a valid user ID", name)
			case contains(s.Clients, name):
				e.add(c, "duplicate client %q", name)
			default:
				s.Clients = append(s.Clients, name)
			}
		}
	} else {
		for _, h := range s.Topology.Hosts {
			if !h.Router && h.Name != s.Server {
				s.Clients = append(s.Clients, h.Name)
			}
		}
	}

	v := &validator{s: s, e: e, labels: map[string]string{}}
	steps := m.get("steps")
	if steps.absent() {
		e.add(steps, "missing")
	}
	for i, sn := range steps.seq(false) {
		st, ok := v.step(sn)
		if ok {
			st.Index = i
			s.Steps = append(s.Steps, st)
		}
	}
	if err := e.err(); err != nil {
		return nil, err
	}
	return s, nil
}

type validator struct {
	s      *Scenario
	e      *errs
	labels map[string]string // message label -> kind
}

func (v *validator) isClient(n node, name string) bool {
	if !contains(v.s.Clients, name) {
		v.e.add(n, "%q is not a client of this scenario (clients: %s)", name, strings.Join(v.s.Clients, ", "))
		return false
	}
	return true
}

func (v *validator) isHost(n node, name string) bool {
	for _, h := range v.s.Topology.Hosts {
		if h.Name == name {
			return true
		}
	}
	v.e.add(n, "no host %q in the topology", name)
	return false
}

// client reads a required client name.
func (v *validator) client(n node) string {
	s := n.reqStr()
	if s != "" {
		v.isClient(n, s)
	}
	return s
}

func (v *validator) host(n node) string {
	s := n.reqStr()
	if s != "" {
		v.isHost(n, s)
	}
	return s
}

func (v *validator) within(n node, def time.Duration) time.Duration {
	s, ok := n.str()
	if !ok {
		return def
	}
	// "teardown" (+ or - a duration) stands for heartbeat x (misses+1)
	// plus the scheduling slack.
	if rest, ok := strings.CutPrefix(s, "teardown"); ok {
		d := v.s.TeardownBound()
		if rest == "" {
			return d
		}
		extra, err := time.ParseDuration(strings.TrimPrefix(rest, "+"))
		if err != nil || (rest[0] != '+' && rest[0] != '-') {
			v.e.add(n, "%q: want teardown, teardown+DUR or a duration", s)
			return def
		}
		return d + extra
	}
	return n.duration(def)
}

func (v *validator) step(sn node) (Step, bool) {
	m, ok := sn.asMap()
	if !ok {
		return Step{}, false
	}
	if len(m.keys) != 1 {
		v.e.add(sn, "a step is a mapping with exactly one key, the step kind (%s); got %d keys", strings.Join(StepKinds, ", "), len(m.keys))
		return Step{}, false
	}
	kind := m.keys[0]
	n := m.get(kind)
	st := Step{Kind: kind, Pos: m.keyPos[kind].pos()}
	switch kind {
	case StepStart, StepStop, StepKill, StepFreeze, StepThaw, StepCut, StepRestore, StepUnblock:
		for _, it := range n.seq(true) {
			if name, ok := it.str(); ok && v.isHost(it, name) {
				st.Names = append(st.Names, name)
			}
		}
		if len(st.Names) == 0 && len(v.e.list) == 0 {
			v.e.add(n, "name at least one host")
		}
	case StepLogin, StepLogout:
		for _, it := range n.seq(true) {
			if name, ok := it.str(); ok && v.isClient(it, name) {
				st.Names = append(st.Names, name)
			}
		}
		if len(st.Names) == 0 && len(v.e.list) == 0 {
			v.e.add(n, "name at least one client")
		}
	case StepBlock:
		bm, ok := n.asMap("host", "ports", "reject")
		if !ok {
			break
		}
		st.Host = v.host(bm.get("host"))
		st.Reject = bm.get("reject").boolean(false)
		if p := bm.get("ports"); !p.absent() {
			s, _ := p.str()
			r, err := parsePorts(s)
			if err != nil {
				v.e.add(p, "%v", err)
			}
			st.Ports = r
		}
	case StepPartition, StepHeal:
		pm, ok := n.asMap("host", "peer", "oneway")
		if !ok {
			break
		}
		st.Host = v.host(pm.get("host"))
		st.Peer = v.host(pm.get("peer"))
		if st.Host == st.Peer && st.Host != "" {
			v.e.add(pm.get("peer"), "a host cannot be partitioned from itself")
		}
		if kind == StepPartition {
			st.OneWay = pm.get("oneway").boolean(false)
		} else if pm.has("oneway") {
			v.e.add(pm.get("oneway"), "heal undoes the partition as it was made; no oneway here")
		}
	case StepLoss:
		lm, ok := n.asMap("host", "percent")
		if !ok {
			break
		}
		st.Host = v.host(lm.get("host"))
		if lm.get("percent").absent() {
			v.e.add(lm.get("percent"), "missing (0 removes the loss)")
		}
		st.Percent = int(lm.get("percent").integer(0, 0, 100))
	case StepRate:
		rm, ok := n.asMap("host", "rate")
		if !ok {
			break
		}
		st.Host = v.host(rm.get("host"))
		r := rm.get("rate")
		s := r.reqStr()
		if s == "0" || s == "none" {
			break
		}
		if s != "" {
			bps, err := parseRate(s)
			if err != nil {
				v.e.add(r, "%q is not a rate (e.g. 512kbit, 2mbit; 0 or none removes it)", s)
			}
			st.Rate = bps
		}
	case StepChat:
		cm, ok := n.asMap("from", "to", "content", "as", "via", "within", "refused")
		if !ok {
			break
		}
		c := &ChatStep{From: v.client(cm.get("from")), To: v.client(cm.get("to"))}
		c.Content = cm.get("content").reqStr()
		c.As = v.label(cm.get("as"), "chat")
		c.Via = v.via(cm.get("via"))
		c.Within = v.within(cm.get("within"), DefaultWithin)
		c.Refused = cm.get("refused").boolean(false)
		if c.Refused && c.Via != "" {
			v.e.add(cm.get("via"), "a refused message takes no path")
		}
		if c.From == c.To && c.From != "" {
			v.e.add(cm.get("to"), "a client cannot chat with itself")
		}
		st.Chat = c
	case StepFile:
		fm, ok := n.asMap("from", "to", "size", "as", "via", "within")
		if !ok {
			break
		}
		f := &FileStep{From: v.client(fm.get("from")), To: v.client(fm.get("to"))}
		f.Size = fm.get("size").size(64 << 10)
		if f.Size > 64<<20 {
			v.e.add(fm.get("size"), "at most 64MiB")
		}
		f.As = v.label(fm.get("as"), "file")
		f.Via = v.via(fm.get("via"))
		f.Within = v.within(fm.get("within"), 4*DefaultWithin)
		st.File = f
	case StepConnect:
		cm, ok := n.asMap("from", "to")
		if !ok {
			break
		}
		st.Connect = &ConnectStep{From: v.client(cm.get("from")), To: v.client(cm.get("to"))}
	case StepWait:
		if n.absent() {
			v.e.add(n, "missing (a duration, e.g. 500ms)")
		}
		st.Wait = n.duration(0)
	case StepExpect:
		st.Expect = v.expect(n)
	default:
		v.e.add(m.keyPos[kind], "unknown step %q (want one of %s)", kind, strings.Join(StepKinds, ", "))
		return st, false
	}
	return st, true
}

func (v *validator) label(n node, kind string) string {
	s, ok := n.str()
	if !ok {
		return ""
	}
	if _, dup := v.labels[s]; dup {
		v.e.add(n, "label %q is already used", s)
	}
	v.labels[s] = kind
	return s
}

func (v *validator) useLabel(n node, kind string) string {
	s := n.reqStr()
	if s == "" {
		return s
	}
	if k, ok := v.labels[s]; !ok || k != kind {
		v.e.add(n, "no earlier %s step has as: %q", kind, s)
	}
	return s
}

func (v *validator) via(n node) string {
	s, ok := n.str()
	if !ok {
		return ""
	}
	if s != api.ViaP2P && s != api.ViaRelay {
		v.e.add(n, "%q is not p2p or relay", s)
	}
	return s
}

var expectKinds = []string{ExpectEvent, ExpectNoEvent, ExpectChannels, ExpectPath, ExpectLog, ExpectStats, ExpectDelivered}

func (v *validator) expect(n node) *Expect {
	m, ok := n.asMap(append([]string{"within", "during"}, expectKinds...)...)
	if !ok {
		return nil
	}
	x := &Expect{}
	for _, k := range m.keys {
		if contains(expectKinds, k) {
			if x.Kind != "" {
				v.e.add(m.get(k), "one expectation per expect step (already %s)", x.Kind)
				continue
			}
			x.Kind = k
		}
	}
	if x.Kind == "" {
		v.e.add(n, "say what to expect: one of %s", strings.Join(expectKinds, ", "))
		return x
	}
	x.Within = v.within(m.get("within"), DefaultWithin)
	x.During = m.get("during").duration(0)
	b := m.get(x.Kind)
	switch x.Kind {
	case ExpectEvent, ExpectNoEvent:
		x.Event = v.eventMatch(b)
		if x.Kind == ExpectNoEvent {
			if x.During == 0 {
				v.e.add(m.get("during"), "missing: how long no such event may happen (e.g. 1s)")
			}
			if m.has("within") {
				v.e.add(m.get("within"), "no_event takes during, not within")
			}
		}
	case ExpectChannels:
		cm, ok := b.asMap("mesh", "pairs", "absent", "exact")
		if !ok {
			break
		}
		c := &ChannelsExpect{Exact: cm.get("exact").boolean(false)}
		for _, it := range cm.get("mesh").seq(true) {
			s, _ := it.str()
			if s == "all" || v.isClient(it, s) {
				c.Mesh = append(c.Mesh, s)
			}
		}
		c.Pairs = v.pairs(cm.get("pairs"))
		c.Absent = v.pairs(cm.get("absent"))
		if len(c.Mesh) == 0 && len(c.Pairs) == 0 && len(c.Absent) == 0 && !c.Exact {
			v.e.add(b, "give mesh, pairs, absent or exact")
		}
		x.Channels = c
	case ExpectPath:
		pm, ok := b.asMap("message", "via")
		if !ok {
			break
		}
		x.Path = &PathExpect{Message: v.useLabel(pm.get("message"), "chat"), Via: v.via(pm.get("via"))}
		if x.Path.Via == "" && !pm.get("via").absent() || pm.get("via").absent() {
			if pm.get("via").absent() {
				v.e.add(pm.get("via"), "missing (p2p or relay)")
			}
		}
	case ExpectLog:
		lm, ok := b.asMap("at", "lines", "absent", "since")
		if !ok {
			break
		}
		l := &LogExpect{At: v.client(lm.get("at")), Lines: lm.get("lines").strs(), Absent: lm.get("absent").strs()}
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
		x.Log = l
	case ExpectStats:
		sm, ok := b.asMap("user", "online", "uploads", "downloads", "total_online")
		if !ok {
			break
		}
		st := &StatsExpect{}
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
		x.Stats = st
	case ExpectDelivered:
		dm, ok := b.asMap("message", "count")
		if !ok {
			break
		}
		x.Delivered = &DeliveredExpect{Message: v.useLabel(dm.get("message"), "chat"), Count: int(dm.get("count").integer(1, 0, 1000))}
	}
	return x
}

func (v *validator) since(n node, def string) string {
	s, ok := n.str()
	if !ok {
		return def
	}
	if s != "start" && s != "last" {
		v.e.add(n, "%q is not start or last", s)
	}
	return s
}

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
		em.Message = v.useLabel(m.get("message"), "chat")
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

// parsePorts reads "all", "7000" or "7000-7100".
func parsePorts(s string) ([2]uint16, error) {
	if s == "" || s == "all" {
		return [2]uint16{}, nil
	}
	port := func(p string) (uint16, error) {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 1 || v > 65535 {
			return 0, fmt.Errorf("%q is not a port", p)
		}
		return uint16(v), nil
	}
	a, b, rng := strings.Cut(s, "-")
	lo, err := port(a)
	if err != nil {
		return [2]uint16{}, err
	}
	hi := lo
	if rng {
		if hi, err = port(b); err != nil {
			return [2]uint16{}, err
		}
		if hi < lo {
			return [2]uint16{}, fmt.Errorf("%q: the range is empty", s)
		}
	}
	return [2]uint16{lo, hi}, nil
}

// parseCmp reads a count comparison: "3", "== 3", ">= 1", "> 0", "<= 2", "< 5".
func parseCmp(s string) (op string, n int64, err error) {
	s = strings.TrimSpace(s)
	for _, o := range []string{">=", "<=", "==", "!=", ">", "<"} {
		if rest, ok := strings.CutPrefix(s, o); ok {
			op, s = o, strings.TrimSpace(rest)
			break
		}
	}
	if op == "" {
		op = "=="
	}
	n, err = strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return "", 0, fmt.Errorf("%q is not a count comparison (e.g. 2, >= 1, < 3)", s)
	}
	return op, n, nil
}

func cmpOK(op string, have, want int64) bool {
	switch op {
	case ">=":
		return have >= want
	case "<=":
		return have <= want
	case ">":
		return have > want
	case "<":
		return have < want
	case "!=":
		return have != want
	}
	return have == want
}

var rePlaceholder = regexp.MustCompile(`\{([A-Za-z0-9._-]+)\}`)

func placeholders(p string) []string {
	var out []string
	for _, m := range rePlaceholder.FindAllStringSubmatch(p, -1) {
		out = append(out, m[1])
	}
	return out
}

// phraseMatcher compiles a log phrase pattern: * matches anything, {user}
// the user's endpoint as user:IP:PORT (from endpoints).
func phraseMatcher(p string, endpoints map[string]netip.AddrPort) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); {
		switch {
		case p[i] == '*':
			b.WriteString(".*")
			i++
		case p[i] == '{':
			j := strings.IndexByte(p[i:], '}')
			if j < 0 {
				b.WriteString(regexp.QuoteMeta(p[i:]))
				i = len(p)
				continue
			}
			u := p[i+1 : i+j]
			ep, ok := endpoints[u]
			if !ok {
				return nil, fmt.Errorf("no endpoint known for {%s}", u)
			}
			b.WriteString(regexp.QuoteMeta(fmt.Sprintf("%s:%s:%d", u, ep.Addr(), ep.Port())))
			i += j + 1
		default:
			j := strings.IndexAny(p[i:], "*{")
			if j < 0 {
				j = len(p) - i
			}
			b.WriteString(regexp.QuoteMeta(p[i : i+j]))
			i += j
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

var _ = path.Join
var _ = netlab.Prefix
