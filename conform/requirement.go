package conform

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Level is how strongly the protocol demands a requirement.
type Level string

// Requirement levels, as in RFC 2119.
const (
	Must   Level = "MUST"
	Should Level = "SHOULD"
)

// Role is the kind of implementation a requirement applies to.
type Role string

// Roles under test.
const (
	RoleServer Role = "server"
	RoleClient Role = "client"
)

// DefaultTimeout bounds a check that does not set its own Timeout.
const DefaultTimeout = 10 * time.Second

// Requirement is one entry of the catalogue.
type Requirement struct {
	// ID is stable: ROLE/SECTION/NAME, e.g. "server/2.1/length-limit".
	ID string
	// Level is MUST or SHOULD.
	Level Level
	// Section is the section of docs/protocol.md the requirement comes
	// from (e.g. "2.1"), or "api" for the control API (docs/control-api.md).
	Section string
	// Sentence is the requirement in one sentence.
	Sentence string
	// Outcomes lists the observable behaviours that count as a pass.
	Outcomes []string
	// Timeout bounds the check (DefaultTimeout when zero); it may depend on
	// the target's heartbeat settings, see timeoutFor.
	Timeout time.Duration
	// usesHeartbeat extends the timeout by the target's heartbeat*(misses+1).
	usesHeartbeat bool

	server func(ctx context.Context, t *serverT) error
	client func(ctx context.Context, t *clientT) error
}

// Doc names the document section the requirement comes from:
// docs/protocol.md for the protocol, docs/control-api.md for the
// control API.
func (r Requirement) Doc() string {
	if r.Section == "api" {
		return "docs/control-api.md"
	}
	return "docs/protocol.md §" + r.Section
}

// Role reports whether the requirement is a server or a client requirement.
func (r Requirement) Role() Role {
	if r.client != nil {
		return RoleClient
	}
	return RoleServer
}

// Catalogue returns every requirement of a role, sorted by ID.
func Catalogue(role Role) []Requirement {
	var all []Requirement
	switch role {
	case RoleServer:
		all = serverCatalogue()
	case RoleClient:
		all = clientCatalogue()
	}
	sort.SliceStable(all, func(i, j int) bool { return idLess(all[i].ID, all[j].ID) })
	return all
}

// idLess orders IDs by role, then section numerically (5.3 before 5.11,
// "api" last), then name.
func idLess(a, b string) bool {
	pa, pb := strings.SplitN(a, "/", 3), strings.SplitN(b, "/", 3)
	if len(pa) != 3 || len(pb) != 3 {
		return a < b
	}
	if pa[0] != pb[0] {
		return pa[0] > pb[0] // server before client
	}
	if pa[1] != pb[1] {
		return sectionKey(pa[1]) < sectionKey(pb[1])
	}
	return pa[2] < pb[2]
}

// sectionKey makes "5.3" sort before "5.11".
func sectionKey(s string) string {
	if s == "api" {
		return "~"
	}
	var b strings.Builder
	for _, part := range strings.Split(s, ".") {
		fmt.Fprintf(&b, "%04s.", part)
	}
	return b.String()
}

// Select returns the requirements whose ID matches one of the glob patterns:
// '*' matches any run of characters (slashes included), '?' one character,
// and a pattern also matches every ID that starts with it followed by "/"
// (so "server/2" selects section 2). No patterns selects everything. A
// pattern that matches nothing is an error, so that typos do not pass.
func Select(reqs []Requirement, patterns []string) ([]Requirement, error) {
	if len(patterns) == 0 {
		return reqs, nil
	}
	res := make([]*regexp.Regexp, len(patterns))
	for i, p := range patterns {
		res[i] = globRegexp(p)
	}
	var out []Requirement
	hit := make(map[string]bool)
	for _, r := range reqs {
		matched := false
		for i, p := range patterns {
			if res[i].MatchString(r.ID) {
				hit[p] = true
				matched = true
			}
		}
		if matched {
			out = append(out, r)
		}
	}
	for _, p := range patterns {
		if !hit[p] {
			return nil, fmt.Errorf("conform: pattern %q matches no requirement", p)
		}
	}
	return out, nil
}

// globRegexp turns a --run pattern into an anchored regexp.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, c := range p {
		switch c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("(/.*)?$")
	return regexp.MustCompile(b.String())
}
