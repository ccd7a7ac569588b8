package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/p2plab/p2plab/api"
	"github.com/p2plab/p2plab/netlab"
)

// RunOptions configure Run. The zero value runs on netns with the p2plab
// binary of this process.
type RunOptions struct {
	// Backend, Binary, ServerCommand, ClientCommand, Capture, NewBackend:
	// as in Options.
	Backend                      string
	NewBackend                   func(ctx context.Context) (netlab.Backend, error)
	Binary                       string
	ServerCommand, ClientCommand string
	Capture                      bool
	// Artifacts is the root folder; the scenario's artifacts go to
	// Artifacts/<id> (default: a new temporary directory).
	Artifacts string
	// Keep leaves the lab up when the scenario fails (Result.KeptLab).
	Keep bool
	// Progress gets one line per step (nil: silent).
	Progress io.Writer
}

// Result is the outcome of one scenario run.
type Result struct {
	ID          string        `json:"id"`
	File        string        `json:"file"`
	Requirement string        `json:"requirement"`
	Level       string        `json:"level"`
	Labels      []string      `json:"labels,omitempty"`
	Backend     string        `json:"backend"`
	Passed      bool          `json:"passed"`
	Error       string        `json:"error,omitempty"`
	Start       time.Time     `json:"start"`
	Duration    time.Duration `json:"duration"`
	Artifacts   string        `json:"artifacts"`
	KeptLab     string        `json:"keptLab,omitempty"`
	// TotalSteps is the number of steps in the scenario; Steps holds
	// those that ran.
	TotalSteps int          `json:"totalSteps"`
	Steps      []StepResult `json:"steps"`
	Err        error        `json:"-"`
}

