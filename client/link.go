package client

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// linkQueue is the number of frames a link buffers for its writer.
const linkQueue = 256

// bulkSlots is how many of those may be bulk frames (file chunks), so
// heartbeats, acks and chat always find room behind a file transfer.
const bulkSlots = 16

// ctrlQueue is the room of a link's priority lane: Heartbeat and
// HeartbeatAck frames go out ahead of everything queued (docs/protocol.md
// 2.5), so they never starve behind a burst of chat or its acks.
const ctrlQueue = 4

// writeBatch bounds the bytes the writer gathers from the queue into one
// write.
const writeBatch = 64 << 10

// maxBacklog bounds the bytes of replies (chat acks, refusals) a link
// holds beyond its queue (docs/protocol.md 2.5): about 40,000 chat acks.
const maxBacklog = 4 << 20

// outFrame is one marshalled frame waiting for the writer.
type outFrame struct {
	b    []byte
	bulk bool
}

// errLinkClosed is returned by sends on a closed link.
var errLinkClosed = errors.New("client: link closed")

// errQueueFull is returned by a send that found the link's outbound queue
// full (docs/protocol.md 2.5): the frame was not queued, the link stays
// open (its liveness is the pulse's and the writer's to judge).
var errQueueFull = errors.New("client: outbound queue full")

// link is one framed TCP connection (to the server or a peer) with an
// outbound queue and a writer goroutine. Its heartbeats are sent and its
// liveness watched by the client's pulse. Any inbound frame counts as
// liveness; a link silent for misses heartbeat intervals dies with reason
// "heartbeat timeout", a reset or EOF gives "connection lost".
type link struct {
	conn   net.Conn
	r      *protocol.Reader
	pulse  *pulse
	hb     time.Duration
	misses int

	out  chan outFrame
	ctrl chan []byte   // the priority lane: heartbeats and their acks
	bulk chan struct{} // one token per queued bulk frame
	wake chan struct{} // a reply joined the backlog
	// bmu guards the reply backlog (see reply).
	bmu          sync.Mutex
	backlog      [][]byte
	backlogBytes int
	room         chan struct{} // closed and replaced when the writer takes from the backlog
	done         chan struct{}
	once         sync.Once
	mu           sync.Mutex
	reason       string
	override     string // set by closeAs
	nextID       atomic.Int64
	// lastRecv is when the last complete frame arrived (unix ns).
	lastRecv atomic.Int64
	// lastBeat is when the link last sent a Heartbeat (unix ns).
	lastBeat atomic.Int64
	// lead is set on links this side opened (the server link, dialled
	// channels): they beat on time, accepted ones follow (see pulse).
	lead bool
	// suspect is when the pulse found the link silent for too long (unix
	// ns, 0 if not); only the pulse goroutine touches it.
	suspect int64
}

// newLink makes a link on conn whose heartbeats p keeps. The first
// Heartbeat goes out one interval after the link starts.
func newLink(conn net.Conn, r *protocol.Reader, p *pulse, misses int) *link {
	if r == nil {
		r = protocol.NewReader(bufio.NewReaderSize(conn, 64<<10))
	}
	l := &link{conn: conn, r: r, pulse: p, hb: p.hb, misses: misses, out: make(chan outFrame, linkQueue),
		ctrl: make(chan []byte, ctrlQueue), wake: make(chan struct{}, 1), room: make(chan struct{}), bulk: make(chan struct{}, bulkSlots), done: make(chan struct{})}
	now := time.Now().UnixNano()
	l.lastRecv.Store(now)
	l.lastBeat.Store(now)
	return l
}

// deadTime is how long a link may stay silent.
func (l *link) deadTime() time.Duration { return l.hb * time.Duration(l.misses) }

// id returns a fresh request id.
func (l *link) id() int64 { return l.nextID.Add(1) }

// send queues f without blocking. A full queue refuses it with
// errQueueFull and leaves the link alone.
func (l *link) send(f protocol.Frame) error {
	b, err := protocol.Marshal(f)
	if err != nil {
		return err
	}
	return l.sendBytes(b)
}

// beat queues a Heartbeat, noting now (unix ns) as the last beat.
func (l *link) beat(now int64) error {
	l.lastBeat.Store(now)
	b, err := protocol.Marshal(protocol.Frame{Type: protocol.TypeHeartbeat, ID: l.id()})
	if err != nil {
		return err
	}
	return l.sendCtrl(b)
}

