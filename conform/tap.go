package conform

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"

	"github.com/p2plab/p2plab/protocol"
)

// tapConn is a connection that keeps a copy of every frame payload it
// reads, as the bytes arrived: the session reading it decodes frames into
// protocol.Frame, which no longer shows a member written as null, 0 or ""
// at the top level (docs/protocol.md 2.2).
type tapConn struct {
	net.Conn

	mu       sync.Mutex
	buf      []byte
	broken   bool // a length outside 1..MaxFrameLen: stop splitting
	payloads [][]byte
}

// tap wraps c.
func tap(c net.Conn) *tapConn { return &tapConn{Conn: c} }

// Read reads from the connection and records the complete payloads.
func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if !c.broken {
			c.buf = append(c.buf, p[:n]...)
			c.split()
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *tapConn) split() {
	for len(c.buf) >= 4 {
		l := binary.BigEndian.Uint32(c.buf)
		if l == 0 || l > protocol.MaxFrameLen {
			c.broken, c.buf = true, nil
			return
		}
		if len(c.buf) < 4+int(l) {
			return
		}
		c.payloads = append(c.payloads, append([]byte(nil), c.buf[4:4+l]...))
		c.buf = c.buf[4+l:]
	}
}

// zeroMembers lists, for every payload read so far, the members written
// as null, 0 or "" (section 2.2: senders SHOULD omit absent members), as
// "Type: path=value".
func (c *tapConn) zeroMembers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, p := range c.payloads {
		typ := "?"
		if f, err := protocol.Unmarshal(p); err == nil {
			typ = f.Type
		}
		for _, z := range zeroMembers(p) {
			out = append(out, typ+": "+z)
		}
	}
	return out
}

// types lists the frame types read so far, each once, sorted.
func (c *tapConn) types() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	for _, p := range c.payloads {
		if f, err := protocol.Unmarshal(p); err == nil {
			seen[f.Type] = true
		}
	}
	var out []string
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// zeroAllowed are the members whose 0 is a value, not an absence:
// FileChunk's offset and FileOffer's size (an empty file) (section 3.9).
var zeroAllowed = map[string]bool{"offset": true, "size": true}

// zeroMembers returns the members of a JSON payload, at any depth, whose
// value is null, 0 or "" (path=value), except those of zeroAllowed.
func zeroMembers(payload []byte) []string {
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil
	}
	var out []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, m := range x {
				p := k
				if path != "" {
					p = path + "." + k
				}
				switch mv := m.(type) {
				case nil:
					out = append(out, p+"=null")
				case string:
					if mv == "" {
						out = append(out, p+`=""`)
					}
				case json.Number:
					if f, err := mv.Float64(); err == nil && f == 0 && !zeroAllowed[k] {
						out = append(out, p+"="+mv.String())
					}
				default:
					walk(p, m)
				}
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", v)
	sort.Strings(out)
	return out
}

// checkOmitted fails when a tapped connection received a member written
// as null, 0 or "" (section 2.2); what names the sender.
func checkOmitted(what string, taps ...*tapConn) error {
	var zs, types []string
	for _, c := range taps {
		zs = append(zs, c.zeroMembers()...)
		types = append(types, c.types()...)
	}
	if len(zs) > 0 {
		return failf(what+" omits absent members rather than writing null, 0 or \"\"", "%s", strings.Join(zs, "; "))
	}
	if len(types) == 0 {
		return failf(what+" sends frames to inspect", "no frame received")
	}
	return nil
}
