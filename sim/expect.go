package sim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/protocol"
)

// ExpectError is a failed expectation: what was expected, what was seen,
// where the artifacts are, and the last lines of the relevant logs.
type ExpectError struct {
	What      string
	Expected  string
	Seen      string
	Artifacts string
	Logs      string
	// Err is the cause, if it is one callers match (ErrDeadline, ErrNoEvent).
	Err error
}

// Unwrap returns the cause.
func (e *ExpectError) Unwrap() error { return e.Err }

// GomegaString lets Gomega print the message instead of the struct.
func (e *ExpectError) GomegaString() string { return e.Error() }

func (e *ExpectError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n  expected: %s\n  seen:     %s\n  artifacts: %s", e.What, e.Expected, e.Seen, e.Artifacts)
	if e.Logs != "" {
		b.WriteString("\n" + e.Logs)
	}
	return b.String()
}

// fail builds an ExpectError with the last log lines of the given users
// (and the server's output).
func (l *Lab) fail(what, expected, seen string, users ...string) error {
	return l.failErr(nil, what, expected, seen, users...)
}

// failErr is fail with a cause callers can match with errors.Is.
func (l *Lab) failErr(cause error, what, expected, seen string, users ...string) error {
	ctx, cancel := context.WithTimeout(l.ctx, 5*time.Second)
	defer cancel()
	var b strings.Builder
	seenU := map[string]bool{}
	for _, u := range users {
		c := l.Client(u)
		if c == nil || seenU[u] {
			continue
		}
		seenU[u] = true
		if text, err := c.LogText(ctx); err == nil && strings.TrimSpace(text) != "" {
			fmt.Fprintf(&b, "--- last lines of %s's P2PInfo log:\n%s\n", u, indent(tailText(text, 8)))
		}
		if t := tailFile(filepath.Join(l.artifacts, u, "stderr.log"), 5); t != "" {
			fmt.Fprintf(&b, "--- last lines of %s's stderr:\n%s\n", u, indent(t))
		}
	}
	if t := tailFile(filepath.Join(l.artifacts, "server", "stderr.log"), 5); t != "" {
		fmt.Fprintf(&b, "--- last lines of the server's stderr:\n%s\n", indent(t))
	}
	l.tl.add(TimelineEntry{Kind: "expect", Detail: "FAILED " + what + ": expected " + expected + "; seen " + seen})
	return &ExpectError{What: what, Expected: expected, Seen: seen, Artifacts: l.artifacts, Logs: strings.TrimRight(b.String(), "\n"), Err: cause}
}

// ---- channels ----

// ChannelsState reads every running client's channel table.
func (l *Lab) ChannelsState(ctx context.Context) (map[string][]api.Channel, error) {
	out := map[string][]api.Channel{}
	for _, c := range l.Clients() {
		if !c.Running() {
			continue
		}
		chs, err := c.Channels(ctx)
		if err != nil {
			return nil, fmt.Errorf("sim: channels of %s: %w", c.user, err)
		}
		out[c.user] = chs
	}
	return out, nil
}

// sameView reports whether hosts a and b see each other's addresses as
// they are: they share a LAN, or neither sits on the inside of a NAT router
// (docs/netlab.md "NAT routers").
func (l *Lab) sameView(a, b string) bool {
	t := l.opts.Topology
	lans := func(h string) []string {
		for _, hs := range t.Hosts {
			if hs.Name == h {
				var out []string
				for _, n := range hs.NICs {
					out = append(out, n.LAN)
				}
				return out
			}
		}
		return nil
	}
	inside := map[string]bool{}
	for _, hs := range t.Hosts {
		if hs.NAT == nil {
			continue
		}
		for _, n := range hs.NICs {
			if n.LAN != hs.NAT.Outside {
				inside[n.LAN] = true
			}
		}
	}
	la, lb := lans(a), lans(b)
	natted := false
	for _, x := range la {
		if slices.Contains(lb, x) {
			return true
		}
		natted = natted || inside[x]
	}
	for _, x := range lb {
		natted = natted || inside[x]
	}
	return !natted
}

