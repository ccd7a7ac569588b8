package sim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/protocol"
)

// Client is the handle of one client program, driven only through its
// control API (a unix socket in the host's directory, so faults on the lab
// LAN never cut the lab's view of it).
type Client struct {
	lab  *Lab
	user string
	host *netlab.Host

	mu     sync.Mutex
	proc   netlab.Process
	api    *api.Client
	stop   context.CancelFunc // stops the current event follower
	events EventLog           // every event of every run of the program
	listen netip.AddrPort
}

// User is the client's user ID.
func (c *Client) User() string { return c.user }

// Host is the client's lab host.
func (c *Client) Host() *netlab.Host { return c.host }

// Listen is the endpoint the client reported at its last start.
func (c *Client) Listen() netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listen
}

// API is the control API client (nil before the first start).
func (c *Client) API() *api.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.api
}

// Running reports whether the client process is up.
func (c *Client) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return running(c.proc)
}

func (c *Client) controlPath() string { return filepath.Join(c.host.Dir(), "control.sock") }
func (c *Client) logPath() string     { return filepath.Join(c.host.Dir(), "p2pinfo.log") }
func (c *Client) filesDir() string    { return filepath.Join(c.host.Dir(), "files") }

// Start starts the client program and waits until its control API answers
// and it is online (logged in).
func (c *Client) Start(ctx context.Context) error {
	l := c.lab
	if c.Running() {
		return fmt.Errorf("sim: client %s is already running", c.user)
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.StartTimeout)
	defer cancel()
	os.Remove(c.controlPath())
	if err := os.MkdirAll(c.filesDir(), 0o755); err != nil {
		return fmt.Errorf("sim: client %s: %w", c.user, err)
	}
	vars := map[string]string{
		"user":    c.user,
		"name":    strings.ToUpper(c.user[:1]) + c.user[1:],
		"control": c.host.Path(c.controlPath()),
		"log":     c.host.Path(c.logPath()),
		"files":   c.host.Path(c.filesDir()),
	}
	dir := filepath.Join(l.artifacts, c.user)
	args := l.opts.ClientArgs
	if args == nil {
		args = []string{} // {client_args} is there for every client, maybe empty
	}
	p, err := l.StartProgram(ctx, c.host, Program{Command: l.opts.ClientCommand, Image: l.opts.ClientImage, Vars: vars, Args: args, Output: dir})
	if err != nil {
		return fmt.Errorf("sim: start client %s: %w", c.user, err)
	}
	ac := api.NewClient(c.controlPath())
	c.mu.Lock()
	if c.api != nil {
		c.api.Close()
	}
	c.proc, c.api = p, ac
	c.mu.Unlock()
	var st api.Status
	err = poll(ctx, 50*time.Millisecond, func() error {
		select {
		case <-p.Done():
			return errExited
		default:
		}
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		defer rcancel()
		var err error
		st, err = ac.Status(rctx)
		if err != nil {
			return err
		}
		if !st.Online {
			return fmt.Errorf("not online yet")
		}
		return nil
	})
	if err != nil {
		// A Go program dumps its goroutines on SIGQUIT: keep that in the
		// artifacts for whoever debugs the client.
		if running(p) {
			p.Signal(syscall.SIGQUIT)
			select {
			case <-p.Done():
			case <-time.After(2 * time.Second):
			}
		}
		return fmt.Errorf("sim: client %s not ready: %w (its stderr holds a goroutine dump if it is a Go program)\n%s", c.user, err, tailFiles(dir, 10))
	}
	ap, _ := netip.ParseAddrPort(st.Listen)
	fctx, fcancel := context.WithCancel(l.ctx)
	c.mu.Lock()
	c.listen = ap
	c.stop = fcancel
	c.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		c.follow(fctx, ac, p)
	}()
	l.note("client %s online, listening on %s", c.user, st.Listen)
	return nil
}

// follow collects the events of one run of the program until ctx ends or
// it exits, into c.events and the timeline.
func (c *Client) follow(ctx context.Context, ac *api.Client, p netlab.Process) {
	c.events.Follow(ctx, ac, p.Done(), func(e api.Event) {
		c.lab.tl.add(TimelineEntry{Time: e.Time, Kind: "event", Host: c.user, Event: &e})
	})
}

func (c *Client) eventCount() int { return c.events.Len() }

// Events returns the events seen after the mark (a zero Mark: all).
func (c *Client) Events(since Mark) []api.Event { return c.events.From(since.events[c.user]) }

