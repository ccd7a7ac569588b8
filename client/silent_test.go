package client_test

import (
	"bufio"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/client/clienttest"
	"github.com/p2plab/p2plab/protocol"
)

// TestSilentServerLost covers docs/protocol.md 6.9: a server that answers
// the login and then falls silent, its connection left open, is taken for
// lost within heartbeat x (misses+1) of its last frame, whatever the
// LoginResult said (v1 or v1.1) and whether or not it answered GetP2PInfo.
func TestSilentServerLost(t *testing.T) {
	const hb, misses = 200 * time.Millisecond, 3
	for _, tc := range []struct {
		name    string
		v11     bool
		p2pInfo bool
	}{{"v1", false, true}, {"v1-no-p2pinfo", false, false}, {"v1.1", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			var lastSent atomic.Int64 // unix ns of the server's last frame
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
				r := protocol.NewReader(bufio.NewReader(c))
				f, err := r.ReadFrame()
				if err != nil || f.Type != protocol.TypeLogin {
					return
				}
				ep := protocol.EndpointOf(c.RemoteAddr().(*net.TCPAddr).AddrPort())
				res := protocol.LoginResult{OK: true, Observed: &ep}
				if tc.v11 {
					res.Features = []string{"id", "punch"}
					res.HeartbeatMS, res.Misses = int64(hb/time.Millisecond), misses
				}
				_ = protocol.WriteFrame(c, protocol.MustFrame(protocol.TypeLoginResult, res).WithRe(f.ID))
				lastSent.Store(time.Now().UnixNano())
				for {
					f, err := r.ReadFrame() // read on, answer nothing
					if err != nil {
						return
					}
					if f.Type == protocol.TypeGetP2PInfo && tc.p2pInfo {
						_ = protocol.WriteFrame(c, protocol.MustFrame(protocol.TypeResP2pInfo, protocol.ResP2pInfo{}).WithRe(f.ID))
						lastSent.Store(time.Now().UnixNano())
					}
				}
			}()
			a := clienttest.New(t, ln.Addr().(*net.TCPAddr).AddrPort(), "alice", clienttest.WithHeartbeat(hb, misses))
			e := waitEvent(t, a, "server_lost", isType(api.EventServerLost))
			last := time.Unix(0, lastSent.Load())
			// The limit plus scheduling slack for a loaded machine.
			if d := e.Time.Sub(last); d > hb*(misses+1)+hb {
				t.Errorf("server_lost %v after the server's last frame, want within %v", d, hb*(misses+1))
			}
		})
	}
}