func (l *Lab) running() []string {
	var out []string
	for _, c := range l.Clients() {
		if c.Running() {
			out = append(out, c.user)
		}
	}
	return out
}

// checkChannels returns "" when the tables satisfy x, else what is wrong.
// sameView(a, b) says whether a and b see each other's endpoints as they
// are (no NAT between them): only then must one end's local endpoint be the
// other's remote one. nil: always.
func checkChannels(state map[string][]api.Channel, x ChannelsExpect, runningUsers []string, sameView func(a, b string) bool) string {
	find := func(a, b string) (api.Channel, bool) {
		for _, ch := range state[a] {
			if ch.Peer == b {
				return ch, true
			}
		}
		return api.Channel{}, false
	}
	var problems []string
	want := map[[2]string]bool{}
	pair := func(a, b string) {
		if a > b {
			a, b = b, a
		}
		want[[2]string{a, b}] = true
		ca, okA := find(a, b)
		cb, okB := find(b, a)
		switch {
		case !okA && !okB:
			problems = append(problems, fmt.Sprintf("%s-%s: no channel at either end", a, b))
		case !okA:
			problems = append(problems, fmt.Sprintf("%s-%s: only %s has it", a, b, b))
		case !okB:
			problems = append(problems, fmt.Sprintf("%s-%s: only %s has it", a, b, a))
		case (sameView == nil || sameView(a, b)) && (ca.Local != cb.Remote || ca.Remote != cb.Local):
			problems = append(problems, fmt.Sprintf("%s-%s: ends disagree (%s sees %s->%s, %s sees %s->%s)", a, b, a, ca.Local, ca.Remote, b, cb.Local, cb.Remote))
		case ca.Initiator != cb.Initiator:
			problems = append(problems, fmt.Sprintf("%s-%s: ends disagree on the initiator (%q vs %q)", a, b, ca.Initiator, cb.Initiator))
		case ca.Transport != cb.Transport:
			problems = append(problems, fmt.Sprintf("%s-%s: ends disagree on the transport (%q vs %q)", a, b, ca.Transport, cb.Transport))
		case x.Transport != "" && ca.Transport != x.Transport:
			problems = append(problems, fmt.Sprintf("%s-%s: transport %q, want %q", a, b, ca.Transport, x.Transport))
		case x.Method != "" && ca.Method != x.Method && cb.Method != x.Method:
			problems = append(problems, fmt.Sprintf("%s-%s: made by %q / %q, want %q", a, b, ca.Method, cb.Method, x.Method))
		}
	}
	mesh := x.Mesh
	if len(mesh) == 1 && mesh[0] == "all" {
		mesh = runningUsers
	}
	for i := range mesh {
		for j := i + 1; j < len(mesh); j++ {
			pair(mesh[i], mesh[j])
		}
	}
	for _, p := range x.Pairs {
		pair(p[0], p[1])
	}
	for _, p := range x.Absent {
		if _, ok := find(p[0], p[1]); ok {
			problems = append(problems, fmt.Sprintf("%s has a channel to %s", p[0], p[1]))
		}
		if _, ok := find(p[1], p[0]); ok {
			problems = append(problems, fmt.Sprintf("%s has a channel to %s", p[1], p[0]))
		}
	}
	if x.Exact {
		for a, chs := range state {
			for _, ch := range chs {
				k := [2]string{a, ch.Peer}
				if k[0] > k[1] {
					k[0], k[1] = k[1], k[0]
				}
				if !want[k] {
					problems = append(problems, fmt.Sprintf("unexpected channel %s->%s", a, ch.Peer))
				}
			}
		}
	}
	sort.Strings(problems)
	return strings.Join(problems, "; ")
}

