package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim"
	"github.com/p2plab/p2plab/sim/matrixreport"
)

// Bounds of a trial's waits. The ladder of the reference client is bounded
// by 5 s (docs/protocol.md 9.7); the rest are generous for a loaded machine.
const (
	connectBound = 15 * time.Second
	deliverBound = 10 * time.Second
	// quietBound is how long no attempt of the initiator's ladder may run
	// before a pair without a channel is taken to be on the relay (longer
	// than the pause between two rungs).
	quietBound = 600 * time.Millisecond
)

// errTrial marks a trial that could not be run (its verdict is Error).
var errTrial = errors.New("trial not run")

// trialRun holds what the trials of one pair share.
type trialRun struct {
	cfg  Config
	pair Pair
	lab  *sim.Lab
	exp  Expectation
	dir  string
	ad   *Advertised
}

// trial is one trial under way.
type trial struct {
	*trialRun
	t      *matrixreport.Trial
	start  time.Time
	mark   sim.Mark
	sent   []message
	undos  []netlab.Undo // the trial's blocks
	cuts   []netlab.Undo // the cut of the direct path
	direct time.Time     // when the first channel opened at the initiator
}

type message struct{ from, to, content string }

func (tr *trial) note(format string, args ...any) {
	tr.t.Timeline = append(tr.t.Timeline, matrixreport.Event{At: time.Since(tr.start), Text: fmt.Sprintf(format, args...)})
}

// run runs trial idx: start both clients (the acceptor first, so the
// initiator is the newcomer that owes the channel, 6.2), connect on demand,
// chat both ways, cut the direct path, chat, heal, connect again, chat.
func (r *trialRun) run(ctx context.Context, idx int) *matrixreport.Trial {
	tr := &trial{trialRun: r, t: &matrixreport.Trial{Index: idx}, start: time.Now()}
	path, again, err := tr.steps(ctx)
	tr.finish(ctx)
	t := tr.t
	t.Path = path
	t.Duration = time.Since(tr.start)
	t.Sent = len(tr.sent)
	t.Delivered = tr.delivered()
	tr.judge(path, again, err)
	return t
}

func (tr *trial) steps(ctx context.Context) (first, again matrixreport.Path, err error) {
	alice, bob := tr.lab.Client(Initiator), tr.lab.Client(Acceptor)
	for _, c := range []*sim.Client{alice, bob} {
		k := tr.pair.Row
		if c.User() == Acceptor {
			k = tr.pair.Col
		}
		if k.TCPBlocked {
			u, err := c.Host().Block(ctx, netlab.Block{})
			if err != nil {
				return "", "", fmt.Errorf("%w: block %s: %w", errTrial, c.User(), err)
			}
			tr.undos = append(tr.undos, u)
			tr.note("inbound TCP SYNs to %s dropped", c.User())
		}
	}
	tr.mark = tr.lab.Mark()
	for _, c := range []*sim.Client{bob, alice} {
		if err := c.Start(ctx); err != nil {
			return "", "", fmt.Errorf("%w: %w", errTrial, err)
		}
		tr.note("%s online, listening on %s", c.User(), c.Listen())
	}
	t0 := time.Now()
	if e, ok := tr.find(alice, api.Event{Type: api.EventLogin}); ok {
		t0 = e.Time
	}
	first, err = tr.connect(ctx, alice, bob)
	if err != nil {
		return first, "", err
	}
	if e, ok := tr.find(alice, api.Event{Type: api.EventChannelOpened, Peer: Acceptor}); ok && first != matrixreport.PathRelay {
		tr.direct = e.Time
		tr.t.TimeToDirect = e.Time.Sub(t0)
	}
	tr.t.Attempts = tr.attempts(alice, bob)
	if tr.ad == nil {
		ad, err := advertised(ctx, tr.lab)
		if err != nil {
			return first, "", fmt.Errorf("%w: %w", errTrial, err)
		}
		tr.ad = &ad
		tr.note("advertised: server %v, %s %v, %s %v", ad.Server, Initiator, ad.Users[Initiator], Acceptor, ad.Users[Acceptor])
	}
	if err := tr.chat(ctx, "before the cut"); err != nil {
		return first, "", err
	}

	cut := tr.lab.Mark()
	if err := tr.cutDirect(ctx); err != nil {
		return first, "", fmt.Errorf("%w: %w", errTrial, err)
	}
	tr.send(ctx, "during the cut")
	if first != matrixreport.PathRelay {
		hb := tr.cfg.Heartbeat * time.Duration(tr.cfg.Misses+2)
		if e, err := alice.WaitEvent(ctx, cut, sim.Match{Type: api.EventChannelClosed, Peer: Acceptor}, hb+2*time.Second); err == nil {
			tr.note("%s: channel to %s closed (%s)", Initiator, Acceptor, e.Reason)
		} else {
			tr.note("%s: channel to %s not closed: %v", Initiator, Acceptor, err)
		}
	}
	tr.awaitDelivery(ctx)
	if err := tr.heal(ctx); err != nil {
		return first, "", fmt.Errorf("%w: %w", errTrial, err)
	}
	tr.note("direct path healed")
	healed := time.Now()
	again, err = tr.connect(ctx, alice, bob)
	if err != nil {
		return first, again, err
	}
	tr.t.Recovery, tr.t.RecoveryTime = again, time.Since(healed)
	if err := tr.chat(ctx, "after recovery"); err != nil {
		return first, again, err
	}
	return first, again, nil
}

