package conform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// cutAndPeer starts the client under test, then logs in a fake peer that
// does not listen (so no channel can be made to it).
func (t *clientT) cutAndPeer(ctx context.Context) (*cut, *fakePeer, error) {
	c, err := t.startCUT(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := t.fake(ctx, "peer", false)
	if err != nil {
		return nil, nil, err
	}
	return c, p, nil
}

// accepted starts the client under test, then a fake peer that logs in
// after it and opens a channel to it; it returns once the client lists the
// channel.
func (t *clientT) acceptedChannel(ctx context.Context) (*cut, *fakePeer, *session, error) {
	c, err := t.startCUT(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := t.fake(ctx, "peer", false)
	if err != nil {
		return nil, nil, nil, err
	}
	ch, err := t.dialChannel(ctx, p, c)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := c.waitChannels(ctx, "lists the channel opened by "+p.id, func(chs []api.Channel) bool { return hasPeer(chs, p.id) }); err != nil {
		return nil, nil, nil, err
	}
	return c, p, ch, nil
}

// initiatedChannel logs in a listening fake peer, then starts the client
// under test, which as the newcomer must open a channel to it.
func (t *clientT) initiatedChannel(ctx context.Context) (*cut, *fakePeer, *session, error) {
	p, err := t.fake(ctx, "peer", true)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := t.startCUT(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	ch, err := p.accepted(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, p, ch, nil
}

// chatFrom builds a chat message from a fake peer to the client under test.
func chatFrom(p *fakePeer, c *cut, n int) protocol.Chat {
	return chat(fmt.Sprintf("%s-m%d", p.id, n), p.id, c.user, fmt.Sprintf("conform message %d \u2713", n))
}

func isAck(messageID, from, to string) func(protocol.Frame) bool {
	return func(f protocol.Frame) bool {
		a := body[protocol.ChatAck](f)
		return f.Type == protocol.TypeChatAck && a.MessageID == messageID && a.UserID == from && a.DestUserID == to
	}
}

func evType(typ string, match func(api.Event) bool) func(api.Event) bool {
	return func(e api.Event) bool { return e.Type == typ && (match == nil || match(e)) }
}

// waitLog polls GET /v1/log until every line parses and pred holds.
func (c *cut) waitLog(ctx context.Context, want string, pred func([]protocol.LogEntry) bool) ([]protocol.LogEntry, error) {
	var text string
	var entries []protocol.LogEntry
	var perr, lastErr error
	err := poll(ctx, func() (bool, error) {
		text, lastErr = c.ctl.Log(ctx)
		if lastErr != nil {
			return false, nil
		}
		entries, perr = protocol.ParseLog(text)
		if perr != nil {
			return false, failf("every P2PInfo log line is one of the phrases of section 3", "%v", perr)
		}
		return pred(entries), nil
	})
	if err == nil {
		return entries, nil
	}
	if ctx.Err() == nil {
		return nil, err
	}
	if lastErr != nil {
		return nil, failf("GET /v1/log: "+want, "error %v", lastErr)
	}
	return nil, failf("P2PInfo log: "+want, "log:\n%s", text)
}

func hasEntry(entries []protocol.LogEntry, want protocol.LogEntry) int {
	for i, e := range entries {
		e.Time = time.Time{}
		if e == want {
			return i
		}
	}
	return -1
}

func channelRequirements() []Requirement {
	return []Requirement{
		{
			ID: "client/6.3/setup-first", Level: Must, Section: "6.3",
			Sentence: "On a channel it initiates, the client's first frame is SetupP2PMessage{userID: its own userID}.",
			Outcomes: []string{"the first frame on the connection the client opens to an online peer is SetupP2PMessage with its userID"},
			client: func(ctx context.Context, t *clientT) error {
				c, _, ch, err := t.initiatedChannel(ctx)
				if err != nil {
					return err
				}
				f, err := ch.expect(ctx, "a first frame", func(protocol.Frame) bool { return true })
				if err != nil {
					return err
				}
				if f.Type != protocol.TypeSetupP2PMessage || body[protocol.SetupP2P](f).UserID != c.user {
					return failf(fmt.Sprintf("SetupP2PMessage{userID:%s} as the first frame", c.user), "%s", describe(f))
				}
				return nil
			},
		},
		{
			ID: "client/6.2/initiate", Level: Must, Section: "6.2",
			Sentence: "After login the client opens a channel to every user already online and lists it as initiated by itself.",
			Outcomes: []string{"the fake peer online before the client receives a connection; GET /v1/channels lists it with initiator = the client; a channel_opened event names it"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, _, err := t.initiatedChannel(ctx)
				if err != nil {
					return err
				}
				if _, err := c.waitChannels(ctx, "lists "+p.id+" initiated by "+c.user, func(chs []api.Channel) bool {
					for _, ch := range chs {
						if ch.Peer == p.id && ch.Initiator == c.user && ch.Transport == "tcp" {
							return true
						}
					}
					return false
				}); err != nil {
					return err
				}
				_, err = c.waitEvent(ctx, "channel_opened peer="+p.id, evType(api.EventChannelOpened, func(e api.Event) bool { return e.Peer == p.id }))
				return err
			},
		},
		{
			ID: "client/6.3/accept", Level: Must, Section: "6.3",
			Sentence: "The client accepts channels on its advertised endpoint and adds the peer named by SetupP2PMessage to its channel table.",
			Outcomes: []string{"GET /v1/channels lists the peer with initiator = the peer; a channel_opened event names it; a Heartbeat on the channel is answered"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, _, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				_, err = c.waitChannels(ctx, "lists "+p.id+" with initiator "+p.id, func(chs []api.Channel) bool {
					for _, ch := range chs {
						if ch.Peer == p.id && ch.Initiator == p.id {
							return true
						}
					}
					return false
				})
				if err != nil {
					return err
				}
				_, err = c.waitEvent(ctx, "channel_opened peer="+p.id, evType(api.EventChannelOpened, func(e api.Event) bool { return e.Peer == p.id }))
				return err
			},
		},
		{
			ID: "client/6.3/setup-required", Level: Must, Section: "6.3",
			Sentence: "An accepted connection whose first frame is not SetupP2PMessage is answered with Error bad_frame and closed.",
			Outcomes: []string{"a ClientChatMessage as the first frame gets Error{code:bad_frame}, then close; no chat_received event"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, err := t.cutAndPeer(ctx)
				if err != nil {
					return err
				}
				s, err := t.rawDial(ctx, p, c, netip.AddrPort{})
				if err != nil {
					return err
				}
				m := chatFrom(p, c, 1)
				if err := s.notice(protocol.TypeClientChatMessage, m); err != nil {
					return err
				}
				if _, err := expectError(ctx, s, protocol.CodeBadFrame, 0); err != nil {
					return err
				}
				if err := s.expectClosed(ctx, "after the Error"); err != nil {
					return err
				}
				if n := c.countEvents(evType(api.EventChatReceived, func(e api.Event) bool { return e.MessageID == m.MessageID })); n > 0 {
					return failf("the message not delivered", "%d chat_received events", n)
				}
				return nil
			},
		},
		{
			ID: "client/6.4/tie-break", Level: Must, Section: "6.4",
			Sentence: "With two channels to one peer initiated by different sides, the client keeps the one initiated by the lexicographically smaller userID and closes the other.",
			Outcomes: []string{"to a peer whose userID is smaller the client keeps the peer's channel and closes its own; to a larger one it keeps its own and closes the peer's; GET /v1/channels shows the kept initiators; both kept channels deliver messages"},
			client: func(ctx context.Context, t *clientT) error {
				lo, err := t.fake(ctx, "a", true) // "<prefix>-a" < "<prefix>-cut"
				if err != nil {
					return err
				}
				hi, err := t.fake(ctx, "zz", true) // "<prefix>-zz" > "<prefix>-cut"
				if err != nil {
					return err
				}
				c, err := t.startCUT(ctx)
				if err != nil {
					return err
				}
				own := map[*fakePeer]*session{}
				for _, p := range []*fakePeer{lo, hi} {
					ch, err := p.accepted(ctx)
					if err != nil {
						return err
					}
					if _, err := ch.expect(ctx, "SetupP2PMessage from the client", isType(protocol.TypeSetupP2PMessage)); err != nil {
						return err
					}
					// A live peer beats on its channels (6.7): the
					// channels outlive a slow check without relying on
					// the client's own beats.
					ch.keepAlive(t.Heartbeat / 2)
					own[p] = ch
				}
				if _, err := c.waitChannels(ctx, "lists both peers", func(chs []api.Channel) bool { return hasPeer(chs, lo.id) && hasPeer(chs, hi.id) }); err != nil {
					return err
				}
				theirs := map[*fakePeer]*session{}
				for _, p := range []*fakePeer{lo, hi} {
					s, err := t.rawDial(ctx, p, c, netip.AddrPort{})
					if err != nil {
						return err
					}
					if err := s.notice(protocol.TypeSetupP2PMessage, protocol.SetupP2P{UserID: p.id}); err != nil {
						return err
					}
					s.keepAlive(t.Heartbeat / 2)
					theirs[p] = s
				}
				if err := own[lo].expectClosed(ctx, "the client's own channel to "+lo.id+", whose userID is smaller"); err != nil {
					return err
				}
				if err := theirs[hi].expectClosed(ctx, "the channel opened by "+hi.id+", whose userID is larger"); err != nil {
					return err
				}
				if _, err := c.waitChannels(ctx, fmt.Sprintf("%s initiated by %s and %s initiated by %s", lo.id, lo.id, hi.id, c.user), func(chs []api.Channel) bool {
					ok := 0
					for _, ch := range chs {
						if (ch.Peer == lo.id && ch.Initiator == lo.id) || (ch.Peer == hi.id && ch.Initiator == c.user) {
							ok++
						}
					}
					return ok == 2
				}); err != nil {
					return err
				}
				for p, kept := range map[*fakePeer]*session{lo: theirs[lo], hi: own[hi]} {
					m := chatFrom(p, c, 1)
					if err := kept.notice(protocol.TypeClientChatMessage, m); err != nil {
						return err
					}
					if _, err := c.waitEvent(ctx, "chat_received over the kept channel to "+p.id, evType(api.EventChatReceived, func(e api.Event) bool { return e.MessageID == m.MessageID })); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			ID: "client/6.5/p2p-send", Level: Must, Section: "6.5",
			Sentence: "A chat message to a peer with a channel goes over the channel as ClientChatMessage.",
			Outcomes: []string{"POST /v1/chat answers via=p2p; the peer receives ClientChatMessage with the content and userID = the client on the channel; its ChatAck gives a chat_acked event"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				resp, err := c.ctl.Chat(ctx, p.id, "over the channel")
				if err != nil {
					return failf("POST /v1/chat accepted", "%v", err)
				}
				if resp.Via != api.ViaP2P {
					return failf("via=p2p", "via=%q", resp.Via)
				}
				f, err := ch.expect(ctx, "ClientChatMessage "+resp.MessageID, isChat(protocol.TypeClientChatMessage, resp.MessageID))
				if err != nil {
					return err
				}
				if m := body[protocol.Chat](f); m.UserID != c.user || m.DestUserID != p.id || m.Content != "over the channel" {
					return failf("userID, destUserID and content as sent", "%s", describe(f))
				}
				if err := ch.notice(protocol.TypeChatAck, protocol.ChatAck{MessageID: resp.MessageID, UserID: p.id, DestUserID: c.user}); err != nil {
					return err
				}
				_, err = c.waitEvent(ctx, "chat_acked "+resp.MessageID, evType(api.EventChatAcked, func(e api.Event) bool { return e.MessageID == resp.MessageID }))
				return err
			},
		},
		{
			ID: "client/6.5/relay-fallback", Level: Must, Section: "6.5",
			Sentence: "A chat message to a peer without a channel is sent to the server as ChatMessage.",
			Outcomes: []string{"POST /v1/chat answers via=relay; the peer receives the ChatMessage from the server; its relayed ChatAck gives a chat_acked event"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, err := t.cutAndPeer(ctx)
				if err != nil {
					return err
				}
				resp, err := c.ctl.Chat(ctx, p.id, "through the server")
				if err != nil {
					return failf("POST /v1/chat accepted", "%v", err)
				}
				if resp.Via != api.ViaRelay {
					return failf("via=relay", "via=%q", resp.Via)
				}
				f, err := p.srv.expect(ctx, "ChatMessage "+resp.MessageID+" relayed by the server", isChat(protocol.TypeChatMessage, resp.MessageID))
				if err != nil {
					return err
				}
				if m := body[protocol.Chat](f); m.UserID != c.user || m.Content != "through the server" {
					return failf("userID and content as sent", "%s", describe(f))
				}
				if err := p.srv.notice(protocol.TypeChatAck, protocol.ChatAck{MessageID: resp.MessageID, UserID: p.id, DestUserID: c.user}); err != nil {
					return err
				}
				_, err = c.waitEvent(ctx, "chat_acked "+resp.MessageID, evType(api.EventChatAcked, func(e api.Event) bool { return e.MessageID == resp.MessageID }))
				return err
			},
		},
		{
			ID: "client/6.5/file-send", Level: Must, Section: "6.5",
			Sentence: "A file sent to a peer with a channel goes over the channel as FileOffer, FileChunk and FileDone, and the sender reports the peer's FileResult.",
			Outcomes: []string{"POST /v1/files answers via=p2p; the peer receives FileOffer (name, size, sha256), FileChunks whose data reassembles to the file, FileDone; after its FileResult ok a file_sent event follows"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				data := []byte(strings.Repeat("0123456789abcdef", 9000)) // 144,000 bytes: several chunks
				sum := sha256.Sum256(data)
				path := filepath.Join(t.dir, "send.bin")
				if err := os.WriteFile(path, data, 0o644); err != nil {
					return fmt.Errorf("conform: file to send: %w", err)
				}
				resp, err := c.ctl.SendFile(ctx, p.id, t.inside(path))
				if err != nil {
					return failf("POST /v1/files accepted", "%v", err)
				}
				if resp.Via != api.ViaP2P {
					return failf("via=p2p", "via=%q", resp.Via)
				}
				isT := func(typ string) func(protocol.Frame) bool {
					return func(f protocol.Frame) bool {
						return f.Type == typ && body[protocol.Relay](f).TransferID == resp.TransferID
					}
				}
				f, err := ch.expect(ctx, "FileOffer "+resp.TransferID, isT(protocol.TypeFileOffer))
				if err != nil {
					return err
				}
				if o := body[protocol.FileOffer](f); o.Size != int64(len(data)) || o.SHA256 != hex.EncodeToString(sum[:]) || o.FileName != "send.bin" {
					return failf(fmt.Sprintf("FileOffer{fileName:send.bin size:%d sha256:%x}", len(data), sum), "%s", describe(f))
				}
				got := make([]byte, len(data))
				received := 0
				for received < len(data) {
					f, err := ch.expect(ctx, fmt.Sprintf("FileChunks up to %d bytes (have %d)", len(data), received), isT(protocol.TypeFileChunk))
					if err != nil {
						return err
					}
					k := body[protocol.FileChunk](f)
					if k.Offset < 0 || k.Offset+int64(len(k.Data)) > int64(len(data)) || len(k.Data) > protocol.MaxChunkData || len(k.Data) == 0 {
						return failf("chunks of 1..65536 bytes inside the file", "offset %d, %d bytes", k.Offset, len(k.Data))
					}
					copy(got[k.Offset:], k.Data)
					received += len(k.Data)
				}
				if _, err := ch.expect(ctx, "FileDone "+resp.TransferID, isT(protocol.TypeFileDone)); err != nil {
					return err
				}
				if sha256.Sum256(got) != sum {
					return failf("the chunks reassemble to the file", "a different sha256")
				}
				if err := ch.notice(protocol.TypeFileResult, protocol.FileResult{TransferID: resp.TransferID, UserID: p.id, DestUserID: c.user, OK: true}); err != nil {
					return err
				}
				_, err = c.waitEvent(ctx, "file_sent "+resp.TransferID, evType(api.EventFileSent, func(e api.Event) bool { return e.TransferID == resp.TransferID }))
				return err
			},
		},
		{
			ID: "client/6.9/server-loss", Level: Must, Section: "6.9",
			Sentence: "P2P channels do not depend on the server connection: when the server is gone, the client keeps its channels and keeps chatting over them.",
			Outcomes: []string{"after its (fake) server closes and stops listening, the client still lists the channel, sends a chat over it (via=p2p) and reports a chat received over it"},
			client: func(ctx context.Context, t *clientT) error {
				// A one-shot fake server: it answers Login and GetP2PInfo,
				// listing a fake peer that only listens, then goes away.
				srvLn, srvConns, err := t.listenTapped(ctx, "fake server")
				if err != nil {
					return err
				}
				peerLn, err := t.Net.Listen(ctx, netip.AddrPortFrom(t.Net.Addr(), 0))
				if err != nil {
					return fmt.Errorf("conform: fake peer: %w", err)
				}
				peer := t.user("peer")
				peerConns := t.acceptTapped(peerLn, peer+" (channel from the client)")
				c, err := t.startCUTWith(ctx, addrPortOf(srvLn.Addr()), func(ctx context.Context) error {
					srv, err := serveStandIn(ctx, srvConns, func(self protocol.UserInfo) []protocol.UserInfo {
						return []protocol.UserInfo{self, userAt(peer, addrPortOf(peerLn.Addr()))}
					})
					if err != nil {
						return err
					}
					p, err := next(ctx, peerConns, "the client opens a channel to "+peer)
					if err != nil {
						return err
					}
					p.s.keepAlive(t.Heartbeat / 2)
					if _, err := p.s.expect(ctx, "SetupP2PMessage", isType(protocol.TypeSetupP2PMessage)); err != nil {
						return err
					}
					// The server goes away.
					_ = srvLn.Close()
					srv.s.Close()
					t.peerCh = p.s
					return nil
				})
				if err != nil {
					return err
				}
				ch := t.peerCh
				if _, err := c.waitEvent(ctx, "server_lost", evType(api.EventServerLost, nil)); err != nil {
					return err
				}
				resp, err := c.ctl.Chat(ctx, peer, "still here")
				if err != nil {
					return failf("POST /v1/chat accepted without a server", "%v", err)
				}
				if resp.Via != api.ViaP2P {
					return failf("via=p2p", "via=%q", resp.Via)
				}
				if _, err := ch.expect(ctx, "ClientChatMessage "+resp.MessageID+" over the channel", isChat(protocol.TypeClientChatMessage, resp.MessageID)); err != nil {
					return err
				}
				m := chat(peer+"-m1", peer, c.user, "and you?")
				if err := ch.notice(protocol.TypeClientChatMessage, m); err != nil {
					return err
				}
				if _, err := c.waitEvent(ctx, "chat_received over the channel", evType(api.EventChatReceived, func(e api.Event) bool { return e.MessageID == m.MessageID })); err != nil {
					return err
				}
				_, err = c.waitChannels(ctx, "still lists "+peer, func(chs []api.Channel) bool { return hasPeer(chs, peer) })
				return err
			},
		},
		{
			ID: "client/6.6/ack", Level: Must, Section: "6.6",
			Sentence: "The receiver answers every chat message, duplicates included, with ChatAck over the path it came by.",
			Outcomes: []string{"ChatAck{messageID, userID: client, destUserID: peer} on the channel for a ClientChatMessage, and again for its duplicate"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				m := chatFrom(p, c, 1)
				for i := range 2 {
					if err := ch.notice(protocol.TypeClientChatMessage, m); err != nil {
						return err
					}
					what := "ChatAck for " + m.MessageID
					if i == 1 {
						what += " (the duplicate)"
					}
					if _, err := ch.expect(ctx, what, isAck(m.MessageID, c.user, p.id)); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			ID: "client/6.6/ack-relay", Level: Must, Section: "6.6",
			Sentence: "A chat message that came through the server is acknowledged through the server.",
			Outcomes: []string{"the peer receives ChatAck{messageID} from the server; a chat_received event with via=relay"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, err := t.cutAndPeer(ctx)
				if err != nil {
					return err
				}
				m := chatFrom(p, c, 1)
				if err := p.srv.notice(protocol.TypeChatMessage, m); err != nil {
					return err
				}
				if _, err := p.srv.expect(ctx, "ChatAck for "+m.MessageID+" through the server", isAck(m.MessageID, c.user, p.id)); err != nil {
					return err
				}
				_, err = c.waitEvent(ctx, "chat_received via=relay", evType(api.EventChatReceived, func(e api.Event) bool {
					return e.MessageID == m.MessageID && e.Via == api.ViaRelay && e.From == p.id
				}))
				return err
			},
		},
		{
			ID: "client/6.6/resend", Level: Must, Section: "6.6",
			Sentence: "A message not yet acknowledged when its channel is torn down is sent again as ChatMessage through the server.",
			Outcomes: []string{"a ClientChatMessage left unacknowledged on a channel the peer then closes arrives again, same messageID, as ChatMessage from the server"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				resp, err := c.ctl.Chat(ctx, p.id, "resend me")
				if err != nil {
					return failf("POST /v1/chat accepted", "%v", err)
				}
				if _, err := ch.expect(ctx, "ClientChatMessage "+resp.MessageID, isChat(protocol.TypeClientChatMessage, resp.MessageID)); err != nil {
					return err
				}
				ch.Close() // no ChatAck: the channel is lost with the message unacknowledged
				_, err = p.srv.expect(ctx, "ChatMessage "+resp.MessageID+" again, through the server", isChat(protocol.TypeChatMessage, resp.MessageID))
				return err
			},
		},
		{
			ID: "client/6.6/offline-refused", Level: Must, Section: "6.6",
			Sentence: "A message to an offline user is reported as failed, never silently dropped.",
			Outcomes: []string{"POST /v1/chat to an offline user answers 4xx", "POST /v1/chat answers a messageID and a chat_failed event for it follows"},
			client: func(ctx context.Context, t *clientT) error {
				c, err := t.startCUT(ctx)
				if err != nil {
					return err
				}
				resp, err := c.ctl.Chat(ctx, t.user("nobody"), "anyone?")
				var se *api.StatusError
				if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 {
					return nil
				}
				if err != nil {
					return failf("4xx, or a messageID and then chat_failed", "%v", err)
				}
				_, err = c.waitEvent(ctx, "chat_failed "+resp.MessageID, evType(api.EventChatFailed, func(e api.Event) bool { return e.MessageID == resp.MessageID }))
				return err
			},
		},
		{
			ID: "client/6.6/dedupe", Level: Must, Section: "6.6",
			Sentence: "The receiver drops duplicate chat messages (same sender and messageID).",
			Outcomes: []string{"a message sent twice gives exactly one chat_received event (counted once a later message's event has arrived)"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				m1, m2 := chatFrom(p, c, 1), chatFrom(p, c, 2)
				for _, m := range []protocol.Chat{m1, m1, m2} {
					if err := ch.notice(protocol.TypeClientChatMessage, m); err != nil {
						return err
					}
				}
				if _, err := c.waitEvent(ctx, "chat_received "+m2.MessageID, evType(api.EventChatReceived, func(e api.Event) bool { return e.MessageID == m2.MessageID })); err != nil {
					return err
				}
				n := c.countEvents(evType(api.EventChatReceived, func(e api.Event) bool { return e.MessageID == m1.MessageID }))
				if n != 1 {
					return failf("exactly one chat_received for "+m1.MessageID, "%d; events: %s", n, c.describeEvents())
				}
				return nil
			},
		},
		{
			ID: "client/6.7/heartbeat-answer", Level: Must, Section: "6.7",
			Sentence: "The client answers a Heartbeat on a channel with HeartbeatAck, re = its id.",
			Outcomes: []string{"HeartbeatAck re=id on the channel"},
			client: func(ctx context.Context, t *clientT) error {
				_, _, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				return roundTrip(ctx, ch, "Heartbeat answered on the channel")
			},
		},
		{
			ID: "client/6.7/heartbeat-send", Level: Must, Section: "6.7",
			Sentence:      "The client sends Heartbeats on its channels, so a silent peer can be noticed.",
			Outcomes:      []string{"a Heartbeat from the client on the channel within heartbeat*misses"},
			usesHeartbeat: true,
			client: func(ctx context.Context, t *clientT) error {
				_, _, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				ch.keepAlive(t.Heartbeat / 2)
				limit := t.Heartbeat*time.Duration(t.Misses) + slack(t.Heartbeat)
				dctx, cancel := context.WithTimeout(ctx, limit)
				defer cancel()
				_, err = ch.expect(dctx, "a Heartbeat from the client within "+limit.String(), isType(protocol.TypeHeartbeat))
				return err
			},
		},
		{
			ID: "client/6.7/channel-timeout", Level: Must, Section: "6.7",
			Sentence:      "A channel silent for misses heartbeat intervals is torn down, with reason heartbeat timeout.",
			Outcomes:      []string{"the client closes the silent channel within heartbeat*(misses+1), with a channel_closed event reason=heartbeat timeout"},
			usesHeartbeat: true,
			client: func(ctx context.Context, t *clientT) error {
				c, p, err := t.cutAndPeer(ctx)
				if err != nil {
					return err
				}
				ch, err := t.dialChannel(ctx, p, c)
				if err != nil {
					return err
				}
				ch.silent.Store(true) // no Heartbeat, no HeartbeatAck from now on
				start := time.Now()
				if _, err := c.waitChannels(ctx, "lists "+p.id, func(chs []api.Channel) bool { return hasPeer(chs, p.id) }); err != nil {
					return err
				}
				limit := t.Heartbeat*time.Duration(t.Misses+1) + slack(t.Heartbeat)
				dctx, cancel := context.WithDeadline(ctx, start.Add(limit))
				defer cancel()
				if err := ch.expectClosed(dctx, "silent for heartbeat*(misses+1) = "+limit.String()); err != nil {
					return err
				}
				_, err = c.waitEvent(ctx, "channel_closed reason=heartbeat timeout", evType(api.EventChannelClosed, func(e api.Event) bool {
					return e.Peer == p.id && e.Reason == protocol.ReasonHeartbeatTimeout
				}))
				return err
			},
		},
		{
			ID: "client/6.2/teardown-offline", Level: Must, Section: "6.2",
			Sentence: "On UserStateNotify{onLine:false} for a peer the client tears down that peer's channel.",
			Outcomes: []string{"after the peer's Logout the client closes the channel, no longer lists it, and reports channel_closed reason=peer offline"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				ch.keepAlive(t.Heartbeat / 2)
				if err := p.srv.notice(protocol.TypeLogout, nil); err != nil {
					return err
				}
				if err := ch.expectClosed(ctx, "after the peer went offline"); err != nil {
					return err
				}
				if _, err := c.waitChannels(ctx, "no longer lists "+p.id, func(chs []api.Channel) bool { return !hasPeer(chs, p.id) }); err != nil {
					return err
				}
				_, err = c.waitEvent(ctx, "channel_closed reason=peer offline", evType(api.EventChannelClosed, func(e api.Event) bool {
					return e.Peer == p.id && e.Reason == protocol.ReasonPeerOffline
				}))
				return err
			},
		},
		{
			ID: "client/3.9/file-receive", Level: Should, Section: "3.9",
			Sentence: "A file offered and sent over a channel is stored and answered with FileResult ok:true.",
			Outcomes: []string{"FileResult{transferID, ok:true} on the channel and a file_received event with the sha256"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				data := []byte(strings.Repeat("conformance file\n", 100))
				sum := sha256.Sum256(data)
				tid := p.id + "-t1"
				frames := []struct {
					typ string
					v   any
				}{
					{protocol.TypeFileOffer, protocol.FileOffer{TransferID: tid, UserID: p.id, DestUserID: c.user, FileName: "cf.txt", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}},
					{protocol.TypeFileChunk, protocol.FileChunk{TransferID: tid, UserID: p.id, DestUserID: c.user, Offset: 0, Data: data}},
					{protocol.TypeFileDone, protocol.FileDone{TransferID: tid, UserID: p.id, DestUserID: c.user}},
				}
				for _, f := range frames {
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
				if !body[protocol.FileResult](f).OK {
					return failf("FileResult ok:true", "%s", describe(f))
				}
				_, err = c.waitEvent(ctx, "file_received with the sha256", evType(api.EventFileReceived, func(e api.Event) bool {
					return e.TransferID == tid || e.SHA256 == hex.EncodeToString(sum[:])
				}))
				return err
			},
		},
	}
}

func logRequirements() []Requirement {
	return []Requirement{
		{
			ID: "client/7.2/log-create", Level: Must, Section: "7.2",
			Sentence: "A channel the client opens is logged as 'prepare to create <peer>:<ip>:<port>' then 'created <peer>:<ip>:<port>', with the peer's advertised endpoint.",
			Outcomes: []string{"GET /v1/log parses line by line and holds the two phrases, in that order"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, _, err := t.initiatedChannel(ctx)
				if err != nil {
					return err
				}
				ep := p.srv.local()
				prep := protocol.LogEntry{Kind: protocol.LogPrepare, Peer: p.id, Addr: ep}
				made := protocol.LogEntry{Kind: protocol.LogCreated, Peer: p.id, Addr: ep}
				_, err = c.waitLog(ctx, fmt.Sprintf("%q then %q", prep.Phrase(), made.Phrase()), func(es []protocol.LogEntry) bool {
					i, j := hasEntry(es, prep), hasEntry(es, made)
					return i >= 0 && j > i
				})
				return err
			},
		},
		{
			ID: "client/7.2/log-accept", Level: Must, Section: "7.2",
			Sentence: "A channel the client accepts is logged as 'accepted <peer>:<ip>:<port>'.",
			Outcomes: []string{"GET /v1/log parses line by line and holds 'accepted <peer>:<ip>:<port>' with the peer's endpoint"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, _, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				want := protocol.LogEntry{Kind: protocol.LogAccepted, Peer: p.id, Addr: p.srv.local()}
				_, err = c.waitLog(ctx, fmt.Sprintf("%q", want.Phrase()), func(es []protocol.LogEntry) bool { return hasEntry(es, want) >= 0 })
				return err
			},
		},
		{
			ID: "client/7.2/log-send", Level: Must, Section: "7.2",
			Sentence: "A message sent over a channel is logged as 'send messages through p2p channel, current user ID is <me>'; one sent through the server as 'server Forwarding Message'.",
			Outcomes: []string{"after one P2P send and one relayed send, GET /v1/log holds both phrases in that order"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, _, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				if _, err := c.ctl.Chat(ctx, p.id, "p2p"); err != nil {
					return failf("POST /v1/chat accepted", "%v", err)
				}
				q, err := t.fake(ctx, "other", false)
				if err != nil {
					return err
				}
				if _, err := c.ctl.Chat(ctx, q.id, "relay"); err != nil {
					return failf("POST /v1/chat accepted", "%v", err)
				}
				p2p := protocol.LogEntry{Kind: protocol.LogSendP2P, Me: c.user}
				fwd := protocol.LogEntry{Kind: protocol.LogForwarding}
				_, err = c.waitLog(ctx, fmt.Sprintf("%q then %q", p2p.Phrase(), fwd.Phrase()), func(es []protocol.LogEntry) bool {
					i := hasEntry(es, p2p)
					if i < 0 {
						return false
					}
					return hasEntry(es[i+1:], fwd) >= 0
				})
				return err
			},
		},
		{
			ID: "client/7.2/log-closed", Level: Must, Section: "7.2",
			Sentence: "A channel torn down because its peer went offline is logged as 'closed <peer>: peer offline'.",
			Outcomes: []string{"GET /v1/log holds 'closed <peer>: peer offline' after the peer's Logout"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, ch, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				ch.keepAlive(t.Heartbeat / 2)
				if err := p.srv.notice(protocol.TypeLogout, nil); err != nil {
					return err
				}
				want := protocol.LogEntry{Kind: protocol.LogClosed, Peer: p.id, Reason: protocol.ReasonPeerOffline}
				_, err = c.waitLog(ctx, fmt.Sprintf("%q", want.Phrase()), func(es []protocol.LogEntry) bool { return hasEntry(es, want) >= 0 })
				return err
			},
		},
		{
			ID: "client/7.1/log-file", Level: Should, Section: "7.1",
			Sentence: "The client writes its P2PInfo log to the file given at start ({log}), in the same phrases.",
			Outcomes: []string{"the {log} file parses line by line and holds the 'accepted' line of an accepted channel"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, _, err := t.acceptedChannel(ctx)
				if err != nil {
					return err
				}
				want := protocol.LogEntry{Kind: protocol.LogAccepted, Peer: p.id, Addr: p.srv.local()}
				var text string
				var perr error
				err = poll(ctx, func() (bool, error) {
					b, err := readFile(c.run.Log)
					if err != nil {
						return false, nil
					}
					text = b
					es, err := protocol.ParseLog(text)
					if err != nil {
						perr = err
						return false, nil
					}
					return hasEntry(es, want) >= 0, nil
				})
				if err != nil {
					return failf(fmt.Sprintf("%s holds %q and parses", c.run.Log, want.Phrase()), "parse error %v; file:\n%s", perr, text)
				}
				return nil
			},
		},
	}
}

// controlRequirements check the control API itself.
func controlRequirements() []Requirement {
	return []Requirement{
		{
			ID: "client/api/status", Level: Must, Section: "api",
			Sentence: "GET /v1/status reports the userID, online:true once logged in, the server address and the listen endpoint, which is the endpoint the server advertises.",
			Outcomes: []string{"status {userID, online:true, server, listen} with listen equal to the endpoint in ResP2pInfo"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, err := t.cutAndPeer(ctx)
				if err != nil {
					return err
				}
				ep, err := p.endpointOf(ctx, c.user)
				if err != nil {
					return err
				}
				st, err := c.ctl.Status(ctx)
				if err != nil {
					return failf("GET /v1/status 200", "%v", err)
				}
				if st.UserID != c.user || !st.Online || st.Server != t.Server.String() || st.Listen != ep.String() {
					return failf(fmt.Sprintf("{userID:%s online:true server:%s listen:%s}", c.user, t.Server, ep), "%+v", st)
				}
				return nil
			},
		},
		{
			ID: "client/api/bad-requests", Level: Must, Section: "api",
			Sentence: "The control API answers bad requests with a 4xx status and a JSON body {\"error\": \"...\"}.",
			Outcomes: []string{"400 for malformed JSON, 4xx for a chat without a valid recipient, 404 for an unknown path, 4xx for a bad events query; each with a non-empty error field"},
			client: func(ctx context.Context, t *clientT) error {
				c, err := t.startCUT(ctx)
				if err != nil {
					return err
				}
				cases := []struct {
					method, path, body string
					lo, hi             int
				}{
					{"POST", "/v1/chat", `{"to":`, 400, 400},
					{"POST", "/v1/chat", `{"to":"","content":"x"}`, 400, 499},
					{"POST", "/v1/chat", `{"to":"not a user id!","content":"x"}`, 400, 499},
					{"GET", "/v1/no-such-call", ``, 404, 404},
					{"GET", "/v1/events?after=abc", ``, 400, 499},
				}
				for _, k := range cases {
					status, msg, err := c.raw(ctx, k.method, k.path, k.body)
					if err != nil {
						return err
					}
					want := fmt.Sprintf("%s %s %s -> %d..%d with {\"error\": non-empty}", k.method, k.path, k.body, k.lo, k.hi)
					if status < k.lo || status > k.hi || msg == "" {
						return failf(want, "%d %q", status, msg)
					}
				}
				return nil
			},
		},
		{
			ID: "client/api/events", Level: Must, Section: "api",
			Sentence: "GET /v1/events?after=SEQ&wait=DUR long-polls: it returns as soon as an event after SEQ exists, with increasing seq.",
			Outcomes: []string{"a long-poll started before a peer logs in returns a user_online event for it; seqs are above SEQ and increasing"},
			client: func(ctx context.Context, t *clientT) error {
				c, err := t.startCUT(ctx)
				if err != nil {
					return err
				}
				es, err := c.ctl.Events(ctx, 0, 0)
				if err != nil {
					return failf("GET /v1/events 200", "%v", err)
				}
				var after int64
				if len(es) > 0 {
					after = es[len(es)-1].Seq
				}
				type answer struct {
					es  []api.Event
					err error
				}
				got := make(chan answer, 1)
				go func() {
					es, err := c.ctl.Events(ctx, after, 5*time.Second)
					got <- answer{es, err}
				}()
				p, err := t.fake(ctx, "peer", false)
				if err != nil {
					<-got
					return err
				}
				a := <-got // bounded by ctx and the 5s wait
				last := after
				for {
					if a.err != nil {
						return failf("the long-poll answers 200", "%v", a.err)
					}
					if len(a.es) == 0 {
						return failf("the long-poll returns the user_online event for "+p.id+" when it happens", "an empty answer")
					}
					for _, e := range a.es {
						if e.Seq <= last {
							return failf(fmt.Sprintf("seq increasing and above %d", last), "%+v", a.es)
						}
						last = e.Seq
						if e.Type == api.EventUserOnline && e.UserID == p.id {
							return nil
						}
					}
					// Other events came first: poll on from the last one.
					es, err := c.ctl.Events(ctx, last, 5*time.Second)
					a = answer{es, err}
				}
			},
		},
		{
			ID: "client/api/logout", Level: Must, Section: "api",
			Sentence: "POST /v1/logout leaves the server: the other users are told the client is offline and its status says online:false.",
			Outcomes: []string{"a peer receives UserStateNotify{userID: client, onLine:false}; GET /v1/status has online:false"},
			client: func(ctx context.Context, t *clientT) error {
				c, p, err := t.cutAndPeer(ctx)
				if err != nil {
					return err
				}
				if err := c.ctl.Logout(ctx); err != nil {
					return failf("POST /v1/logout 2xx", "%v", err)
				}
				if _, err := expectNotify(ctx, p.srv, c.user, false); err != nil {
					return err
				}
				var st api.Status
				if err := poll(ctx, func() (bool, error) {
					var err error
					st, err = c.ctl.Status(ctx)
					return err == nil && !st.Online, nil
				}); err != nil {
					return failf("status online:false after logout", "%+v", st)
				}
				return nil
			},
		},
	}
}

// raw sends one control API request and returns its status and error field.
func (c *cut) raw(ctx context.Context, method, path, body string) (int, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://control"+path, rd)
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("conform: control API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	eb := decodeJSON[api.ErrorBody](b)
	return resp.StatusCode, eb.Error, nil
}

func clientCatalogue() []Requirement {
	var all []Requirement
	all = append(all, channelRequirements()...)
	all = append(all, logRequirements()...)
	all = append(all, controlRequirements()...)
	all = append(all, v11ClientRequirements()...)
	all = append(all, moreClientRequirements()...)
	all = append(all, strictClientRequirements()...)
	return all
}