func describeChannels(state map[string][]api.Channel) string {
	users := make([]string, 0, len(state))
	for u := range state {
		users = append(users, u)
	}
	sort.Strings(users)
	var parts []string
	n := 0
	for _, u := range users {
		var peers []string
		for _, ch := range state[u] {
			peers = append(peers, ch.Peer)
			n++
		}
		sort.Strings(peers)
		parts = append(parts, fmt.Sprintf("%s:[%s]", u, strings.Join(peers, ",")))
	}
	return fmt.Sprintf("%d channel ends: %s", n, strings.Join(parts, " "))
}

// WaitChannels polls the channel tables until they satisfy x, by within
// after since (a zero Mark: after now). The tables have no timestamps: a
// call made after that deadline fails with ErrDeadline.
func (l *Lab) WaitChannels(ctx context.Context, x ChannelsExpect, since Mark, within time.Duration) error {
	w := windowOf(since, within)
	var last string
	var state map[string][]api.Channel
	err := pollState(ctx, w, func(ctx context.Context) error {
		var err error
		state, err = l.ChannelsState(ctx)
		if err != nil {
			last = err.Error()
			return err
		}
		if last = checkChannels(state, x, l.running(), l.sameView); last != "" {
			return errors.New(last)
		}
		return nil
	})
	if err == nil {
		return nil
	}
	var want []string
	if len(x.Mesh) > 0 {
		want = append(want, "full mesh among "+strings.Join(x.Mesh, ","))
	}
	for _, p := range x.Pairs {
		want = append(want, "channel "+p[0]+"-"+p[1])
	}
	for _, p := range x.Absent {
		want = append(want, "no channel "+p[0]+"-"+p[1])
	}
	if x.Exact {
		want = append(want, "and no others")
	}
	seen := err.Error()
	if state != nil {
		seen += "\n            tables: " + describeChannels(state)
	}
	return l.failErr(ErrDeadline, "channels "+w.String(), strings.Join(want, "; ")+" (both ends agreeing)", seen, l.running()...)
}

// ---- chat and its path ----

// Sent is a chat message the lab sent, with what it needs to check its path.
type Sent struct {
	From, To, Content string
	Response          api.ChatResponse
	Time              time.Time
	mark              Mark
	stats             *api.Stats // before the send, nil if the server was down
}

// Chat sends a chat message from one client to another, snapshotting the
// server's counters first so its path can be checked.
func (l *Lab) Chat(ctx context.Context, from, to, content string) (Sent, error) {
	c := l.Client(from)
	if c == nil {
		return Sent{}, fmt.Errorf("sim: no client %q", from)
	}
	s := Sent{From: from, To: to, Content: content}
	if l.server.Running() {
		if st, err := l.server.Stats(ctx); err == nil {
			s.stats = &st
		}
	}
	s.mark = l.Mark()
	s.mark.name = "the send"
	s.Time = s.mark.Time
	r, err := c.Chat(ctx, to, content)
	s.Response = r
	l.tl.add(TimelineEntry{Kind: "note", Host: from, Detail: fmt.Sprintf("chat to %s: messageID=%q via=%q err=%v", to, r.MessageID, r.Via, err)})
	return s, err
}

// Received waits until the receiver reports the message (chat_received)
// within `within` of the send, by the event's own time, and returns that
// event.
func (l *Lab) Received(ctx context.Context, s Sent, within time.Duration) (api.Event, error) {
	return l.received(ctx, s, windowOf(s.mark, within))
}

func (l *Lab) received(ctx context.Context, s Sent, w window) (api.Event, error) {
	rc := l.Client(s.To)
	m := Match{Type: api.EventChatReceived, From: s.From, MessageID: s.Response.MessageID}
	if s.Response.MessageID == "" {
		m.MessageID, m.Content = "", s.Content
	}
	e, err := rc.waitEvent(ctx, s.mark, m, w)
	if err != nil {
		return e, l.failErr(ErrDeadline, fmt.Sprintf("chat %s->%s %q received", s.From, s.To, s.Content), "chat_received at "+s.To+" "+w.String(), err.Error(), s.From, s.To)
	}
	return e, nil
}

