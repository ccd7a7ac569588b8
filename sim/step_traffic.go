package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/p2plab/p2plab/api"
)

// Traffic steps: chat, file, connect, wait (docs/scenarios.md, Traffic).
// The `within` of a chat or file step counts from the start of the step.

// ChatStep sends one chat message.
type ChatStep struct {
	stepBase
	From    string `json:"from"`
	To      string `json:"to"`
	Content string `json:"content"`
	// As names the message for later expectations.
	As string `json:"as,omitempty"`
	// Via, if set, checks the path three ways (receiver event, P2PInfo
	// log, server counters) within Within.
	Via    string        `json:"via,omitempty"`
	Within time.Duration `json:"within,omitempty"`
	// Refused expects the send to be refused (e.g. user_offline).
	Refused bool `json:"refused,omitempty"`
}

func readChat(v *validator, n node) Step {
	cm, ok := n.asMap("from", "to", "content", "as", "via", "within", "refused")
	if !ok {
		return nil
	}
	c := &ChatStep{From: v.client(cm.get("from")), To: v.client(cm.get("to"))}
	c.Content = cm.get("content").reqStr()
	c.As = v.label(cm.get("as"), StepChat)
	c.Via = v.via(cm.get("via"))
	c.Within = v.within(cm.get("within"), DefaultWithin)
	c.Refused = cm.get("refused").boolean(false)
	if c.Refused && c.Via != "" {
		v.e.add(cm.get("via"), "a refused message takes no path")
	}
	if c.From == c.To && c.From != "" {
		v.e.add(cm.get("to"), "a client cannot chat with itself")
	}
	return c
}

// deadline is when the receipt (or, refused, the chat_failed) is due;
// none for a plain send.
func (c *ChatStep) deadline(rn *runner) time.Time {
	if c.Via == "" && !c.Refused {
		return time.Time{}
	}
	return windowOf(rn.mark, c.Within).deadline()
}

// Kind is "chat".
func (*ChatStep) Kind() string { return StepChat }

func (c *ChatStep) String() string {
	s := fmt.Sprintf("chat %s -> %s %q", c.From, c.To, c.Content)
	if c.Via != "" {
		s += " via " + c.Via
	}
	if c.Refused {
		s += " (refused)"
	}
	return s
}

func (c *ChatStep) run(ctx context.Context, rn *runner) (string, error) {
	l := rn.lab
	s, err := l.Chat(ctx, c.From, c.To, c.Content)
	w := windowOf(rn.mark, c.Within)
	if c.Refused {
		if err == nil {
			// Refused later: the server answers user_offline and the
			// client reports chat_failed for the message.
			e, werr := l.Client(c.From).waitEvent(ctx, s.mark, Match{Type: api.EventChatFailed, MessageID: s.Response.MessageID}, w)
			if werr != nil {
				return "", l.failErr(ErrDeadline, "chat "+c.From+"->"+c.To, "the send refused (an error answer, or chat_failed "+w.String()+")",
					fmt.Sprintf("accepted: messageID=%s via=%s; %v", s.Response.MessageID, s.Response.Via, werr), c.From, c.To)
			}
			return "refused later: chat_failed reason=" + e.Reason, nil
		}
		var se *api.StatusError
		if !errors.As(err, &se) {
			return "", err
		}
		return "refused: " + se.Message, nil
	}
	if err != nil {
		return "", err
	}
	if c.As != "" {
		rn.sent[c.As] = s
	}
	if c.Via != "" {
		return l.checkPath(ctx, s, c.Via, w)
	}
	return "via " + s.Response.Via, nil
}

// FileStep sends a file of Size random bytes and checks that it arrived
// whole (size, sha256, the stored file) within Within.
type FileStep struct {
	stepBase
	From   string        `json:"from"`
	To     string        `json:"to"`
	Size   int64         `json:"size"`
	As     string        `json:"as,omitempty"`
	Via    string        `json:"via,omitempty"`
	Within time.Duration `json:"within,omitempty"`
}

func readFile(v *validator, n node) Step {
	fm, ok := n.asMap("from", "to", "size", "as", "via", "within")
	if !ok {
		return nil
	}
	f := &FileStep{From: v.client(fm.get("from")), To: v.client(fm.get("to"))}
	f.Size = fm.get("size").size(64 << 10)
	if f.Size > 64<<20 {
		v.e.add(fm.get("size"), "at most 64MiB")
	}
	f.As = v.label(fm.get("as"), StepFile)
	f.Via = v.via(fm.get("via"))
	f.Within = v.within(fm.get("within"), 4*DefaultWithin)
	return f
}

func (f *FileStep) deadline(rn *runner) time.Time { return windowOf(rn.mark, f.Within).deadline() }

// Kind is "file".
func (*FileStep) Kind() string { return StepFile }

func (f *FileStep) String() string {
	s := fmt.Sprintf("file %s -> %s %d bytes", f.From, f.To, f.Size)
	if f.Via != "" {
		s += " via " + f.Via
	}
	return s
}

func (f *FileStep) run(ctx context.Context, rn *runner) (string, error) {
	sf, err := rn.lab.SendFile(ctx, f.From, f.To, f.Size)
	if err != nil {
		return "", err
	}
	if err := rn.lab.checkFile(ctx, sf, f.Via, windowOf(rn.mark, f.Within)); err != nil {
		return "", err
	}
	return "via " + sf.Response.Via + ", sha256 ok", nil
}

// ConnectStep opens a channel on demand (POST /v1/connect).
type ConnectStep struct {
	stepBase
	From string `json:"from"`
	To   string `json:"to"`
}

func readConnect(v *validator, n node) Step {
	cm, ok := n.asMap("from", "to")
	if !ok {
		return nil
	}
	return &ConnectStep{From: v.client(cm.get("from")), To: v.client(cm.get("to"))}
}

// Kind is "connect".
func (*ConnectStep) Kind() string     { return StepConnect }
func (c *ConnectStep) String() string { return fmt.Sprintf("connect %s -> %s", c.From, c.To) }

func (c *ConnectStep) run(ctx context.Context, rn *runner) (string, error) {
	ch, err := rn.lab.Client(c.From).Connect(ctx, c.To)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("channel %s->%s", ch.Local, ch.Remote), nil
}

// WaitStep lets time pass (never used to synchronise: expectations wait
// on events themselves).
type WaitStep struct {
	stepBase
	Wait time.Duration `json:"wait"`
}

func readWait(v *validator, n node) Step {
	if n.absent() {
		v.e.add(n, "missing (a duration, e.g. 500ms)")
	}
	return &WaitStep{Wait: n.duration(0)}
}

// Kind is "wait".
func (*WaitStep) Kind() string     { return StepWait }
func (w *WaitStep) String() string { return "wait " + w.Wait.String() }

func (w *WaitStep) run(ctx context.Context, _ *runner) (string, error) {
	t := time.NewTimer(w.Wait)
	defer t.Stop()
	select {
	case <-t.C:
		return "", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