// connect asks the initiator for a channel (POST /v1/connect) and reads
// what it got: the channel's method, or the relay when there is none.
func (tr *trial) connect(ctx context.Context, alice, bob *sim.Client) (matrixreport.Path, error) {
	cctx, cancel := context.WithTimeout(ctx, connectBound)
	defer cancel()
	at := time.Now()
	var ch api.Channel
	var err error
	// 404 until the initiator's ResP2pInfo (or UserStateNotify) named the
	// acceptor: the server has it online, the initiator does not know yet.
	_ = sim.Poll(cctx, 20*time.Millisecond, func() (bool, error) {
		ch, err = alice.Connect(cctx, Acceptor)
		var se *api.StatusError
		return !errors.As(err, &se) || se.Status != 404, nil
	})
	if err != nil {
		tr.note("connect: %v", err)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
	}
	if ch.Transport == "" || ch.Transport == "none" {
		// Another ladder may still be running (the one the newcomer owes,
		// 6.2): the reference client's connect can give up on seeing it
		// ("the peer's crossing dial won") before it made the channel. The
		// channel table says what came of it once no attempt has been
		// running (a try without its try_failed) for a while.
		quiet := time.Now()
		_ = sim.Poll(cctx, 20*time.Millisecond, func() (bool, error) {
			c, err := alice.API().Channel(cctx, Acceptor)
			if err == nil && c.Transport != "" && c.Transport != "none" {
				ch = c
				return true, nil
			}
			if tr.running(alice) {
				quiet = time.Now()
			}
			return time.Since(quiet) > quietBound, nil
		})
	}
	if ch.Transport == "" || ch.Transport == "none" {
		tr.note("connect: no channel after %s: relay", time.Since(at).Round(time.Millisecond))
		return matrixreport.PathRelay, nil
	}
	m := ch.Method
	if m == "" {
		m = string(matrixreport.PathDirect) // a v1 client's channel (docs/control-api.md)
	}
	tr.note("connect: %s channel over %s (%s <-> %s) after %s", m, ch.Transport, ch.Local, ch.Remote, time.Since(at).Round(time.Millisecond))
	// The acceptor must hold the same channel.
	err = sim.Poll(cctx, 20*time.Millisecond, func() (bool, error) {
		c, err := bob.API().Channel(cctx, Initiator)
		return err == nil && c.Transport != "" && c.Transport != "none", nil
	})
	if err != nil {
		tr.note("%s holds no channel to %s: %v", Acceptor, Initiator, err)
	}
	return matrixreport.Path(m), nil
}

// running reports whether c's ladder is under way: its newest try or
// try_failed event since the trial's mark is a try, and no channel opened
// since. (Not a count of tries against try_faileds: the reference client
// can leave a try without its end: docs/matrix.md, "What the real runs
// showed".)
func (tr *trial) running(c *sim.Client) bool {
	last := ""
	for _, e := range c.Events(tr.mark) {
		switch e.Type {
		case api.EventTry, api.EventTryFailed:
			last = e.Type
		case api.EventChannelOpened:
			last = ""
		}
	}
	return last == api.EventTry
}

// find returns the first event of c since the trial's mark like want (its
// non-empty Type and Peer).
func (tr *trial) find(c *sim.Client, want api.Event) (api.Event, bool) {
	for _, e := range c.Events(tr.mark) {
		if e.Type == want.Type && (want.Peer == "" || e.Peer == want.Peer) {
			return e, true
		}
	}
	return api.Event{}, false
}