// CheckPath proves the path of a sent message three ways at once: the
// receiver's chat_received via, the sender's P2PInfo log (a "send messages
// through p2p channel" line for p2p, a "server Forwarding Message" line for
// relay, and not the other), and the server's counters (the sender's
// uploads and the receiver's downloads grow for relay, stay for p2p). If the
// server is not running, the counters are not checked; the note says so.
// Within counts from the send, by the receiver's event time.
func (l *Lab) CheckPath(ctx context.Context, s Sent, via string, within time.Duration) (note string, err error) {
	return l.checkPath(ctx, s, via, windowOf(s.mark, within))
}

// checkPath is CheckPath with the receipt due in w. The log line and the
// counters corroborate a receipt already judged in time: they are read for
// up to readGrace after it (a relayed message is counted and logged before
// it is forwarded).
func (l *Lab) checkPath(ctx context.Context, s Sent, via string, w window) (note string, err error) {
	what := fmt.Sprintf("path of %s->%s %q (messageID %s)", s.From, s.To, s.Content, s.Response.MessageID)
	if s.Response.Via != via {
		return "", l.fail(what, "the send answered via="+via, "via="+s.Response.Via, s.From, s.To)
	}
	e, err := l.received(ctx, s, w)
	if err != nil {
		return "", err
	}
	if e.Via != via {
		return "", l.fail(what, "receiver's chat_received via="+via, fmtEvent(e), s.From, s.To)
	}
	// Wait for the ack so the counters have settled (best effort: a client
	// without chat_acked events is not held against it here).
	l.Client(s.From).waitEvent(ctx, s.mark, Match{Type: api.EventChatAcked, MessageID: s.Response.MessageID}, w)

	// The sender's log.
	wantKind, otherKind := protocol.LogSendP2P, protocol.LogForwarding
	if via == api.ViaRelay {
		wantKind, otherKind = otherKind, wantKind
	}
	cctx, cancel := context.WithTimeout(ctx, readGrace)
	defer cancel()
	var counts map[string]int
	lerr := pollCtx(cctx, pollInterval, func(ctx context.Context) error {
		es, err := l.Client(s.From).Log(ctx)
		if err != nil {
			return err
		}
		counts = map[string]int{}
		for _, le := range es {
			if !le.Time.Before(s.Time.Add(-time.Millisecond)) {
				counts[le.Kind]++
			}
		}
		if counts[wantKind] == 0 {
			return errors.New("no line yet")
		}
		return nil
	})
	if lerr != nil || counts[otherKind] > 0 {
		return "", l.fail(what, fmt.Sprintf("%s's P2PInfo log has %q after the send and no %q", s.From, phraseOf(wantKind, s.From), phraseOf(otherKind, s.From)),
			fmt.Sprintf("%d %q and %d %q lines (%v)", counts[wantKind], phraseOf(wantKind, s.From), counts[otherKind], phraseOf(otherKind, s.From), lerr), s.From, s.To)
	}

	// The server's counters.
	if s.stats == nil || !l.server.Running() {
		return "server down: counters not checked", nil
	}
	var up, down int64
	serr := pollCtx(cctx, pollInterval, func(ctx context.Context) error {
		st, err := l.server.Stats(ctx)
		if err != nil {
			return err
		}
		b1, _ := s.stats.User(s.From)
		b2, _ := s.stats.User(s.To)
		a1, _ := st.User(s.From)
		a2, _ := st.User(s.To)
		up, down = a1.Uploads-b1.Uploads, a2.Downloads-b2.Downloads
		if via == api.ViaRelay && (up < 1 || down < 1) {
			return errors.New("not yet")
		}
		return nil
	})
	if via == api.ViaRelay && serr != nil {
		return "", l.fail(what, fmt.Sprintf("server counters: %s uploads +>=1 and %s downloads +>=1", s.From, s.To), fmt.Sprintf("uploads +%d, downloads +%d (%v)", up, down, serr), s.From, s.To)
	}
	if via == api.ViaP2P && (up != 0 || down != 0) {
		return "", l.fail(what, fmt.Sprintf("server counters unchanged for %s uploads and %s downloads", s.From, s.To), fmt.Sprintf("uploads +%d, downloads +%d", up, down), s.From, s.To)
	}
	return "", nil
}