// StepResult is the outcome of one step.
type StepResult struct {
	Index    int           `json:"index"`
	Kind     string        `json:"kind"`
	Text     string        `json:"text"`
	Pos      string        `json:"pos"`
	Passed   bool          `json:"passed"`
	Error    string        `json:"error,omitempty"`
	Note     string        `json:"note,omitempty"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
}

// Run runs one scenario in a fresh lab and always removes the lab (unless
// Keep and it failed). The error of a failed scenario is in Result.Err.
func Run(ctx context.Context, s *Scenario, o RunOptions) *Result {
	r := &Result{ID: s.ID, File: s.File, Requirement: s.Requirement, Level: s.Level, Labels: s.Labels,
		Backend: o.Backend, Start: time.Now(), TotalSteps: len(s.Steps)}
	if r.Backend == "" {
		r.Backend = BackendNetns
	}
	finish := func(err error) *Result {
		r.Duration = time.Since(r.Start)
		r.Err = err
		r.Passed = err == nil
		if err != nil {
			r.Error = err.Error()
		}
		if r.Artifacts != "" {
			writeJSON(filepath.Join(r.Artifacts, "result.json"), r)
		}
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	art := o.Artifacts
	if art == "" {
		art = filepath.Join(tempDir(), "p2plab-artifacts-"+time.Now().Format("20060102-150405"))
	}
	r.Artifacts = filepath.Join(art, s.ID)
	os.RemoveAll(r.Artifacts) // a rerun into the same root starts clean
	lab, err := Start(ctx, Options{
		Backend: o.Backend, NewBackend: o.NewBackend, Topology: s.Topology, Server: s.Server, Clients: s.Clients,
		Heartbeat: s.Heartbeat, Misses: s.Misses, Slack: noneIfZero(s.Slack), Binary: o.Binary, ServerCommand: o.ServerCommand,
		ClientCommand: o.ClientCommand, Artifacts: r.Artifacts, Capture: o.Capture, Manual: true,
	})
	if err != nil {
		return finish(err)
	}
	lab.note("scenario %s (%s): %s", s.ID, s.File, s.Requirement)
	rn := &runner{lab: lab, s: s, o: o, sent: map[string]Sent{}, files: map[string]SentFile{}, mark: lab.Mark()}
	err = rn.steps(ctx, r)
	if err != nil && o.Keep {
		lab.Abandon(context.WithoutCancel(ctx))
		r.KeptLab = lab.ID()
		return finish(err)
	}
	if cerr := lab.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
		err = cerr
	}
	return finish(err)
}

type runner struct {
	lab   *Lab
	s     *Scenario
	o     RunOptions
	sent  map[string]Sent
	files map[string]SentFile
	mark  Mark // the start of the last action step
	// stopped records programs the scenario stopped on purpose.
	serverDown bool
}

func (rn *runner) progress(format string, args ...any) {
	if rn.o.Progress != nil {
		fmt.Fprintf(rn.o.Progress, format+"\n", args...)
	}
}

func (rn *runner) steps(ctx context.Context, r *Result) error {
	for i := range rn.s.Steps {
		st := &rn.s.Steps[i]
		sr := StepResult{Index: i, Kind: st.Kind, Text: describeStep(st), Pos: st.Pos.String(), Start: time.Now()}
		rn.lab.tl.add(TimelineEntry{Kind: "step", Step: i, Detail: sr.Text})
		if st.Kind != StepExpect {
			rn.mark = rn.lab.Mark()
		}
		note, err := rn.step(ctx, st)
		sr.Duration = time.Since(sr.Start)
		sr.Note = note
		sr.Passed = err == nil
		status := "ok"
		if err != nil {
			sr.Error = err.Error()
			status = "FAIL"
		}
		rn.progress("  [%2d] %-4s %-60s %6s %s", i, status, truncate(sr.Text, 60), sr.Duration.Round(time.Millisecond), note)
		r.Steps = append(r.Steps, sr)
		if err != nil {
			return fmt.Errorf("step %d (%s) %s: %w", i, st.Pos, sr.Text, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("scenario timeout %s reached after step %d: %w", rn.s.Timeout, i, ctx.Err())
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func (rn *runner) step(ctx context.Context, st *Step) (string, error) {
	l := rn.lab
	switch st.Kind {
	case StepStart, StepLogin:
		for _, n := range st.Names {
			var err error
			if n == rn.s.Server {
				err = l.server.Start(ctx)
				rn.serverDown = err != nil
			} else if c := l.Client(n); c != nil {
				if st.Kind == StepLogin && c.Running() {
					// A logged-out client logs in again as a new session.
					if err := c.Stop(ctx); err != nil {
						return "", err
					}
				}
				err = c.Start(ctx)
			} else {
				err = fmt.Errorf("%q runs no program", n)
			}
			if err != nil {
				return "", err
			}
		}
	case StepStop, StepKill:
		for _, n := range st.Names {
			var err error
			switch {
			case n == rn.s.Server && st.Kind == StepStop:
				err = l.server.Stop(ctx)
				rn.serverDown = true
			case n == rn.s.Server:
				err = l.server.Kill(ctx)
				rn.serverDown = true
			case l.Client(n) != nil && st.Kind == StepStop:
				err = l.Client(n).Stop(ctx)
			case l.Client(n) != nil:
				err = l.Client(n).Kill(ctx)
			default:
				err = fmt.Errorf("%q runs no program", n)
			}
			if err != nil {
				return "", err
			}
		}
	case StepLogout:
		for _, n := range st.Names {
			if err := l.Client(n).Logout(ctx); err != nil {
				return "", fmt.Errorf("logout %s: %w", n, err)
			}
		}
	case StepFreeze, StepCut:
		for _, n := range st.Names {
			h := l.Host(n)
			var u netlab.Undo
			var err error
			if st.Kind == StepFreeze {
				u, err = h.Freeze(ctx)
			} else {
				u, err = h.Cut(ctx)
			}
			if err != nil {
				return "", fmt.Errorf("%s %s: %w", st.Kind, n, err)
			}
			l.addUndo(st.Kind+"/"+n, u)
		}
	case StepThaw, StepRestore, StepUnblock:
		key := map[string]string{StepThaw: StepFreeze, StepRestore: StepCut, StepUnblock: StepBlock}[st.Kind]
		for _, n := range st.Names {
			ok, err := l.undo(ctx, key+"/"+n)
			if err != nil {
				return "", fmt.Errorf("%s %s: %w", st.Kind, n, err)
			}
			if !ok {
				return "", fmt.Errorf("%s %s: there is no %s in force on %s", st.Kind, n, key, n)
			}
		}
	case StepBlock:
		u, err := l.Host(st.Host).Block(ctx, netlab.Block{First: st.Ports[0], Last: st.Ports[1], Reject: st.Reject})
		if err != nil {
			return "", fmt.Errorf("block %s: %w", st.Host, err)
		}
		l.addUndo(StepBlock+"/"+st.Host, u)
	case StepPartition:
		u, err := l.Host(st.Host).Partition(ctx, l.Host(st.Peer), st.OneWay)
		if err != nil {
			return "", fmt.Errorf("partition %s %s: %w", st.Host, st.Peer, err)
		}
		l.addUndo("partition/"+st.Host+"/"+st.Peer, u)
	case StepHeal:
		ok1, err1 := l.undo(ctx, "partition/"+st.Host+"/"+st.Peer)
		ok2, err2 := l.undo(ctx, "partition/"+st.Peer+"/"+st.Host)
		if err := errors.Join(err1, err2); err != nil {
			return "", fmt.Errorf("heal: %w", err)
		}
		if !ok1 && !ok2 {
			return "", fmt.Errorf("heal: no partition between %s and %s", st.Host, st.Peer)
		}
	case StepLoss:
		if _, err := l.undo(ctx, "loss/"+st.Host); err != nil {
			return "", err
		}
		if st.Percent > 0 {
			u, err := l.Host(st.Host).Loss(ctx, st.Percent)
			if err != nil {
				return "", fmt.Errorf("loss %s: %w", st.Host, err)
			}
			l.addUndo("loss/"+st.Host, u)
		}
	case StepRate:
		if _, err := l.undo(ctx, "rate/"+st.Host); err != nil {
			return "", err
		}
		if st.Rate > 0 {
			u, err := l.Host(st.Host).Rate(ctx, st.Rate)
			if err != nil {
				return "", fmt.Errorf("rate %s: %w", st.Host, err)
			}
			l.addUndo("rate/"+st.Host, u)
		}
	case StepChat:
		c := st.Chat
		s, err := l.Chat(ctx, c.From, c.To, c.Content)
		if c.Refused {
			if err == nil {
				// Refused later: the server answers user_offline and the
				// client reports chat_failed for the message.
				e, werr := l.Client(c.From).WaitEvent(ctx, s.mark, Match{Type: api.EventChatFailed, MessageID: s.Response.MessageID}, c.Within)
				if werr != nil {
					return "", l.fail("chat "+c.From+"->"+c.To, "the send refused (an error answer, or chat_failed within "+c.Within.String()+")",
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
			return l.CheckPath(ctx, s, c.Via, c.Within)
		}
		return "via " + s.Response.Via, nil
	case StepFile:
		f := st.File
		sf, err := l.SendFile(ctx, f.From, f.To, f.Size)
		if err != nil {
			return "", err
		}
		if f.As != "" {
			rn.files[f.As] = sf
		}
		if err := l.CheckFile(ctx, sf, f.Via, f.Within); err != nil {
			return "", err
		}
		return "via " + sf.Response.Via + ", sha256 ok", nil
	case StepConnect:
		ch, err := l.Client(st.Connect.From).Connect(ctx, st.Connect.To)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("channel %s->%s", ch.Local, ch.Remote), nil
	case StepWait:
		t := time.NewTimer(st.Wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	case StepExpect:
		return rn.expect(ctx, st.Expect)
	default:
		return "", fmt.Errorf("unknown step %q", st.Kind)
	}
	return "", nil
}

func (rn *runner) expect(ctx context.Context, x *Expect) (string, error) {
	l := rn.lab
	switch x.Kind {
	case ExpectEvent, ExpectNoEvent:
		em := x.Event
		m := Match{Type: em.Type, Peer: em.Peer, From: em.From, To: em.To, UserID: em.UserID, Via: em.Via, Content: em.Content, Reasons: em.Reasons}
		if em.Message != "" {
			m.MessageID = rn.sent[em.Message].Response.MessageID
		}
		since := rn.mark
		if em.Since == "start" {
			since = Mark{}
			since.Time = time.Time{}
		}
		c := l.Client(em.At)
		if x.Kind == ExpectNoEvent {
			if err := c.NoEvent(ctx, since, m, x.During); err != nil {
				return "", l.fail("no event for "+x.During.String(), "no "+m.String()+" at "+em.At, err.Error(), em.At)
			}
			return "", nil
		}
		if since.Time.IsZero() {
			since.Time = time.Now()
			since.events = map[string]int{}
		}
		e, err := c.WaitEvent(ctx, since, m, x.Within)
		if err != nil {
			return "", l.fail("event within "+x.Within.String()+" of the last action", m.String()+" at "+em.At, err.Error(), em.At, em.Peer, em.From)
		}
		return fmt.Sprintf("after %s: %s", e.Time.Sub(rn.mark.Time).Round(time.Millisecond), fmtEvent(e)), nil
	case ExpectChannels:
		return "", l.WaitChannels(ctx, *x.Channels, x.Within)
	case ExpectPath:
		return l.CheckPath(ctx, rn.sent[x.Path.Message], x.Path.Via, x.Within)
	case ExpectLog:
		return "", l.WaitLog(ctx, *x.Log, rn.mark, x.Within)
	case ExpectStats:
		return "", l.WaitStats(ctx, *x.Stats, x.Within)
	case ExpectDelivered:
		during := x.During
		if during == 0 {
			during = rn.s.Teardown()
		}
		return "", l.Delivered(ctx, rn.sent[x.Delivered.Message], x.Delivered.Count, x.Within, during)
	}
	return "", fmt.Errorf("unknown expectation %q", x.Kind)
}

// describeStep renders a step as one short line.
func describeStep(st *Step) string {
	switch st.Kind {
	case StepBlock:
		ports := "all ports"
		if st.Ports != [2]uint16{} {
			ports = fmt.Sprintf("ports %d-%d", st.Ports[0], st.Ports[1])
		}
		return fmt.Sprintf("block %s inbound %s", st.Host, ports)
	case StepPartition:
		if st.OneWay {
			return fmt.Sprintf("partition %s <- %s (one way)", st.Host, st.Peer)
		}
		return fmt.Sprintf("partition %s | %s", st.Host, st.Peer)
	case StepHeal:
		return fmt.Sprintf("heal %s | %s", st.Host, st.Peer)
	case StepLoss:
		if st.Percent == 0 {
			return "loss " + st.Host + " removed"
		}
		return fmt.Sprintf("loss %s %d%%", st.Host, st.Percent)
	case StepRate:
		if st.Rate == 0 {
			return "rate " + st.Host + " unlimited"
		}
		return fmt.Sprintf("rate %s %d bit/s", st.Host, st.Rate)
	case StepChat:
		c := st.Chat
		s := fmt.Sprintf("chat %s -> %s %q", c.From, c.To, c.Content)
		if c.Via != "" {
			s += " via " + c.Via
		}
		if c.Refused {
			s += " (refused)"
		}
		return s
	case StepFile:
		f := st.File
		s := fmt.Sprintf("file %s -> %s %d bytes", f.From, f.To, f.Size)
		if f.Via != "" {
			s += " via " + f.Via
		}
		return s
	case StepConnect:
		return fmt.Sprintf("connect %s -> %s", st.Connect.From, st.Connect.To)
	case StepWait:
		return "wait " + st.Wait.String()
	case StepExpect:
		return describeExpect(st.Expect)
	}
	return st.Kind + " " + strings.Join(st.Names, ", ")
}

func describeExpect(x *Expect) string {
	if x == nil {
		return "expect"
	}
	switch x.Kind {
	case ExpectEvent:
		return fmt.Sprintf("expect %s at %s within %s", matchOf(x.Event), x.Event.At, x.Within)
	case ExpectNoEvent:
		return fmt.Sprintf("expect no %s at %s during %s", matchOf(x.Event), x.Event.At, x.During)
	case ExpectChannels:
		c := x.Channels
		var parts []string
		if len(c.Mesh) > 0 {
			parts = append(parts, "mesh "+strings.Join(c.Mesh, ","))
		}
		for _, p := range c.Pairs {
			parts = append(parts, p[0]+"-"+p[1])
		}
		for _, p := range c.Absent {
			parts = append(parts, "no "+p[0]+"-"+p[1])
		}
		return "expect channels " + strings.Join(parts, " ")
	case ExpectPath:
		return fmt.Sprintf("expect %s went %s", x.Path.Message, x.Path.Via)
	case ExpectLog:
		return fmt.Sprintf("expect %s's log: %s", x.Log.At, strings.Join(x.Log.Lines, " | "))
	case ExpectStats:
		return fmt.Sprintf("expect stats %s", x.Stats.User)
	case ExpectDelivered:
		return fmt.Sprintf("expect %s delivered %d time(s)", x.Delivered.Message, x.Delivered.Count)
	}
	return "expect " + x.Kind
}

func matchOf(e *EventMatch) string {
	if e == nil {
		return "event"
	}
	m := Match{Type: e.Type, Peer: e.Peer, From: e.From, To: e.To, UserID: e.UserID, Via: e.Via, Content: e.Content, Reasons: e.Reasons}
	return m.String()
}

// noneIfZero maps an explicit zero to Options' "none" (negative).
func noneIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
