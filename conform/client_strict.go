package conform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// standIn is a stand-in server for one client check: it answers the
// client's Login (ok, with its observed endpoint) and its first GetP2PInfo
// (listing the client alone), and then does whatever the check does with
// the session.
type standIn struct {
	addr netip.AddrPort
	conn chan *session
}

// newStandIn listens for the client under test.
// A silent one never answers the client's Heartbeats.
func (t *clientT) newStandIn(ctx context.Context, silent bool) (*standIn, error) {
	ln, err := t.Net.Listen(ctx, netip.AddrPortFrom(t.Net.Addr(), 0))
	if err != nil {
		return nil, fmt.Errorf("conform: stand-in server: %w", err)
	}
	t.cl.add(func() { _ = ln.Close() })
	s := &standIn{addr: addrPortOf(ln.Addr()), conn: make(chan *session, 1)}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(s.conn)
			return
		}
		ss := newSession("stand-in server", c)
		ss.silent.Store(silent)
		t.cl.add(ss.Close)
		s.conn <- ss
	}()
	return s, nil
}

// serve plays the server's part until the client is logged in and has its
// user list; it returns the session and the time of the last frame sent.
func (s *standIn) serve(ctx context.Context) (*session, time.Time, error) {
	var srv *session
	select {
	case srv = <-s.conn:
	case <-ctx.Done():
	}
	if srv == nil {
		return nil, time.Time{}, failf("the client connects to its server", "no connection")
	}
	f, err := srv.expect(ctx, "Login", isType(protocol.TypeLogin))
	if err != nil {
		return nil, time.Time{}, err
	}
	obs := protocol.EndpointOf(addrPortOf(srv.conn.RemoteAddr()))
	if err := srv.send(protocol.MustFrame(protocol.TypeLoginResult, protocol.LoginResult{OK: true, Observed: &obs}).WithRe(f.ID)); err != nil {
		return nil, time.Time{}, err
	}
	g, err := srv.expect(ctx, "GetP2PInfo", isType(protocol.TypeGetP2PInfo))
	if err != nil {
		return nil, time.Time{}, err
	}
	users := []protocol.UserInfo{{UserID: body[protocol.Login](f).UserID, IP: obs.IP, Port: obs.Port}}
	if err := srv.send(protocol.MustFrame(protocol.TypeResP2pInfo, protocol.ResP2pInfo{Users: users}).WithRe(g.ID)); err != nil {
		return nil, time.Time{}, err
	}
	return srv, time.Now(), nil
}

// startOnStandIn starts the client under test on a stand-in server.
func (t *clientT) startOnStandIn(ctx context.Context, silent bool) (*cut, *session, time.Time, error) {
	si, err := t.newStandIn(ctx, silent)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	var srv *session
	var last time.Time
	c, err := t.startCUTWith(ctx, si.addr, func(ctx context.Context) error {
		var err error
		srv, last, err = si.serve(ctx)
		return err
	})
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	if _, err := c.waitEvent(ctx, "login", evType(api.EventLogin, nil)); err != nil {
		return nil, nil, time.Time{}, err
	}
	return c, srv, last, nil
}

