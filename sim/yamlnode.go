package sim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Pos is a place in a file.
type Pos struct {
	File         string
	Line, Column int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// FileError is a problem with a scenario or topology file: where it is,
// which field, and what is wrong, e.g.
// `scenarios/relay.yaml:14:5: steps[3].block.ports: "70000" is not a port`.
type FileError struct {
	Pos   Pos
	Field string // the field path, e.g. steps[3].block.ports ("" for the document)
	Msg   string
}

func (e *FileError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Field, e.Msg)
}

// FileErrors is every problem found in one or more files.
type FileErrors []*FileError

func (es FileErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// errs collects FileErrors while a document is read.
type errs struct{ list FileErrors }

func (e *errs) add(n node, format string, args ...any) {
	e.list = append(e.list, &FileError{Pos: n.pos(), Field: n.path, Msg: fmt.Sprintf(format, args...)})
}

func (e *errs) err() error {
	if len(e.list) == 0 {
		return nil
	}
	return e.list
}

// node is a YAML AST node with its file, field path and the error sink.
type node struct {
	file string
	path string
	n    ast.Node // nil: absent
	e    *errs
	// at is the position used when n is nil (the parent's).
	at Pos
}

// parseDoc parses YAML text into the root node of its single document.
func parseDoc(file string, data []byte, e *errs) (node, bool) {
	f, err := parser.ParseBytes(data, 0)
	root := node{file: file, e: e, at: Pos{File: file}}
	if err != nil {
		fe := &FileError{Pos: Pos{File: file}, Msg: "not valid YAML: " + err.Error()}
		if se, ok := err.(interface {
			GetToken() *token.Token
			GetMessage() string
		}); ok && se.GetToken() != nil {
			fe.Pos.Line, fe.Pos.Column = se.GetToken().Position.Line, se.GetToken().Position.Column
			fe.Msg = "not valid YAML: " + se.GetMessage()
		}
		e.list = append(e.list, fe)
		return root, false
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		e.list = append(e.list, &FileError{Pos: Pos{File: file, Line: 1, Column: 1}, Msg: "want exactly one YAML document"})
		return root, false
	}
	root.n = f.Docs[0].Body
	return root, true
}

func (n node) pos() Pos {
	if n.n == nil || n.n.GetToken() == nil {
		return n.at
	}
	t := n.n.GetToken()
	// A mapping's own token is its first ':'; point at its first key.
	switch m := n.value().(type) {
	case *ast.MappingNode:
		if len(m.Values) > 0 && m.Values[0].Key.GetToken() != nil && !m.IsFlowStyle {
			t = m.Values[0].Key.GetToken()
		}
	case *ast.MappingValueNode:
		if m.Key.GetToken() != nil {
			t = m.Key.GetToken()
		}
	}
	return Pos{File: n.file, Line: t.Position.Line, Column: t.Position.Column}
}

// value strips anchors and tags.
func (n node) value() ast.Node {
	v := n.n
	for {
		switch t := v.(type) {
		case *ast.AnchorNode:
			v = t.Value
		case *ast.TagNode:
			v = t.Value
		default:
			return v
		}
	}
}

func (n node) absent() bool {
	if n.n == nil {
		return true
	}
	_, null := n.value().(*ast.NullNode)
	return null
}

func (n node) child(path string, c ast.Node) node {
	return node{file: n.file, path: path, n: c, e: n.e, at: n.pos()}
}

func (n node) key(k string) string {
	if n.path == "" {
		return k
	}
	return n.path + "." + k
}

// mapping is a read mapping: its keys in order, and which were used.
type mapping struct {
	n      node
	keys   []string
	vals   map[string]node
	keyPos map[string]node
}

// isMap reports whether the node is a mapping.
func (n node) isMap() bool {
	_, ok := n.value().(ast.MapNode)
	return ok && !n.absent()
}

// asMap reads a mapping; allowed lists the keys it may have.
func (n node) asMap(allowed ...string) (mapping, bool) {
	m := mapping{n: n, vals: map[string]node{}, keyPos: map[string]node{}}
	mn, ok := n.value().(ast.MapNode)
	if !ok || n.absent() {
		n.e.add(n, "want a mapping, got %s", n.kind())
		return m, false
	}
	it := mn.MapRange()
	for it.Next() {
		kn := n.child(n.path, it.Key())
		k := scalarText(it.Key())
		kn.path = n.key(k)
		if _, dup := m.vals[k]; dup {
			n.e.add(kn, "duplicate key")
			continue
		}
		if len(allowed) > 0 && !contains(allowed, k) {
			n.e.add(kn, "unknown field (want one of %s)", strings.Join(allowed, ", "))
			continue
		}
		m.keys = append(m.keys, k)
		m.vals[k] = n.child(n.key(k), it.Value())
		m.keyPos[k] = kn
	}
	return m, true
}

// get returns the value of key k (absent if missing).
func (m mapping) get(k string) node {
	if v, ok := m.vals[k]; ok {
		return v
	}
	return node{file: m.n.file, path: m.n.key(k), e: m.n.e, at: m.n.pos()}
}

func (m mapping) has(k string) bool { _, ok := m.vals[k]; return ok }

func (n node) kind() string {
	if n.n == nil {
		return "nothing"
	}
	switch n.value().(type) {
	case *ast.NullNode:
		return "null"
	case ast.MapNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a sequence"
	default:
		return fmt.Sprintf("%q", scalarText(n.value()))
	}
}

func scalarText(v ast.Node) string {
	switch t := v.(type) {
	case *ast.StringNode:
		return t.Value
	case *ast.LiteralNode:
		return t.Value.Value
	case ast.ScalarNode:
		if s, ok := t.GetValue().(string); ok {
			return s
		}
		if t.GetToken() != nil {
			return t.GetToken().Value
		}
		return fmt.Sprint(t.GetValue())
	}
	if v == nil {
		return ""
	}
	return v.String()
}

// seq returns the items of a sequence. A scalar counts as a sequence of one
// when single is true.
func (n node) seq(single bool) []node {
	if n.absent() {
		return nil
	}
	s, ok := n.value().(*ast.SequenceNode)
	if !ok {
		if _, sc := n.value().(ast.ScalarNode); sc && single {
			return []node{n}
		}
		n.e.add(n, "want a sequence, got %s", n.kind())
		return nil
	}
	out := make([]node, len(s.Values))
	for i, v := range s.Values {
		out[i] = n.child(fmt.Sprintf("%s[%d]", n.path, i), v)
	}
	return out
}

// str reads a scalar as text.
func (n node) str() (string, bool) {
	if n.absent() {
		return "", false
	}
	if _, ok := n.value().(ast.ScalarNode); !ok {
		n.e.add(n, "want a scalar, got %s", n.kind())
		return "", false
	}
	return scalarText(n.value()), true
}

// reqStr reads a required non-empty scalar.
func (n node) reqStr() string {
	if n.absent() {
		n.e.add(n, "missing")
		return ""
	}
	s, _ := n.str()
	if s == "" {
		n.e.add(n, "must not be empty")
	}
	return s
}

// strs reads a scalar or a sequence of scalars.
func (n node) strs() []string {
	var out []string
	for _, it := range n.seq(true) {
		if s, ok := it.str(); ok {
			out = append(out, s)
		}
	}
	return out
}

func (n node) boolean(def bool) bool {
	s, ok := n.str()
	if !ok {
		return def
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	n.e.add(n, "%q is not true or false", s)
	return def
}

func (n node) integer(def, min, max int64) int64 {
	s, ok := n.str()
	if !ok {
		return def
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil {
		n.e.add(n, "%q is not an integer", s)
		return def
	}
	if v < min || v > max {
		n.e.add(n, "%d is out of range %d..%d", v, min, max)
		return def
	}
	return v
}

func (n node) duration(def time.Duration) time.Duration {
	s, ok := n.str()
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		n.e.add(n, "%q is not a duration (e.g. 500ms, 2s)", s)
		return def
	}
	return d
}

// size reads a byte count: 1024, 64KiB, 1MiB, 2kB.
func (n node) size(def int64) int64 {
	s, ok := n.str()
	if !ok {
		return def
	}
	v, err := parseSize(s)
	if err != nil {
		n.e.add(n, "%q is not a size (e.g. 4096, 64KiB, 1MiB)", s)
		return def
	}
	return v
}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suf string
		mul int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"kB", 1000}, {"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000}, {"B", 1}}
	mul := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suf) {
			s, mul = strings.TrimSpace(strings.TrimSuffix(s, u.suf)), u.mul
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v*float64(mul) > math.MaxInt64/2 {
		return 0, fmt.Errorf("bad size")
	}
	return int64(v * float64(mul)), nil
}

// rate reads bits per second: 1000000, 512kbit, 1mbit, 1gbit.
func parseRate(s string) (uint64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mul := 1.0
	for _, u := range []struct {
		suf string
		mul float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
		if strings.HasSuffix(s, u.suf) {
			s, mul = strings.TrimSpace(strings.TrimSuffix(s, u.suf)), u.mul
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || v*mul > 1e12 {
		return 0, fmt.Errorf("bad rate")
	}
	return uint64(v * mul), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
