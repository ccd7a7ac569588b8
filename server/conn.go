package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/p2plab/p2plab/protocol"
)

const (
	readBufSize  = 64 << 10
	writeBufSize = 32 << 10
	// lingerTime bounds how long a connection closed by the server keeps
	// draining the peer's input after its last frame went out, so the
	// kernel sends FIN rather than RST and the peer gets to read that
	// frame (usually an Error).
	lingerTime = time.Second
	lingerMax  = 4 << 20
)

// queue states.
const (
	qOpen     = iota
	qGraceful // no more frames; the writer flushes what is queued and sends FIN
	qAbort    // the writer stops at once
)

var (
	errIdle    = errors.New("heartbeat timeout")
	errStalled = errors.New("frame incomplete after read timeout")
	errKilled  = errors.New("cut by the server")
)

// conn is one client connection. Its reader goroutine runs serve, which owns
// the login state; its writer goroutine runs writeLoop, which owns the
// socket's write side.
type conn struct {
	s       *Server
	nc      net.Conn
	remote  netip.AddrPort
	serveID int
	br      *bufio.Reader
	pr      *protocol.Reader

	// user and us are set by the reader goroutine under s.mu at login and
	// read by others under s.mu.
	user string
	us   *userStats
	// p11 is the version 1.1 state of the session (docs/protocol.md 9.1):
	// set by the reader goroutine before register, then read and written
	// under s.mu.
	p11 peer11

	loggedIn atomic.Bool
	pending  atomic.Bool // counted in Server.pending until login or close
	killed   atomic.Bool // set with cutReason by whoever cuts the connection

	mu        sync.Mutex
	q         [][]byte
	qFrom     []*conn              // the sender of each frame in q, nil if not relayed
	qBytes    int                  // bytes queued or in the writer's hands, not yet written (5.10)
	share     map[*conn]shareCount // relayed frames in q by sender (5.10)
	drained   chan struct{}        // closed and replaced when the writer takes q
	spare     [][]byte             // writer-owned
	state     int
	cutReason string
	wake      chan struct{}
	wdone     chan struct{}
	// writeSince is when the socket write in progress started (unix ns), 0
	// between writes: a write blocked for a heartbeat interval marks a
	// slow consumer (5.10).
	writeSince atomic.Int64
	hbSeq      int64 // writer-owned
}

func newConn(s *Server, nc net.Conn, serveID int) *conn {
	c := &conn{
		s:       s,
		nc:      nc,
		serveID: serveID,
		wake:    make(chan struct{}, 1),
		wdone:   make(chan struct{}),
		share:   map[*conn]shareCount{},
		drained: make(chan struct{}),
	}
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		c.remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	c.br = bufio.NewReaderSize(nc, readBufSize)
	c.pr = protocol.NewReader(c.br)
	return c
}

// loginDone releases the connection's place among those not logged in
// yet (Config.MaxPending); only the first call counts.
func (c *conn) loginDone() {
	if c.pending.CompareAndSwap(true, false) {
		c.s.pending.Add(-1)
	}
}

// shareCount is what one sender's relayed frames hold of a destination's
// queue.
type shareCount struct{ frames, bytes int }

// enqueue queues one encoded frame for the writer. It never blocks. It
// returns false if the connection no longer takes frames; if the queue is
// full, it cuts the connection with slow_consumer and returns false.
func (c *conn) enqueue(b []byte) bool {
	ok, _ := c.enqueueFrom(b, nil)
	return ok
}