// answer queues the HeartbeatAck for the Heartbeat with id re. When the
// link's own Heartbeat is at least half an interval old, the next one rides
// in the same write: the two ends of an idle channel then beat in step, and
// a round's four frames take three writes instead of four (each end would
// otherwise send its Heartbeat and answer the other's on its own clock).
func (l *link) answer(re int64) error {
	b, err := protocol.Marshal(protocol.Frame{Type: protocol.TypeHeartbeatAck, Re: re})
	if err != nil {
		return err
	}
	now := time.Now().UnixNano()
	if time.Duration(now-l.lastBeat.Load()) >= l.hb/2 {
		hb, err := protocol.Marshal(protocol.Frame{Type: protocol.TypeHeartbeat, ID: l.id()})
		if err != nil {
			return err
		}
		l.lastBeat.Store(now)
		b = append(b, hb...)
	}
	return l.sendCtrl(b)
}

// sendCtrl queues heartbeat frames on the priority lane without blocking.
// A full lane already holds heartbeats that will go out first: these are
// dropped, harmlessly (any frame is liveness, one Heartbeat suffices).
func (l *link) sendCtrl(b []byte) error {
	select {
	case <-l.done:
		return errLinkClosed
	case l.ctrl <- b:
	default:
	}
	return nil
}

// reply queues f for the reader goroutine that handles the peer's frames
// (chat acks, refusals). It does not block while the link's reply backlog
// holds less than maxBacklog bytes: a burst from the peer is answered in
// full, and two ends bursting at each other (or at each other through the
// server) never both stop reading. Past it, it waits for the backlog to
// shrink, so the peer's burst is slowed to the pace at which it takes our
// answers (TCP flow control does the rest). The wait ends when the link
// closes; the writer's deadline closes a link whose peer stops reading.
func (l *link) reply(f protocol.Frame) error {
	b, err := protocol.Marshal(f)
	if err != nil {
		return err
	}
	l.bmu.Lock()
	for {
		if l.closed() {
			l.bmu.Unlock()
			return errLinkClosed
		}
		if len(l.backlog) == 0 {
			select {
			case l.out <- outFrame{b: b}:
				l.bmu.Unlock()
				return nil
			default:
			}
		}
		if l.backlogBytes+len(b) <= maxBacklog || len(l.backlog) == 0 {
			l.backlog = append(l.backlog, b)
			l.backlogBytes += len(b)
			l.bmu.Unlock()
			select {
			case l.wake <- struct{}{}:
			default:
			}
			return nil
		}
		room := l.room
		l.bmu.Unlock()
		select {
		case <-room:
		case <-l.done:
			return errLinkClosed
		}
		// the writer made room: the peer takes frames, it is alive.
		l.lastRecv.Store(time.Now().UnixNano())
		l.bmu.Lock()
	}
}

// takeBacklog appends queued replies to buf, up to writeBatch, and wakes
// a reply waiting for room.
func (l *link) takeBacklog(buf []byte) []byte {
	l.bmu.Lock()
	defer l.bmu.Unlock()
	n := 0
	for n < len(l.backlog) && len(buf) < writeBatch {
		buf = append(buf, l.backlog[n]...)
		l.backlogBytes -= len(l.backlog[n])
		l.backlog[n] = nil
		n++
	}
	if n > 0 {
		l.backlog = l.backlog[n:]
		if len(l.backlog) == 0 {
			l.backlog = nil
		}
		close(l.room)
		l.room = make(chan struct{})
	}
	if len(l.backlog) > 0 {
		select { // more than one write's worth: come back for the rest
		case l.wake <- struct{}{}:
		default:
		}
	}
	return buf
}

// sendBytes queues marshalled frames as one write without blocking.
func (l *link) sendBytes(b []byte) error {
	select {
	case <-l.done:
		return errLinkClosed
	default:
	}
	select {
	case l.out <- outFrame{b: b}:
		return nil
	case <-l.done:
		return errLinkClosed
	default:
		return errQueueFull
	}
}

// sendWait queues f as a bulk frame, waiting for one of the few bulk
// slots (used for file transfers).
func (l *link) sendWait(ctx context.Context, f protocol.Frame) error {
	b, err := protocol.Marshal(f)
	if err != nil {
		return err
	}
	select {
	case l.bulk <- struct{}{}:
	case <-l.done:
		return errLinkClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case l.out <- outFrame{b: b, bulk: true}:
		return nil
	case <-l.done:
		<-l.bulk
		return errLinkClosed
	case <-ctx.Done():
		<-l.bulk
		return ctx.Err()
	}
}

// closeAs makes the link's eventual close report reason, whatever ends it
// (used by logout: the peer may reset the channel before we close it).
func (l *link) closeAs(reason string) {
	l.mu.Lock()
	l.override = reason
	l.mu.Unlock()
}