// attempts reads the initiator's try, try_failed and channel_opened events
// up to its first channel (docs/protocol.md 9.9; a v1 client has only the
// channel).
func (tr *trial) attempts(alice, bob *sim.Client) []matrixreport.Attempt {
	var out []matrixreport.Attempt
	open := map[string]int{}
	for _, e := range alice.Events(tr.mark) {
		if e.Peer != Acceptor {
			continue
		}
		switch e.Type {
		case api.EventTry:
			open[e.Method] = len(out)
			out = append(out, matrixreport.Attempt{Method: matrixreport.Path(e.Method), Result: "running", Duration: -time.Duration(e.Time.UnixNano())})
		case api.EventTryFailed:
			if i, ok := open[e.Method]; ok {
				out[i].Result = e.Reason
				out[i].Duration += time.Duration(e.Time.UnixNano())
				delete(open, e.Method)
			}
		case api.EventChannelOpened:
			m := e.Method
			if m == "" {
				m = string(matrixreport.PathDirect)
			}
			if i, ok := open[m]; ok {
				out[i].Result, out[i].Won = "ok", true
				out[i].Duration += time.Duration(e.Time.UnixNano())
				delete(open, m)
			} else {
				out = append(out, matrixreport.Attempt{Method: matrixreport.Path(m), Result: "ok", Won: true})
			}
			for m, i := range open { // still running when the channel came
				out[i].Result = "overtaken"
				out[i].Duration += time.Duration(e.Time.UnixNano())
				delete(open, m)
			}
			return out
		}
	}
	for _, i := range open {
		out[i].Result, out[i].Duration = "unfinished", 0
	}
	return out
}

// chat sends one message each way and waits until both arrived.
func (tr *trial) chat(ctx context.Context, when string) error {
	tr.send(ctx, when)
	tr.awaitDelivery(ctx)
	return nil
}

func (tr *trial) send(ctx context.Context, when string) {
	for _, m := range []message{{Initiator, Acceptor, ""}, {Acceptor, Initiator, ""}} {
		m.content = fmt.Sprintf("trial %d %s: %s to %s #%d", tr.t.Index, when, m.from, m.to, len(tr.sent)+1)
		res, err := tr.lab.Client(m.from).Chat(ctx, m.to, m.content)
		tr.sent = append(tr.sent, m)
		if err != nil {
			tr.note("%s: chat to %s refused: %v", m.from, m.to, err)
			continue
		}
		tr.note("%s: sent %q via %s", m.from, m.content, res.Via)
	}
}

// awaitDelivery waits (bounded) until every message sent so far arrived.
func (tr *trial) awaitDelivery(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, deliverBound+tr.cfg.Heartbeat*time.Duration(tr.cfg.Misses+2))
	defer cancel()
	err := sim.Poll(wctx, 20*time.Millisecond, func() (bool, error) { return tr.delivered() == len(tr.sent), nil })
	if err != nil {
		tr.note("%d of %d messages delivered by the deadline", tr.delivered(), len(tr.sent))
		return
	}
	tr.note("all %d messages delivered", len(tr.sent))
}

// delivered counts the messages sent whose content the receiver reported
// received (chat_received, each once).
func (tr *trial) delivered() int {
	n := 0
	for _, m := range tr.sent {
		for _, e := range tr.lab.Client(m.to).Events(tr.mark) {
			if e.Type == api.EventChatReceived && e.From == m.from && e.Content == m.content {
				n++
				break
			}
		}
	}
	return n
}

// cutDirect drops what each client receives from the other's WAN edge
// (its NAT's outside address, or the other client without NAT); for one
// NAT, from the other client and from the NAT (hairpinned packets carry
// its address). The server's packets keep the server's address: the relay
// stays up.
func (tr *trial) cutDirect(ctx context.Context) error {
	lab := tr.lab.Net()
	type drop struct{ at, from string }
	var drops []drop
	if tr.pair.Row.SameNAT {
		drops = []drop{{Initiator, Acceptor}, {Acceptor, Initiator}, {Initiator, "nat1"}, {Acceptor, "nat1"}}
	} else {
		drops = []drop{{Initiator, tr.pair.edge(Acceptor)}, {Acceptor, tr.pair.edge(Initiator)}}
	}
	for _, d := range drops {
		u, err := lab.Host(d.at).Partition(ctx, lab.Host(d.from), true)
		if err != nil {
			return fmt.Errorf("cut %s from %s: %w", d.at, d.from, err)
		}
		tr.cuts = append(tr.cuts, u)
	}
	tr.note("direct path cut")
	return nil
}