// enqueueFrom is enqueue for a frame relayed from sender (nil: the server's
// own frame). A sender may hold at most half of the queue, in frames and in
// bytes, or one frame (docs/protocol.md 5.10): a frame past its share is not queued and
// enqueueFrom returns ok false and a channel closed when the writer next
// takes the queue, with the connection left open, so one sender's flood
// cannot get its destination cut. The caller waits on it and tries again,
// or refuses the frame.
func (c *conn) enqueueFrom(b []byte, sender *conn) (ok bool, full <-chan struct{}) {
	c.mu.Lock()
	if c.state != qOpen {
		c.mu.Unlock()
		return false, nil
	}
	if sender != nil {
		sh := c.share[sender]
		// a sender with nothing queued may always queue one frame
		// (the share may be smaller than one frame of the largest size)
		if sh.frames > 0 && (sh.frames+1 > c.s.cfg.QueueLen/2 || sh.bytes+len(b) > c.s.cfg.QueueBytes/2) {
			full = c.drained
			c.mu.Unlock()
			return false, full
		}
	}
	if len(c.q) >= c.s.cfg.QueueLen || c.qBytes+len(b) > c.s.cfg.QueueBytes {
		c.slowLocked()
		return false, nil
	}
	c.q = append(c.q, b)
	if sender != nil || len(c.qFrom) > 0 {
		for len(c.qFrom) < len(c.q)-1 {
			c.qFrom = append(c.qFrom, nil)
		}
		c.qFrom = append(c.qFrom, sender)
	}
	if sender != nil {
		sh := c.share[sender]
		c.share[sender] = shareCount{sh.frames + 1, sh.bytes + len(b)}
	}
	c.qBytes += len(b)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true, nil
}

// slowLocked cuts the connection as a slow consumer (docs/protocol.md
// 5.10): the queue is emptied, Error slow_consumer is the only frame left
// in it. c.mu is held and released.
func (c *conn) slowLocked() {
	clear(c.q)
	clear(c.qFrom)
	clear(c.share)
	c.qFrom = c.qFrom[:0]
	c.q = append(c.q[:0], encodeError(0, protocol.Error{Code: protocol.CodeSlowConsumer,
		Message: "outbound queue full: the connection does not read fast enough"}))
	c.state = qGraceful
	c.cutReason = protocol.CodeSlowConsumer
	close(c.drained)
	c.drained = make(chan struct{})
	c.mu.Unlock()
	c.s.m.slowConsumers.Add(1)
	c.cut()
}

// stuck cuts the connection as a slow consumer if its writer has not taken
// the queue since drained was handed out: a sender waited the read timeout
// for its share (5.10) while this connection read nothing.
func (c *conn) stuck(drained <-chan struct{}) {
	c.mu.Lock()
	if c.state != qOpen || c.drained != drained {
		c.mu.Unlock()
		return
	}
	c.slowLocked()
}

// takeQueueLocked hands the queue to the writer: the senders' shares are
// released and waiters on drained woken. c.mu is held.
func (c *conn) takeQueueLocked() [][]byte {
	batch := c.q
	c.q = c.spare
	for i, from := range c.qFrom {
		if from == nil {
			continue
		}
		sh := c.share[from]
		if sh.frames--; sh.frames <= 0 {
			delete(c.share, from)
		} else {
			sh.bytes -= len(batch[i])
			c.share[from] = sh
		}
		c.qFrom[i] = nil
	}
	c.qFrom = c.qFrom[:0]
	close(c.drained)
	c.drained = make(chan struct{})
	return batch
}