func phraseOf(kind, me string) string {
	return protocol.LogEntry{Kind: kind, Me: me}.Phrase()
}

// Delivered checks that the receiver got the message exactly count times:
// count deliveries within `within` of the send (by the events' own times),
// and no more while it watches during from now.
func (l *Lab) Delivered(ctx context.Context, s Sent, count int, within, during time.Duration) error {
	return l.delivered(ctx, s, count, windowOf(s.mark, within), during)
}

func (l *Lab) delivered(ctx context.Context, s Sent, count int, w window, during time.Duration) error {
	rc := l.Client(s.To)
	what := fmt.Sprintf("delivery of %s->%s %q (messageID %s)", s.From, s.To, s.Content, s.Response.MessageID)
	deliveries := func() []api.Event {
		var out []api.Event
		for _, e := range rc.Events(Mark{}) {
			if e.Type == api.EventChatReceived && e.From == s.From && e.MessageID == s.Response.MessageID {
				out = append(out, e)
			}
		}
		return out
	}
	end := w.deadline().Add(readGrace)
	if min := time.Now().Add(readGrace / 5); end.Before(min) {
		end = min
	}
	wctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	for {
		ch := rc.wait()
		ds := deliveries()
		if len(ds) >= count {
			if count > 0 && ds[count-1].Time.After(w.deadline()) {
				return l.failErr(ErrDeadline, what, fmt.Sprintf("%d chat_received at %s %s", count, s.To, w),
					fmt.Sprintf("delivery %d came at %s, after the deadline: %s", count, w.since(ds[count-1].Time), fmtEvent(ds[count-1])), s.From, s.To)
			}
			break
		}
		select {
		case <-ch:
		case <-wctx.Done():
			return l.failErr(ErrDeadline, what, fmt.Sprintf("%d chat_received at %s %s", count, s.To, w), fmt.Sprintf("%d", len(ds)), s.From, s.To)
		}
	}
	dctx, dcancel := context.WithTimeout(ctx, during)
	defer dcancel()
	for {
		ch := rc.wait()
		if k := len(deliveries()); k != count {
			return l.fail(what, fmt.Sprintf("exactly %d chat_received at %s", count, s.To), fmt.Sprintf("%d (duplicates)", k), s.From, s.To)
		}
		select {
		case <-ch:
		case <-dctx.Done():
			return nil
		}
	}
}

// ---- files ----

// SentFile is a file the lab made and sent.
type SentFile struct {
	From, To string
	Path     string // lab path of the sent file
	Size     int64
	SHA256   string
	Response api.FileResponse
	mark     Mark
}

// SendFile makes a file of size random bytes in the sender's host directory
// and sends it.
func (l *Lab) SendFile(ctx context.Context, from, to string, size int64) (SentFile, error) {
	c := l.Client(from)
	if c == nil {
		return SentFile{}, fmt.Errorf("sim: no client %q", from)
	}
	dir := filepath.Join(c.host.Dir(), "outgoing")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return SentFile{}, fmt.Errorf("sim: file: %w", err)
	}
	f, err := os.CreateTemp(dir, "file-*.bin")
	if err != nil {
		return SentFile{}, fmt.Errorf("sim: file: %w", err)
	}
	h := sha256.New()
	_, err = io.CopyN(io.MultiWriter(f, h), rand.Reader, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return SentFile{}, fmt.Errorf("sim: file: %w", err)
	}
	sf := SentFile{From: from, To: to, Path: f.Name(), Size: size, SHA256: hex.EncodeToString(h.Sum(nil)), mark: l.Mark()}
	sf.mark.name = "the send"
	sf.Response, err = c.SendFile(ctx, to, f.Name())
	l.tl.add(TimelineEntry{Kind: "note", Host: from, Detail: fmt.Sprintf("file to %s: %d bytes sha256 %s transferID=%q via=%q err=%v", to, size, sf.SHA256, sf.Response.TransferID, sf.Response.Via, err)})
	return sf, err
}

