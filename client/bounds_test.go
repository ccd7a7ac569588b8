package client_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

func partFiles(t *testing.T, dir string) int {
	m, err := filepath.Glob(filepath.Join(dir, ".part-*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestOfferFloodBounded: a relayed offer flood holds at most 8 unfinished
// transfers (temporary files, descriptors) for one sender; the rest are
// refused with a FileResult naming the limit, and everything is released
// when the sender goes offline.
func TestOfferFloodBounded(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	m := newRawUser(t, srv.Addr, "mallory", false)
	const offers = 20
	for i := range offers {
		m.sendServer(protocol.MustFrame(protocol.TypeFileOffer, protocol.FileOffer{TransferID: "t" + string(rune('a'+i)),
			UserID: "mallory", DestUserID: "alice", FileName: "x", Size: 10, SHA256: strings.Repeat("0", 64)}))
	}
	for range offers - 8 {
		f := m.expectServer(protocol.TypeFileResult, nil)
		var r protocol.FileResult
		if err := json.Unmarshal(f.Body, &r); err != nil {
			t.Fatal(err)
		}
		if r.OK || !strings.Contains(r.Error, "too many incoming transfers") {
			t.Fatalf("FileResult %+v, want a refusal naming the limit", r)
		}
	}
	if n := partFiles(t, a.FilesDir); n != 8 {
		t.Fatalf("%d unfinished transfers held, want 8", n)
	}
	waitEvent(t, a, "limit event", isType(api.EventLimit))
	m.Close()
	eventually(t, "mallory's transfers released when it went offline", func() bool { return partFiles(t, a.FilesDir) == 0 })
}

// TestHandshakeFloodBounded: connections that never send SetupP2PMessage
// occupy at most 128 handshake slots; the excess is closed at once instead
// of waiting for the handshake deadline.
func TestHandshakeFloodBounded(t *testing.T) {
	srv := startServer(t)
	a := clienttest.New(t, srv.Addr, "alice")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 128 + 20 {
		c, err := net.Dial("tcp", a.C.Listen().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitEvent(t, a, "limit event", isType(api.EventLimit))
	closed := 0
	buf := make([]byte, 1)
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(buf); err != nil && !os.IsTimeout(err) {
			closed++
		}
	}
	if closed < 20 {
		t.Fatalf("%d of %d silent connections closed before their handshake deadline, want at least 20", closed, len(conns))
	}
}