// cut makes the reader and writer of a connection whose queue was closed by
// another goroutine finish: the writer gets closeGrace to deliver the queued
// frames, the reader wakes up from its read.
func (c *conn) cut() {
	c.killed.Store(true)
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.ReadTimeout))
	c.nc.SetReadDeadline(time.Now())
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// closeQueue stops the queue: graceful lets the writer flush what is queued
// and send FIN, otherwise the writer stops at once.
func (c *conn) closeQueue(graceful bool) {
	c.mu.Lock()
	switch {
	case graceful && c.state == qOpen:
		c.state = qGraceful
	case !graceful:
		c.state = qAbort
		clear(c.q)
		c.q = nil
		clear(c.qFrom)
		c.qFrom = nil
		clear(c.share)
	}
	if c.state != qOpen {
		close(c.drained)
		c.drained = make(chan struct{})
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) writeLoop() {
	defer close(c.wdone)
	bw := bufio.NewWriterSize(stampWriter{c}, writeBufSize)
	tick := time.NewTicker(c.s.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-c.wake:
		case <-tick.C:
			if c.loggedIn.Load() {
				c.hbSeq++
				c.enqueue(encodeFrame(protocol.Frame{Type: protocol.TypeHeartbeat, ID: c.hbSeq}))
			}
			continue
		}
		c.mu.Lock()
		batch := c.takeQueueLocked()
		state := c.state
		c.mu.Unlock()
		if state == qAbort {
			return
		}
		written := 0
		for i, b := range batch {
			if _, err := bw.Write(b); err != nil {
				c.writeFailed(err)
				return
			}
			written += len(b)
			batch[i] = nil
		}
		c.spare = batch[:0]
		if err := bw.Flush(); err != nil {
			c.writeFailed(err)
			return
		}
		c.mu.Lock()
		c.qBytes = max(0, c.qBytes-written)
		c.mu.Unlock()
		if state == qGraceful {
			if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			return
		}
	}
}

// stampWriter writes to the socket, keeping conn.writeSince.
type stampWriter struct{ c *conn }

func (w stampWriter) Write(p []byte) (int, error) {
	w.c.writeSince.Store(time.Now().UnixNano())
	defer w.c.writeSince.Store(0)
	return w.c.nc.Write(p)
}

func (c *conn) writeFailed(err error) {
	if !errors.Is(err, net.ErrClosed) {
		c.s.log.Debug("write failed", "remote", c.remote, "user", c.userName(), "err", err)
	}
	c.nc.Close() // the reader sees the error and cleans up
}

// userName is the logged-in user for logs ("" before login); reader only.
func (c *conn) userName() string {
	if c.loggedIn.Load() {
		c.s.mu.RLock()
		defer c.s.mu.RUnlock()
		return c.user
	}
	return ""
}

// serve is the reader goroutine: it reads and handles frames until the
// connection ends, then cleans up.
func (c *conn) serve() {
	go c.writeLoop()
	reason, graceful := c.readLoop()
	c.s.unregister(c, reason)
	if graceful {
		c.closeQueue(true)
		c.nc.SetReadDeadline(time.Now().Add(lingerTime))
		io.Copy(io.Discard, io.LimitReader(c.nc, lingerMax))
		select {
		case <-c.wdone:
		case <-time.After(c.s.cfg.ReadTimeout):
		}
	} else {
		c.closeQueue(false)
	}
	c.nc.Close()
	<-c.wdone
	c.s.removeConn(c)
	c.s.log.Debug("connection closed", "remote", c.remote, "reason", reason)
}

// readLoop reads frames until the connection must end. It returns why, and
// whether the end is graceful (queued frames, usually an Error, are flushed
// before the close) or abrupt.
func (c *conn) readLoop() (reason string, graceful bool) {
	for {
		f, n, payload, err := c.readFrame()
		if err != nil {
			return c.readFailed(err, payload)
		}
		c.s.m.framesIn.Add(1)
		if end, reason := c.handle(f, n); end {
			return reason, true
		}
	}
}

func (c *conn) readFailed(err error, payload []byte) (string, bool) {
	var fe *protocol.FrameError
	switch {
	case c.killed.Load():
		c.mu.Lock()
		reason := c.cutReason
		c.mu.Unlock()
		return reason, true
	case errors.As(err, &fe):
		c.s.m.badFrames.Add(1)
		c.sendError(protocol.RequestID(payload), protocol.Error{Code: fe.Code, Message: fe.Reason})
		return "bad frame: " + fe.Reason, true
	case errors.Is(err, errStalled):
		c.s.m.badFrames.Add(1)
		c.sendError(0, protocol.Error{Code: protocol.CodeBadFrame, Message: "frame incomplete after " + c.s.cfg.ReadTimeout.String()})
		return errStalled.Error(), true
	case errors.Is(err, errIdle):
		c.s.m.heartbeatTimeouts.Add(1)
		return errIdle.Error(), false
	case errors.Is(err, io.EOF):
		return "disconnected", false
	}
	return "connection lost: " + err.Error(), false
}