// heal undoes the cut.
func (tr *trial) heal(ctx context.Context) error {
	var errs []error
	for _, u := range tr.cuts {
		errs = append(errs, u(ctx))
	}
	tr.cuts = nil
	return errors.Join(errs...)
}

// finish saves the clients' logs and events in the trial's folder, stops
// both clients and undoes the trial's faults, on every path out of steps.
func (tr *trial) finish(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	rel := filepath.Join(pairDir(tr.pair), fmt.Sprintf("trial-%02d", tr.t.Index))
	dir := filepath.Join(tr.cfg.Artifacts, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tr.note("artifacts: %v", err)
	}
	for _, user := range []string{Initiator, Acceptor} {
		c := tr.lab.Client(user)
		if !c.Running() {
			continue
		}
		if text, err := c.LogText(ctx); err == nil {
			name := user + "-p2pinfo.log"
			if os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644) == nil {
				tr.t.Artifacts = append(tr.t.Artifacts, matrixreport.Artifact{Name: user + " P2PInfo log", Path: filepath.ToSlash(filepath.Join(rel, name))})
			}
		}
		if b, err := json.MarshalIndent(c.Events(tr.mark), "", "  "); err == nil {
			name := user + "-events.json"
			if os.WriteFile(filepath.Join(dir, name), b, 0o644) == nil {
				tr.t.Artifacts = append(tr.t.Artifacts, matrixreport.Artifact{Name: user + " events", Path: filepath.ToSlash(filepath.Join(rel, name))})
			}
		}
		if err := c.Stop(ctx); err != nil {
			tr.note("stop %s: %v", user, err)
		}
	}
	if err := tr.heal(ctx); err != nil {
		tr.note("heal: %v", err)
	}
	for i := len(tr.undos) - 1; i >= 0; i-- {
		if err := tr.undos[i](ctx); err != nil {
			tr.note("unblock: %v", err)
		}
	}
	tr.undos = nil
}

// judge sets the trial's verdict: a path outside the oracle's set (first
// connection or recovery) or a lost message fails it, unless the programs
// do not advertise what every expected P2P path needs (unsupported).
func (tr *trial) judge(first, again matrixreport.Path, err error) {
	t := tr.t
	if err != nil {
		t.Verdict, t.Reason = matrixreport.Error, err.Error()
		return
	}
	var bad []string
	if !tr.exp.Has(first) {
		bad = append(bad, fmt.Sprintf("got %s, expected %s", first, pathsText(tr.exp.Paths)))
	}
	if rec := Recovery(tr.pair.Situation(tr.cfg.Delay), first); !rec.Has(again) {
		bad = append(bad, fmt.Sprintf("recovery got %s, expected %s", again, pathsText(rec.Paths)))
	}
	lost := t.Sent - t.Delivered
	switch {
	case lost > 0:
		t.Verdict, t.Reason = matrixreport.Fail, strings.Join(append([]string{fmt.Sprintf("%d of %d messages lost", lost, t.Sent)}, bad...), "; ")
	case len(bad) > 0 && !tr.supported():
		t.Verdict, t.Reason = matrixreport.Unsupported, strings.Join(bad, "; ")+" (not advertised: "+tr.missing()+")"
	case len(bad) > 0:
		t.Verdict, t.Reason = matrixreport.Fail, strings.Join(bad, "; ")
	default:
		t.Verdict, t.Reason = matrixreport.Pass, fmt.Sprintf("%s, recovery %s, %d/%d delivered", first, again, t.Delivered, t.Sent)
	}
}

// supported: the programs advertise what one of the expected P2P paths
// needs.
func (tr *trial) supported() bool {
	if tr.ad == nil || !tr.exp.DirectPossible() {
		return true
	}
	for _, p := range tr.exp.Paths {
		if p != matrixreport.PathRelay && tr.ad.canDo(string(p)) {
			return true
		}
	}
	return false
}

func (tr *trial) missing() string {
	var out []string
	for _, p := range tr.exp.Paths {
		if p != matrixreport.PathRelay && !tr.ad.canDo(string(p)) {
			out = append(out, string(p))
		}
	}
	return "what " + strings.Join(out, ", ") + " needs"
}

func pathsText(ps []matrixreport.Path) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return "{" + strings.Join(s, ", ") + "}"
}
