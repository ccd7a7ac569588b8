package conform

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// floodCap bounds the chats a slow-consumer check sends, each with
// floodContent bytes of content: 80 MB in all, far more than a bounded
// queue and the socket buffers behind it hold (1,024 frames and at most a
// few MB of kernel buffers per hop in the reference server), far less than
// a memory problem.
const (
	floodCap     = 20000
	floodContent = 4096
	// floodBatch chats go out in one write.
	floodBatch = 256
	// floodTimeout is the least a slow-consumer check is given: the
	// flood it needs (several MB before a queue overflows, more through a
	// proxy) takes seconds on a loaded machine, where the race detector
	// and parallel runs slow the server down ten times and more. It ends
	// on events (the cut, or a refusal), so a conforming or a defective
	// server is decided long before; only a server that neither cuts nor
	// stops reading uses it up.
	floodTimeout = time.Minute
)

// flowRequirements are about connections that stall or stop reading
// (docs/protocol.md 5.9, 5.10): each one is cut, and no other connection
// waits for it.
func flowRequirements() []Requirement {
	return []Requirement{
		{
			ID: "server/5.9/stalled-frame", Level: Must, Section: "5.9",
			Sentence:      "A frame whose bytes stop arriving holds up no other connection, and is cut with Error bad_frame and a close within heartbeat*(misses+1).",
			Outcomes:      []string{"another session gets HeartbeatAck while the half frame sits in the server; the staller gets Error{code:bad_frame} and its connection is closed within heartbeat*(misses+1) of the half frame"},
			usesHeartbeat: true,
			server:        stalledFrame,
		},
		{
			ID: "server/5.10/slow-consumer", Level: Should, Section: "5.10",
			Sentence:      "A connection that stops reading holds up no other connection: once its queue overflows its user goes offline, the frames for it are refused with user_offline, and it gets Error slow_consumer before the close.",
			Outcomes:      []string{"while up to 20,000 chats of 4 KB are sent to a user that never reads, another session keeps getting HeartbeatAck; the others receive UserStateNotify{onLine:false} for it; the sender gets Error user_offline; reading the stalled connection at last ends with Error{code:slow_consumer} and a close"},
			usesHeartbeat: true,
			minTimeout:    floodTimeout,
			server:        slowConsumer,
		},
	}
}

func stalledFrame(ctx context.Context, t *serverT) error {
	if err := t.needHeartbeat(); err != nil {
		return err
	}
	ss, err := t.logins(ctx, "bystander", "staller")
	if err != nil {
		return err
	}
	by, st := ss[0], ss[1]
	by.keepAlive(t.Heartbeat / 3)
	st.silent.Store(true) // nothing more may go out on it: it is mid-frame
	// A whole Heartbeat goes in the same write as the half frame: the
	// staller is live (5.8) up to the moment its frame starts, however long
	// this process was descheduled since its login, so a server that cuts
	// it for silence instead of the stalled frame is wrong, not unlucky.
	half, err := protocol.Marshal(protocol.Frame{Type: protocol.TypeHeartbeat})
	if err != nil {
		return err
	}
	half = binary.BigEndian.AppendUint32(half, 100)
	half = append(half, `{"type":"Heartbeat","id"`...)
	if err := st.sendRaw(half); err != nil {
		return err
	}
	start := time.Now()
	if err := roundTrip(ctx, by, "another session is served while a frame is stalled"); err != nil {
		return err
	}
	limit := t.Heartbeat*time.Duration(t.Misses+1) + slack(t.Heartbeat)
	dctx, cancel := context.WithDeadline(ctx, start.Add(limit))
	defer cancel()
	if _, err := expectError(dctx, st, protocol.CodeBadFrame, 0); err != nil {
		return fmt.Errorf("within %v: %w", limit, err)
	}
	if err := st.expectClosed(dctx, "after the Error for a stalled frame"); err != nil {
		return err
	}
	return roundTrip(ctx, by, "the other session is still served")
}

