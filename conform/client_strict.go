package conform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// startOnStandIn starts the client under test on a stand-in server
// (standInClient) that lists the client alone; a silent one answers
// nothing from then on. It returns the server session and the time of its
// last frame.
func (t *clientT) startOnStandIn(ctx context.Context, silent bool) (*cut, *session, time.Time, error) {
	c, srv, _, err := t.standInClient(ctx, func(self protocol.UserInfo) []protocol.UserInfo { return []protocol.UserInfo{self} })
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	srv.s.silent.Store(silent)
	return c, srv.s, time.Now(), nil
}

// badFile sends data over an accepted channel under an offer with the
// given size and digest, one of which is wrong (what), and expects the
// client to refuse it (docs/protocol.md 3.9).
func badFile(ctx context.Context, t *clientT, data []byte, size int64, digest, what string) error {
	c, p, ch, err := t.acceptedChannel(ctx)
	if err != nil {
		return err
	}
	tid := p.id + "-t1"
	for _, f := range []struct {
		typ string
		v   any
	}{
		{protocol.TypeFileOffer, protocol.FileOffer{TransferID: tid, UserID: p.id, DestUserID: c.user, FileName: "cf-bad.txt", Size: size, SHA256: digest}},
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
		return failf("FileResult ok:false for a file whose "+what+" does not match its offer", "%s", describe(f))
	}
	if _, err := c.waitEvent(ctx, "file_failed "+tid, evType(api.EventFileFailed, func(e api.Event) bool { return e.TransferID == tid })); err != nil {
		return err
	}
	if n := c.countEvents(evType(api.EventFileReceived, func(e api.Event) bool { return e.TransferID == tid })); n > 0 {
		return failf("no file_received for "+tid, "%d file_received events", n)
	}
	return nil
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
				data := []byte(strings.Repeat("conformance file with a wrong digest\n", 50))
				wrong := sha256.Sum256(append([]byte("not "), data...))
				return badFile(ctx, t, data, int64(len(data)), hex.EncodeToString(wrong[:]), "SHA-256")
			},
		},
		{
			ID: "client/3.9/file-size", Level: Must, Section: "3.9",
			Sentence: "A received file whose size differs from its FileOffer's is refused: FileResult ok:false, and no file_received.",
			Outcomes: []string{"for a file whose offer announces one byte more than is sent (with the sha256 of what is sent), FileResult{transferID, ok:false} on the channel, a file_failed event and no file_received event"},
			client: func(ctx context.Context, t *clientT) error {
				data := []byte(strings.Repeat("conformance file with a wrong size\n", 50))
				sum := sha256.Sum256(data)
				return badFile(ctx, t, data, int64(len(data))+1, hex.EncodeToString(sum[:]), "size")
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
		{
			ID: "client/6.3/setup-bad-user", Level: Must, Section: "6.3",
			Sentence: "An accepted connection whose SetupP2PMessage carries an invalid userID is answered with Error bad_user_id and closed.",
			Outcomes: []string{`SetupP2PMessage{userID:"bad id!"} as the first frame gets Error{code:bad_user_id}, then close; no channel is listed for it`},
			client: func(ctx context.Context, t *clientT) error {
				c, p, err := t.cutAndPeer(ctx)
				if err != nil {
					return err
				}
				s, err := t.rawDial(ctx, p, c, netip.AddrPort{})
				if err != nil {
					return err
				}
				if err := s.notice(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: "bad id!"}); err != nil {
					return err
				}
				if _, err := expectError(ctx, s, protocol.CodeBadUserID, 0); err != nil {
					return err
				}
				if err := s.expectClosed(ctx, "after bad_user_id"); err != nil {
					return err
				}
				chs, err := c.ctl.Channels(ctx)
				if err != nil {
					return failf("GET /v1/channels answers", "%v", err)
				}
				if len(chs) > 0 {
					return failf("no channel for a refused SetupP2PMessage", "%+v", chs)
				}
				return nil
			},
		},
		{
			ID: "client/6.3/setup-other", Level: Must, Section: "6.3",
			Sentence: "A later SetupP2PMessage on a channel that names another user than the channel's peer is answered with Error forbidden.",
			Outcomes: []string{"on a channel the peer opened, SetupP2PMessage{userID: another user} gets Error{code:forbidden}"},
			client: func(ctx context.Context, t *clientT) error {
				_, _, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				if err := ch.notice(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: t.user("someone-else")}); err != nil {
					return err
				}
				_, err = expectError(ctx, ch, protocol.CodeForbidden, 0)
				return err
			},
		},
		{
			ID: "client/6.2/no-dial-on-online", Level: Must, Section: "6.2",
			Sentence: "On UserStateNotify online the client does not dial the newcomer: the newcomer initiates.",
			Outcomes: []string{"a listening fake peer that logs in after the client receives no connection from it within one heartbeat interval of the client's user_online event; the channel it then opens itself is listed"},
			client: func(ctx context.Context, t *clientT) error {
				c, err := t.startCUT(ctx)
				if err != nil {
					return err
				}
				p, err := t.fake(ctx, "late", true)
				if err != nil {
					return err
				}
				if _, err := c.waitEvent(ctx, "user_online "+p.id, evType(api.EventUserOnline, func(e api.Event) bool { return e.UserID == p.id })); err != nil {
					return err
				}
				// A bounded window: a dial the notification started comes
				// at once; one heartbeat interval covers a slow one.
				wctx, cancel := context.WithTimeout(ctx, t.Heartbeat)
				defer cancel()
				select {
				case s := <-p.acc:
					return failf("no connection from the client to the newcomer "+p.id, "the client dialed it from %s", s.conn.RemoteAddr())
				case <-wctx.Done():
				}
				// The newcomer dials, as it should, and the client takes it.
				if _, err := t.dialChannel(ctx, p, c); err != nil {
					return err
				}
				_, err = c.waitChannels(ctx, "lists the channel opened by "+p.id, func(chs []api.Channel) bool { return hasPeer(chs, p.id) })
				return err
			},
		},
		{
			ID: "client/6.5/file-relay", Level: Must, Section: "6.5",
			Sentence: "A file to a peer without a channel goes through the server as FileOffer, FileChunk and FileDone.",
			Outcomes: []string{"POST /v1/files to a peer that accepts no channel answers via=relay; the peer receives the FileOffer, FileChunks and FileDone from the server; its relayed FileResult ok gives a file_sent event"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, err := t.cutAndPeer(ctx)
				if err != nil {
					return err
				}
				data := []byte(strings.Repeat("relayed file\n", 200))
				path := filepath.Join(t.dir, "relay.txt")
				if err := os.WriteFile(path, data, 0o644); err != nil {
					return fmt.Errorf("conform: file to send: %w", err)
				}
				resp, err := c.ctl.SendFile(ctx, p.id, t.inside(path))
				if err != nil {
					return failf("POST /v1/files accepted", "%v", err)
				}
				if resp.Via != api.ViaRelay {
					return failf("via=relay", "via=%q", resp.Via)
				}
				for _, typ := range []string{protocol.TypeFileOffer, protocol.TypeFileChunk, protocol.TypeFileDone} {
					if _, err := p.srv.expect(ctx, typ+" "+resp.TransferID+" from the server", func(f protocol.Frame) bool {
						return f.Type == typ && body[protocol.Relay](f).TransferID == resp.TransferID
					}); err != nil {
						return err
					}
				}
				if err := p.srv.notice(protocol.TypeFileResult, protocol.FileResult{TransferID: resp.TransferID, UserID: p.id, DestUserID: c.user, OK: true}); err != nil {
					return err
				}
				_, err = c.waitEvent(ctx, "file_sent "+resp.TransferID, evType(api.EventFileSent, func(e api.Event) bool { return e.TransferID == resp.TransferID }))
				return err
			},
		},
	}
}
