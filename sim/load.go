package sim

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/p2plab/p2plab/api"
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
			if fe := FileErrors(nil); errors.As(err, &fe) {
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
		"heartbeat", "misses", "slack", "timeout", "client_args", "steps")
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
	s.ClientArgs = m.get("client_args").strs()
	for i, a := range s.ClientArgs {
		if a == "" || placeholder.MatchString(a) {
			e.add(m.get("client_args"), "client_args[%d]: %q: want a non-empty word without placeholders", i, a)
		}
	}

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
			if fe := FileErrors(nil); errors.As(err, &fe) {
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
		if st, ok := v.step(sn); ok {
			st.base().Index = i
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

// oneOf reads a string that must be one of allowed ("" when absent).
func (v *validator) oneOf(n node, allowed ...string) string {
	s, ok := n.str()
	if !ok {
		return ""
	}
	if !slices.Contains(allowed, s) {
		v.e.add(n, "%q is not one of %s", s, strings.Join(allowed, ", "))
	}
	return s
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