// strictClientRequirements are rules whose breakage nothing else shows:
// the same-port rule itself, the file digest, the Logout frame and a
// server that falls silent (docs/protocol.md 3.9, 3.10, 6.1, 6.3, 6.9).
func strictClientRequirements() []Requirement {
	return []Requirement{
		{
			ID: "client/6.3/same-port", Level: Must, Section: "6.3",
			Sentence: "The client dials its P2P channels from its shared local endpoint: the one it dialed the server from, which the server advertises (6.1).",
			Outcomes: []string{"the connection the client opens to a listening peer comes from the endpoint the server lists for the client"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, ch, err := t.initiatedChannel(ctx)
				if err != nil {
					return err
				}
				ep, err := p.endpointOf(ctx, c.user)
				if err != nil {
					return err
				}
				if from := addrPortOf(ch.conn.RemoteAddr()); from != ep {
					return failf("the channel from "+c.user+" comes from its advertised endpoint "+ep.String(), "it comes from %s", from)
				}
				return nil
			},
		},
		{
			ID: "client/3.9/file-digest", Level: Must, Section: "3.9",
			Sentence: "A received file whose SHA-256 differs from its FileOffer's is refused: FileResult ok:false, and no file_received.",
			Outcomes: []string{"for a file whose offer carries a wrong sha256, FileResult{transferID, ok:false} on the channel, a file_failed event and no file_received event"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				data := []byte(strings.Repeat("conformance file with a wrong digest\n", 50))
				wrong := sha256.Sum256(append([]byte("not "), data...))
				tid := p.id + "-t1"
				for _, f := range []struct {
					typ string
					v   any
				}{
					{protocol.TypeFileOffer, protocol.FileOffer{TransferID: tid, UserID: p.id, DestUserID: c.user, FileName: "cf-digest.txt", Size: int64(len(data)), SHA256: hex.EncodeToString(wrong[:])}},
					{protocol.TypeFileChunk, protocol.FileChunk{TransferID: tid, UserID: p.id, DestUserID: c.user, Offset: 0, Data: data}},
					{protocol.TypeFileDone, protocol.FileDone{TransferID: tid, UserID: p.id, DestUserID: c.user}},
				} {
					if err := ch.notice(f.typ, f.v); err != nil {
						return err
					}
				}
				f, err := ch.expect(ctx, "FileResult for "+tid, func(f protocol.Frame) bool {
					return f.Type == protocol.TypeFileResult && body[protocol.FileResult](f).TransferID == tid
				})
				if err != nil {
					return err
				}
				if body[protocol.FileResult](f).OK {
					return failf("FileResult ok:false for a file whose SHA-256 does not match its offer", "%s", describe(f))
				}
				if _, err := c.waitEvent(ctx, "file_failed "+tid, evType(api.EventFileFailed, func(e api.Event) bool { return e.TransferID == tid })); err != nil {
					return err
				}
				if n := c.countEvents(evType(api.EventFileReceived, func(e api.Event) bool { return e.TransferID == tid })); n > 0 {
					return failf("no file_received for "+tid, "%d file_received events", n)
				}
				return nil
			},
		},
		{
			ID: "client/3.10/logout-frame", Level: Must, Section: "3.10",
			Sentence: "A client that logs out sends Logout on its server connection before it closes it.",
			Outcomes: []string{"after POST /v1/logout the (stand-in) server reads a Logout frame before the end of the stream"},
			client: func(ctx context.Context, t *clientT) error {
				c, srv, _, err := t.startOnStandIn(ctx, false)
				if err != nil {
					return err
				}
				srv.keepAlive(t.Heartbeat / 2)
				if err := c.ctl.Logout(ctx); err != nil {
					return failf("POST /v1/logout accepted", "%v", err)
				}
				if _, err := srv.expect(ctx, "Logout", isType(protocol.TypeLogout)); err != nil {
					return err
				}
				return nil
			},
		},
		{
			ID: "client/6.9/server-silent", Level: Must, Section: "6.9",
			Sentence:      "A client whose server falls silent (the connection stays open, nothing arrives) takes the server for lost within heartbeat*(misses+1) and reports server_lost.",
			Outcomes:      []string{"a stand-in server answers Login and GetP2PInfo, then sends nothing; a server_lost event comes within heartbeat*(misses+1) of its last frame"},
			usesHeartbeat: true,
			client: func(ctx context.Context, t *clientT) error {
				c, _, last, err := t.startOnStandIn(ctx, true)
				if err != nil {
					return err
				}
				limit := t.Heartbeat*time.Duration(t.Misses+1) + slack(t.Heartbeat)
				dctx, cancel := context.WithDeadline(ctx, last.Add(limit))
				defer cancel()
				if _, err := c.waitEvent(dctx, fmt.Sprintf("server_lost within %v of the server's last frame", limit), evType(api.EventServerLost, nil)); err != nil {
					return err
				}
				return nil
			},
		},
	}
}