// wait returns a channel closed when new events arrive.
func (c *Client) wait() <-chan struct{} { return c.events.Changed() }

// Match selects events. Empty fields match anything; Reasons matches any
// of its reasons.
type Match struct {
	Type, Peer, From, To, UserID, Via, Content, MessageID, TransferID string
	Reasons                                                           []string
}

func (m Match) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("type", m.Type)
	add("peer", m.Peer)
	add("from", m.From)
	add("to", m.To)
	add("user", m.UserID)
	add("via", m.Via)
	add("content", m.Content)
	add("messageID", m.MessageID)
	add("transferID", m.TransferID)
	if len(m.Reasons) > 0 {
		parts = append(parts, "reason in ["+strings.Join(m.Reasons, " | ")+"]")
	}
	return strings.Join(parts, " ")
}

// Matches reports whether e matches.
func (m Match) Matches(e api.Event) bool {
	eq := func(want, have string) bool { return want == "" || want == have }
	if !eq(m.Type, e.Type) || !eq(m.Peer, e.Peer) || !eq(m.From, e.From) || !eq(m.To, e.To) ||
		!eq(m.UserID, e.UserID) || !eq(m.Via, e.Via) || !eq(m.Content, e.Content) || !eq(m.MessageID, e.MessageID) ||
		!eq(m.TransferID, e.TransferID) {
		return false
	}
	return len(m.Reasons) == 0 || contains(m.Reasons, e.Reason)
}

// ErrNoEvent is wrapped by WaitEvent when no event matched in time.
var ErrNoEvent = errors.New("no matching event")

// WaitEvent waits for the first event after since (a zero Mark: any event)
// that matches m and happened within `within` of since.Time (of now, for a
// zero Mark). The wait lasts until that deadline + 1s (the grace lets a long
// poll deliver it), so the verdict rests on the event's own time.
func (c *Client) WaitEvent(ctx context.Context, since Mark, m Match, within time.Duration) (api.Event, error) {
	return c.waitEvent(ctx, since, m, windowOf(since, within))
}

// waitEvent waits for the first event after from that matches m and
// happened by w's deadline.
func (c *Client) waitEvent(ctx context.Context, from Mark, m Match, w window) (api.Event, error) {
	end := w.deadline().Add(readGrace)
	if min := time.Now().Add(readGrace / 5); end.Before(min) {
		end = min
	}
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	for {
		ch := c.wait()
		for _, e := range c.Events(from) {
			if m.Matches(e) {
				if e.Time.After(w.deadline()) {
					return e, fmt.Errorf("%w %s: the first match came at %s: %s", ErrNoEvent, w, w.since(e.Time), fmtEvent(e))
				}
				return e, nil
			}
		}
		select {
		case <-ctx.Done():
			return api.Event{}, fmt.Errorf("%w %s at %s: want %s; saw %s", ErrNoEvent, w, c.user, m, fmtEvents(c.Events(from), 12))
		case <-ch:
		}
	}
}

// NoEvent watches for `during` from now and fails if an event after since
// matches m.
func (c *Client) NoEvent(ctx context.Context, since Mark, m Match, during time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, during)
	defer cancel()
	for {
		ch := c.wait()
		for _, e := range c.Events(since) {
			if m.Matches(e) {
				return fmt.Errorf("at %s: want no event %s; saw %s", c.user, m, fmtEvent(e))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		}
	}
}

func fmtEvent(e api.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s #%d %s", e.Time.UTC().Format("15:04:05.000"), e.Seq, e.Type)
	for _, kv := range [][2]string{{"user", e.UserID}, {"peer", e.Peer}, {"initiator", e.Initiator}, {"reason", e.Reason},
		{"from", e.From}, {"to", e.To}, {"messageID", e.MessageID}, {"via", e.Via}, {"content", e.Content},
		{"transferID", e.TransferID}, {"name", e.Name}, {"sha256", e.SHA256}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%q", kv[0], kv[1])
		}
	}
	return b.String()
}

func fmtEvents(es []api.Event, n int) string {
	if len(es) == 0 {
		return "no events"
	}
	var lines []string
	if len(es) > n {
		lines = append(lines, fmt.Sprintf("(%d earlier events)", len(es)-n))
		es = es[len(es)-n:]
	}
	for _, e := range es {
		lines = append(lines, fmtEvent(e))
	}
	return "\n    " + strings.Join(lines, "\n    ")
}