// CheckFile waits for the receiver's file_received, within `within` of the
// send by the event's own time, and checks its size, sha256, path taken (if
// via is set) and the stored file's own sha256.
func (l *Lab) CheckFile(ctx context.Context, sf SentFile, via string, within time.Duration) error {
	return l.checkFile(ctx, sf, via, windowOf(sf.mark, within))
}

func (l *Lab) checkFile(ctx context.Context, sf SentFile, via string, w window) error {
	what := fmt.Sprintf("file %s->%s (%d bytes, sha256 %s)", sf.From, sf.To, sf.Size, sf.SHA256)
	e, err := l.Client(sf.To).waitEvent(ctx, sf.mark, Match{Type: api.EventFileReceived, From: sf.From, TransferID: sf.Response.TransferID}, w)
	if err != nil {
		return l.failErr(ErrDeadline, what, "file_received at "+sf.To+" "+w.String(), err.Error(), sf.From, sf.To)
	}
	if e.SHA256 != sf.SHA256 || e.Size != sf.Size {
		return l.fail(what, fmt.Sprintf("size %d sha256 %s", sf.Size, sf.SHA256), fmtEvent(e), sf.From, sf.To)
	}
	if via != "" && (e.Via != via || sf.Response.Via != via) {
		return l.fail(what, "via "+via+" (send answer and file_received)", fmt.Sprintf("send answered via=%s; %s", sf.Response.Via, fmtEvent(e)), sf.From, sf.To)
	}
	if e.Path != "" {
		p := l.outside(sf.To, e.Path)
		got, err := fileSHA(p)
		if err != nil || got != sf.SHA256 {
			return l.fail(what, "the stored file "+p+" has sha256 "+sf.SHA256, fmt.Sprintf("%s (%v)", got, err), sf.From, sf.To)
		}
	}
	return nil
}

// outside maps a path a host's program reported to the lab's view.
func (l *Lab) outside(host, inside string) string {
	out, in := l.nl.Backend().Mount(host)
	if rest, ok := strings.CutPrefix(inside, in); ok {
		return filepath.Join(out, rest)
	}
	return inside
}