// readFrame reads one frame. A frame that fits the read buffer is decoded in
// place; a larger one goes through the protocol Reader, which allocates as
// its bytes arrive. The idle deadline (Heartbeat*Misses) applies while no
// frame has started; ReadTimeout applies once one has. On a decoding error
// payload is the raw payload (to find its id).
func (c *conn) readFrame() (f protocol.Frame, n int, payload []byte, err error) {
	br := c.br
	if br.Buffered() == 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.s.idle))
		if c.killed.Load() {
			return f, 0, nil, errKilled
		}
		if _, err := br.Peek(1); err != nil {
			if !isTimeout(err) {
				return f, 0, nil, err
			}
			// The deadline may fire after a frame's first bytes reached
			// the socket but before this goroutine read them (a loaded
			// machine): that frame is in progress, so the peer is not
			// idle (docs/protocol.md 5.8) and the frame gets the read
			// timeout (5.9) from now.
			if !bytesWaiting(c.nc) {
				return f, 0, nil, errIdle
			}
			c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.ReadTimeout))
			if _, err := br.Peek(1); err != nil {
				return f, 0, nil, midFrame(err)
			}
		}
	}
	// Once a frame has started it must arrive within ReadTimeout. arm sets
	// that deadline once per frame; it reports a cut that happened before
	// (cut's immediate deadline may have been overwritten).
	started := false
	arm := func() bool {
		if !started {
			started = true
			c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.ReadTimeout))
		}
		return !c.killed.Load()
	}
	if br.Buffered() < 4 && !arm() {
		return f, 0, nil, errKilled
	}
	hdr, err := br.Peek(4)
	if err != nil {
		return f, 0, nil, midFrame(err)
	}
	size := int(binary.BigEndian.Uint32(hdr))
	if size == 0 || size > protocol.MaxFrameLen || 4+size > br.Size() {
		// Out-of-range lengths are reported by the protocol Reader right
		// after the header; big frames grow their buffer as data arrives.
		if !arm() {
			return f, 0, nil, errKilled
		}
		p, err := c.pr.ReadPayload()
		if err != nil {
			return f, 0, nil, midFrame(err)
		}
		f, err = protocol.Unmarshal(p)
		return f, len(p), p, err
	}
	if br.Buffered() < 4+size && !arm() {
		return f, 0, nil, errKilled
	}
	b, err := br.Peek(4 + size)
	if err != nil {
		return f, 0, nil, midFrame(err)
	}
	f, err = protocol.Unmarshal(b[4:])
	if err != nil {
		// Keep the bad payload for its id; the connection ends anyway.
		return f, 0, append([]byte(nil), b[4:]...), err
	}
	br.Discard(4 + size)
	return f, size, nil, nil
}

// midFrame classifies a read error inside a started frame.
func midFrame(err error) error {
	switch {
	case isTimeout(err):
		return errStalled
	case err == io.EOF:
		return io.ErrUnexpectedEOF
	}
	return err
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// bytesWaiting reports whether the socket under nc holds bytes not yet read
// (a non-blocking MSG_PEEK). It clears nc's read deadline: Go refuses every
// read, even one that would not wait, once the deadline has passed.
func bytesWaiting(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	nc.SetReadDeadline(time.Time{})
	n := 0
	var buf [1]byte
	if err := rc.Read(func(fd uintptr) bool {
		n, _, _ = unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true // never wait: an empty socket is the answer
	}); err != nil {
		return false
	}
	return n > 0
}