func (c *Client) callCtx(ctx context.Context) (context.Context, context.CancelFunc, *api.Client, error) {
	ac := c.API()
	if ac == nil {
		return nil, nil, nil, fmt.Errorf("sim: client %s was never started", c.user)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	return cctx, cancel, ac, nil
}

// Status calls GET /v1/status.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	ctx, cancel, ac, err := c.callCtx(ctx)
	if err != nil {
		return api.Status{}, err
	}
	defer cancel()
	return ac.Status(ctx)
}

// Chat sends a chat message through the control API.
func (c *Client) Chat(ctx context.Context, to, content string) (api.ChatResponse, error) {
	ctx, cancel, ac, err := c.callCtx(ctx)
	if err != nil {
		return api.ChatResponse{}, err
	}
	defer cancel()
	r, err := ac.Chat(ctx, to, content)
	if err != nil {
		return r, fmt.Errorf("sim: %s chat to %s: %w", c.user, to, err)
	}
	return r, nil
}

// SendFile sends a file given by its lab path (under the client's host
// directory).
func (c *Client) SendFile(ctx context.Context, to, outside string) (api.FileResponse, error) {
	ctx, cancel, ac, err := c.callCtx(ctx)
	if err != nil {
		return api.FileResponse{}, err
	}
	defer cancel()
	r, err := ac.SendFile(ctx, to, c.host.Path(outside))
	if err != nil {
		return r, fmt.Errorf("sim: %s file to %s: %w", c.user, to, err)
	}
	return r, nil
}

// Connect opens a channel to a peer now.
func (c *Client) Connect(ctx context.Context, peer string) (api.Channel, error) {
	ctx, cancel, ac, err := c.callCtx(ctx)
	if err != nil {
		return api.Channel{}, err
	}
	defer cancel()
	ch, err := ac.Connect(ctx, peer)
	if err != nil {
		return ch, fmt.Errorf("sim: %s connect to %s: %w", c.user, peer, err)
	}
	return ch, nil
}

// Channels calls GET /v1/channels.
func (c *Client) Channels(ctx context.Context) ([]api.Channel, error) {
	ctx, cancel, ac, err := c.callCtx(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	return ac.Channels(ctx)
}

// Logout calls POST /v1/logout.
func (c *Client) Logout(ctx context.Context) error {
	ctx, cancel, ac, err := c.callCtx(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return ac.Logout(ctx)
}

// LogText returns the P2PInfo log: from the control API while the program
// runs, else from its log file.
func (c *Client) LogText(ctx context.Context) (string, error) {
	if ac := c.API(); ac != nil && c.Running() {
		// Short: a frozen program does not answer; its file still does.
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		s, err := ac.Log(cctx)
		cancel()
		if err == nil {
			return s, nil
		}
	}
	b, err := os.ReadFile(c.logPath())
	if err != nil {
		return "", fmt.Errorf("sim: %s P2PInfo log: %w", c.user, err)
	}
	return string(b), nil
}

// Log returns the parsed P2PInfo log; a line that is not one of the
// phrases of docs/protocol.md section 7.2 is an error.
func (c *Client) Log(ctx context.Context) ([]protocol.LogEntry, error) {
	text, err := c.LogText(ctx)
	if err != nil {
		return nil, err
	}
	es, err := protocol.ParseLog(text)
	if err != nil {
		return es, fmt.Errorf("sim: %s P2PInfo log: %w", c.user, err)
	}
	return es, nil
}

func (c *Client) stopFollower() {
	c.mu.Lock()
	stop := c.stop
	c.stop = nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Kill sends SIGKILL to the client program.
func (c *Client) Kill(ctx context.Context) error {
	c.mu.Lock()
	p := c.proc
	c.mu.Unlock()
	if !running(p) {
		return fmt.Errorf("sim: client %s is not running", c.user)
	}
	if err := p.Kill(ctx); err != nil {
		return fmt.Errorf("sim: kill %s: %w", c.user, err)
	}
	c.stopFollower()
	return nil
}

// Stop asks the client to quit (POST /v1/quit) and waits for it to exit;
// if it does not within 3s it is stopped with signals.
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	p, ac := c.proc, c.api
	c.mu.Unlock()
	if !running(p) {
		return fmt.Errorf("sim: client %s is not running", c.user)
	}
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := ac.Quit(qctx); err == nil {
		select {
		case <-p.Done():
		case <-qctx.Done():
		}
	}
	if running(p) {
		if err := p.Stop(ctx, 2*time.Second); err != nil && running(p) {
			return fmt.Errorf("sim: stop %s: %w", c.user, err)
		}
	}
	c.stopFollower()
	return nil
}