// close ends the link with reason (the first reason wins, unless closeAs
// set one).
func (l *link) close(reason string) {
	l.once.Do(func() {
		l.mu.Lock()
		if l.override != "" {
			reason = l.override
		}
		l.reason = reason
		l.mu.Unlock()
		close(l.done)
		// A close we decide on (not a dead or misbehaving peer) resets
		// the connection: no TIME_WAIT is left on the shared endpoint, so
		// a new channel between the same two endpoints can be made at
		// once.
		if reason != protocol.ReasonConnectionLost {
			if tc, ok := l.conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
		}
		l.conn.Close()
	})
}

// closed reports whether the link is closed.
func (l *link) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// why returns the reason the link closed with.
func (l *link) why() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reason
}

// run serves the link until it dies: it writes queued frames, answers
// Heartbeat with HeartbeatAck and hands every other frame to onFrame (an
// error from onFrame closes the link with "connection lost"); the pulse
// sends its heartbeats and watches it meanwhile. It returns the reason the
// link closed.
func (l *link) run(onFrame func(protocol.Frame) error) string {
	l.pulse.add(l)
	defer l.pulse.remove(l)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); l.writer() }()
	l.reader(onFrame)
	wg.Wait()
	return l.why()
}

func (l *link) reader(onFrame func(protocol.Frame) error) {
	defer l.close(protocol.ReasonConnectionLost)
	// No read deadline (an accepted channel had one for its first frame):
	// liveness is judged by the pulse, which closes the connection to
	// unblock this read.
	if err := l.conn.SetReadDeadline(time.Time{}); err != nil {
		return
	}
	for {
		f, err := l.r.ReadFrame()
		if err == nil {
			l.lastRecv.Store(time.Now().UnixNano())
		}
		if err != nil {
			var ne net.Error
			var fe *protocol.FrameError
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				l.close(protocol.ReasonHeartbeatTimeout)
			case errors.As(err, &fe):
				l.writeError(fe.Code, fe.Reason, 0)
			}
			return
		}
		switch f.Type {
		case protocol.TypeHeartbeat:
			if l.answer(f.ID) != nil {
				return
			}
			continue
		case protocol.TypeHeartbeatAck:
			continue
		}
		if err := onFrame(f); err != nil {
			var fe *protocol.FrameError
			if errors.As(err, &fe) {
				l.writeError(fe.Code, fe.Reason, f.ID)
			}
			return
		}
	}
}

// writeError writes an Error frame directly, best effort, before a close.
func (l *link) writeError(code, msg string, re int64) {
	f := protocol.MustFrame(protocol.TypeError, protocol.Error{Code: code, Message: msg})
	f.Re = re
	_ = l.conn.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	_ = protocol.WriteFrame(l.conn, f)
}

func (l *link) writer() {
	wd := l.deadTime()
	if wd < 2*time.Second {
		wd = 2 * time.Second
	}
	var buf []byte
	for {
		buf = buf[:0]
		// heartbeats first (the priority lane), then whatever is queued,
		// gathered into one write.
		select {
		case b := <-l.ctrl:
			buf = append(buf, b...)
		default:
			select {
			case b := <-l.ctrl:
				buf = append(buf, b...)
			case of := <-l.out:
				buf = l.take(buf, of)
			case <-l.wake:
			case <-l.done:
				return
			}
		}
	gather:
		for len(buf) < writeBatch {
			select {
			case b := <-l.ctrl:
				buf = append(buf, b...)
			case of := <-l.out:
				buf = l.take(buf, of)
			default:
				break gather
			}
		}
		buf = l.takeBacklog(buf)
		if len(buf) == 0 {
			continue
		}
		if err := l.conn.SetWriteDeadline(time.Now().Add(wd)); err != nil {
			l.close(protocol.ReasonConnectionLost)
			return
		}
		if _, err := l.conn.Write(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				l.close(protocol.ReasonHeartbeatTimeout)
			} else {
				l.close(protocol.ReasonConnectionLost)
			}
			return
		}
		if cap(buf) > 4*writeBatch {
			buf = nil
		}
	}
}

// take appends a queued frame to the writer's buffer, freeing its bulk
// slot.
func (l *link) take(buf []byte, of outFrame) []byte {
	if of.bulk {
		<-l.bulk
	}
	return append(buf, of.b...)
}

// isAddrNotAvail reports a dial that failed because the 4-tuple is taken:
// a crossing dial from the peer won.
func isAddrNotAvail(err error) bool { return errors.Is(err, syscall.EADDRNOTAVAIL) }