func slowConsumer(ctx context.Context, t *serverT) error {
	if err := t.needHeartbeat(); err != nil {
		return err
	}
	ss, err := t.logins(ctx, "observer", "sender")
	if err != nil {
		return err
	}
	obs, snd := ss[0], ss[1]
	obs.keepAlive(t.Heartbeat / 3)
	snd.keepAlive(t.Heartbeat / 3)
	sink := t.user("sink")
	conn, err := t.rawConn(ctx, sink, 4096)
	if err != nil {
		return err
	}
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := protocol.WriteFrame(conn, protocol.MustFrame(protocol.TypeLogin, protocol.Login{UserID: sink})); err != nil {
		return fmt.Errorf("conform: sink: login: %w", err)
	}
	if _, err := expectNotify(ctx, obs, sink, true); err != nil {
		return err
	}
	// Keep the sink alive (frames in count) while never reading from it.
	stopBeats := make(chan struct{})
	beatsDone := make(chan struct{})
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { close(stopBeats); <-beatsDone }) }
	defer stop()
	go func() {
		defer close(beatsDone)
		tk := time.NewTicker(t.Heartbeat / 3)
		defer tk.Stop()
		for {
			select {
			case <-tk.C:
				_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
				if protocol.WriteFrame(conn, protocol.Frame{Type: protocol.TypeHeartbeat}) != nil {
					return
				}
			case <-stopBeats:
				return
			}
		}
	}()

	refused := func(f protocol.Frame) bool {
		return f.Type == protocol.TypeError && body[protocol.Error](f).Code == protocol.CodeUserOffline
	}
	offline := isStateNotify(sink, false)
	content := strings.Repeat("x", floodContent)
	sent := 0
	var batch []byte
	for sent < floodCap && !snd.scan(refused) && !obs.scan(offline) {
		batch = batch[:0]
		for i := range floodBatch {
			f, err := protocol.NewFrame(protocol.TypeChatMessage, chat(fmt.Sprintf("%s-%d", t.user("m"), sent+i), t.user("sender"), sink, content))
			if err != nil {
				return err
			}
			b, err := protocol.Marshal(f)
			if err != nil {
				return err
			}
			batch = append(batch, b...)
		}
		if err := snd.sendRaw(batch); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return failf("the server keeps reading the sender while the sink does not read", "a write to the server blocked for 5 s after %d chats", sent)
			}
			// The server cut the sender (a reset or a broken pipe): that is
			// the server acting, judged below by what it sent before.
			break
		}
		sent += floodBatch
		if sent == 2048 {
			if err := roundTrip(ctx, obs, "another session is served while one does not read"); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("conform: slow consumer: after %d chats to a sink that never reads, neither a cut nor a refusal before the check's deadline: %w", sent, ctx.Err())
		}
	}
	// The flood is over, and with it the need to keep the sink alive: a
	// beat arriving after the server's close of the cut sink draws a
	// reset, which would throw away the unread Error slow_consumer on its
	// way (in this process's socket, or a proxy's).
	stop()
	limit := t.Heartbeat*time.Duration(t.Misses+1) + slack(t.Heartbeat)
	// Read the cut sink at once, beside the checks below: a server gives a
	// connection it cut only a grace period to take what is left, Error
	// slow_consumer last (5.10), and the checks of the others can outlast
	// it on a loaded machine or behind a proxy.
	var drainErr error
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		drainErr = drainToSlowConsumer(ctx, conn, limit)
	}()
	defer func() {
		_ = conn.SetReadDeadline(time.Now())
		<-drained
	}()
	dctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if _, err := obs.expect(dctx, fmt.Sprintf("UserStateNotify{%s, onLine:false} after %d chats to it went unread", sink, sent), offline); err != nil {
		return err
	}
	if _, err := snd.expect(dctx, "Error user_offline for a chat to the cut user", refused); err != nil {
		return err
	}
	if err := senderKept(ctx, snd); err != nil {
		return err
	}
	if err := roundTrip(ctx, obs, "the other session is still served"); err != nil {
		return err
	}
	select {
	case <-drained:
		return drainErr
	case <-ctx.Done():
		return fmt.Errorf("conform: slow consumer: reading the cut sink: %w", ctx.Err())
	}
}

// senderKept checks that the flooding sender's connection survived its
// refusals: user_offline leaves the connection open (4.2), unless the
// server cut the sender as a slow consumer of those refusals (5.10), which
// it announces with Error slow_consumer before the close.
func senderKept(ctx context.Context, snd *session) error {
	slow := func(f protocol.Frame) bool {
		return f.Type == protocol.TypeError && body[protocol.Error](f).Code == protocol.CodeSlowConsumer
	}
	if snd.closed() && snd.scan(slow) {
		return nil
	}
	if err := roundTrip(ctx, snd, "the sender's connection stays open after user_offline (4.2)"); err != nil {
		if snd.scan(slow) {
			return nil
		}
		return err
	}
	return nil
}

// drainToSlowConsumer reads what the server left on a connection it cut
// as a slow consumer: the frames written before the cut, then Error
// slow_consumer, then the end of the stream.
func drainToSlowConsumer(ctx context.Context, conn net.Conn, limit time.Duration) error {
	deadline := time.Now().Add(limit + 5*time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetReadDeadline(deadline)
	r := protocol.NewReader(bufio.NewReaderSize(conn, 64<<10))
	var last protocol.Frame
	sawSlow := false
	for {
		f, err := r.ReadFrame()
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				return failf("Error slow_consumer then the close", "the connection was still open after %v (last frame: %s)", limit+5*time.Second, describe(last))
			case !sawSlow:
				return failf("Error slow_consumer before the close", "the stream ended after %s", describe(last))
			}
			return nil
		}
		last = f
		if f.Type == protocol.TypeError && body[protocol.Error](f).Code == protocol.CodeSlowConsumer {
			sawSlow = true
		}
	}
}