func fileSHA(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ---- logs ----

// Endpoints returns every client's listen endpoint, for log phrases.
func (l *Lab) Endpoints() map[string]netip.AddrPort {
	out := map[string]netip.AddrPort{}
	for _, c := range l.Clients() {
		if ap := c.Listen(); ap.IsValid() {
			out[c.user] = ap
		}
	}
	return out
}

// WaitLog checks user's P2PInfo log: the phrases of x.Lines in order
// (lines since the mark when x.Since is "last"), the last of them logged
// by within after since by the lines' own timestamps, and none of
// x.Absent. Every line must parse as a phrase of docs/protocol.md (P2PInfo
// log). The log is read until the deadline plus a grace, so a line logged in
// time and read late still counts.
func (l *Lab) WaitLog(ctx context.Context, x LogExpect, since Mark, within time.Duration) error {
	c := l.Client(x.At)
	if c == nil {
		return fmt.Errorf("sim: no client %q", x.At)
	}
	w := windowOf(since, within)
	eps := l.Endpoints()
	compile := func(ps []string) ([]matcher, error) {
		var out []matcher
		for _, p := range ps {
			re, err := phraseMatcher(p, eps)
			if err != nil {
				return nil, fmt.Errorf("sim: log phrase %q: %w", p, err)
			}
			out = append(out, matcher{p, re.MatchString})
		}
		return out, nil
	}
	want, err := compile(x.Lines)
	if err != nil {
		return err
	}
	absent, err := compile(x.Absent)
	if err != nil {
		return err
	}
	var seen string
	check := func(ctx context.Context) error {
		es, err := c.Log(ctx)
		if err != nil {
			seen = err.Error()
			return err
		}
		i := 0
		var last protocol.LogEntry
		for _, e := range es {
			if x.Since == "last" && e.Time.Before(w.from) {
				continue
			}
			p := e.Phrase()
			if i < len(want) && want[i].match(p) {
				i++
				last = e
			}
			for _, a := range absent {
				if a.match(p) {
					seen = fmt.Sprintf("%q matches %q, which must not appear", p, a.pattern)
					return fmt.Errorf("%w: %s", errVerdict, seen)
				}
			}
		}
		if i < len(want) {
			seen = fmt.Sprintf("no line matching %q after the earlier ones", want[i].pattern)
			return errors.New(seen)
		}
		if len(want) > 0 && last.Time.After(w.deadline()) {
			seen = fmt.Sprintf("the line matching %q was logged at %s, after the deadline: %s", want[len(want)-1].pattern, w.since(last.Time), last.Phrase())
			return fmt.Errorf("%w: %s", errVerdict, seen)
		}
		return nil
	}
	if err := pollRecord(ctx, w, check); err != nil {
		exp := "in order: " + strings.Join(x.Lines, " | ")
		if len(x.Absent) > 0 {
			exp += "; absent: " + strings.Join(x.Absent, " | ")
		}
		return l.failErr(ErrDeadline, fmt.Sprintf("P2PInfo log of %s %s", x.At, w), exp, seen, x.At)
	}
	return nil
}

type matcher struct {
	pattern string
	match   func(string) bool
}

// ---- stats ----

// WaitStats polls the server's admin stats until they satisfy x, by within
// after since (a zero Mark: after now). Stats have no timestamps: a call
// made after that deadline fails with ErrDeadline.
func (l *Lab) WaitStats(ctx context.Context, x StatsExpect, since Mark, within time.Duration) error {
	w := windowOf(since, within)
	var seen string
	err := pollState(ctx, w, func(ctx context.Context) error {
		st, err := l.server.Stats(ctx)
		if err != nil {
			seen = err.Error()
			return err
		}
		var bad []string
		if x.User != "" {
			u, ok := st.User(x.User)
			if !ok {
				seen = "no stats for " + x.User
				return errors.New(seen)
			}
			seen = fmt.Sprintf("%s online=%v uploads=%d downloads=%d", x.User, u.Online, u.Uploads, u.Downloads)
			if x.Online != nil && u.Online != *x.Online {
				bad = append(bad, "online")
			}
			for _, f := range []struct {
				cmp  string
				have int64
			}{{x.Uploads, u.Uploads}, {x.Downloads, u.Downloads}} {
				if f.cmp == "" {
					continue
				}
				op, n, _ := parseCmp(f.cmp)
				if !cmpOK(op, f.have, n) {
					bad = append(bad, f.cmp)
				}
			}
		}
		if x.TotalOnline != "" {
			seen += fmt.Sprintf(" totals.online=%d", st.Totals.Online)
			op, n, _ := parseCmp(x.TotalOnline)
			if !cmpOK(op, int64(st.Totals.Online), n) {
				bad = append(bad, "total_online")
			}
		}
		if len(bad) > 0 {
			return errors.New(strings.Join(bad, ","))
		}
		return nil
	})
	if err != nil {
		var exp []string
		if x.User != "" {
			exp = append(exp, "user "+x.User)
		}
		if x.Online != nil {
			exp = append(exp, fmt.Sprintf("online=%v", *x.Online))
		}
		if x.Uploads != "" {
			exp = append(exp, "uploads "+x.Uploads)
		}
		if x.Downloads != "" {
			exp = append(exp, "downloads "+x.Downloads)
		}
		if x.TotalOnline != "" {
			exp = append(exp, "totals.online "+x.TotalOnline)
		}
		var users []string
		if x.User != "" {
			users = append(users, x.User)
		}
		if seen == "" {
			seen = err.Error()
		} else {
			seen += " (" + err.Error() + ")"
		}
		return l.failErr(ErrDeadline, "server stats "+w.String(), strings.Join(exp, " "), seen, users...)
	}
	return nil
}

// Mark is the point just before the message was sent.
func (s Sent) Mark() Mark { return s.mark }
