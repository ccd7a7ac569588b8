package netlab

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// An impairment stage is one Impairment in one direction of one NIC: a
// Queue whose handler decides each packet's fate when it arrives (lost,
// or due at arrival + rate wait + delay ± jitter, maybe with a copy) and
// a scheduler goroutine that gives the held packets their verdicts when
// they are due. Why NFQUEUE and what it costs: docs/netlab.md,
// "Impairments".

// dupMark marks the copies a stage injects, so that no stage queues them
// again (they already waited with their original).
const dupMark = 0x50324c44 // "P2LD"

// Hooks and priorities of the stages: outbound packets are taken in
// postrouting after source NAT (priority 300), as they go on the wire;
// inbound ones in prerouting after defragmentation (-400) and before the
// NAT routers' queue (raw, -300), conntrack and destination NAT (priority
// -350), as they come off it.
var (
	prioOut = nftables.ChainPriority(300)
	prioIn  = nftables.ChainPriority(-350)
)

// stageQueueLen is the most packets one stage holds (the kernel queue's
// length): a stage that holds more drops new packets, as a full router
// buffer does.
const stageQueueLen = 65536

// held is one packet waiting for its verdict.
type held struct {
	due     time.Time
	seq     uint64 // arrival order, to break ties
	id      uint32
	payload []byte // set for a packet to inject, with id 0
	dup     bool   // the payload is an extra copy (not sent when the stage stops)
}

// heldHeap orders held packets by due time, then arrival.
type heldHeap []held

func (h heldHeap) Len() int { return len(h) }
func (h heldHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h heldHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *heldHeap) Push(x any)   { *h = append(*h, x.(held)) }
func (h *heldHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// stage is one running impairment stage.
type stage struct {
	im     Impairment
	dir    Direction
	q      *Queue
	raw    int // raw IPv4 socket in the host's namespace for copies (-1: none)
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	rng     *rand.Rand
	pending heldHeap
	seq     uint64
	lastDue time.Time // due time of the last packet (order kept without Reorder)
	txFree  time.Time // when the rate-limited link is free again
	// timer is a timerfd armed for the earliest held packet. The runtime's
	// own timers wake up to a millisecond late (its poller sleeps in whole
	// milliseconds); a timerfd is an hrtimer that wakes the poller itself,
	// tens of microseconds late, without holding a thread.
	timer *os.File

	packets, lost, dups, rateDrops, errs atomic.Uint64
}

// startStage opens a stage for im in direction dir on interface nic of
// namespace ns, with its table and queue named and numbered by the caller.
func startStage(ctx context.Context, ns netns.NsHandle, table string, num uint16, nic string, dir Direction, im Impairment) (*stage, error) {
	s := &stage{
		im:   im,
		dir:  dir,
		raw:  -1,
		rng:  rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(num))),
		done: make(chan struct{}),
	}
	if im.Duplicate > 0 || dir == Out {
		if err := inNS(ns, func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
			if err != nil {
				return err
			}
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, dupMark); err != nil {
				unix.Close(fd)
				return err
			}
			s.raw = fd
			return nil
		}); err != nil {
			return nil, fmt.Errorf("raw socket: %w", err)
		}
	}
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		s.closeRaw()
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	s.timer = os.NewFile(uintptr(tfd), "impair-timer")
	r := QueueRule{SkipMark: dupMark}
	if dir == In {
		r.Hook, r.Priority, r.IIF = nftables.ChainHookPrerouting, &prioIn, nic
	} else {
		r.Hook, r.Priority, r.OIF = nftables.ChainHookPostrouting, &prioOut, nic
	}
	// The stage outlives ctx (it ends with stop). The scheduler has its own
	// context: on stop it gives the held packets their verdicts before the
	// queue is unbound (which would drop them).
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	q, err := OpenQueue(context.WithoutCancel(ctx), ns, table, num, r, QueueConfig{MaxLen: stageQueueLen, ReadBuffer: 16 << 20}, s.arrive)
	if err != nil {
		cancel()
		s.closeRaw()
		s.timer.Close()
		return nil, err
	}
	s.q = q
	go s.run(sctx)
	return s, nil
}

// arrive decides a packet's fate (on the queue's goroutine).
func (s *stage) arrive(q *Queue, p Packet) {
	s.packets.Add(1)
	s.mu.Lock()
	im := s.im
	if im.Loss > 0 && s.rng.Float64()*100 < im.Loss {
		s.mu.Unlock()
		s.lost.Add(1)
		s.verdict(q.Drop(p.ID))
		return
	}
	due := p.Arrival
	if im.Rate > 0 {
		start := due
		if s.txFree.After(start) {
			start = s.txFree
		}
		wait := start.Sub(due)
		limit := im.RateQueue
		if limit == 0 {
			limit = 50 * time.Millisecond
		}
		if wait > limit {
			s.mu.Unlock()
			s.rateDrops.Add(1)
			s.verdict(q.Drop(p.ID))
			return
		}
		s.txFree = start.Add(time.Duration(len(p.Payload)) * 8 * time.Second / time.Duration(im.Rate))
		due = s.txFree
	}
	d := im.Delay
	if im.Jitter > 0 {
		d += time.Duration(s.rng.Int64N(int64(2*im.Jitter)+1)) - im.Jitter
	}
	due = due.Add(d)
	if !im.Reorder && due.Before(s.lastDue) {
		due = s.lastDue
	}
	s.lastDue = due
	if due.Before(time.Now()) && len(s.pending) == 0 && !(im.Duplicate > 0) {
		// nothing to wait for (a loss- or rate-only stage under its rate)
		s.mu.Unlock()
		s.verdict(q.Accept(p.ID))
		return
	}
	s.seq++
	h := held{due: due, seq: s.seq, id: p.ID}
	local := s.dir == Out && p.InDev == 0
	if local {
		// A packet of this host's own socket is not held but dropped now
		// and sent again as a copy when due: held, it would still count
		// against its TCP socket's small queues limit (as a packet in a
		// qdisc does), and TCP through a delay would crawl. netem orphans
		// the packets it holds for the same reason.
		h = held{due: due, seq: s.seq, payload: p.Payload}
	}
	heap.Push(&s.pending, h)
	if im.Duplicate > 0 && s.rng.Float64()*100 < im.Duplicate {
		s.seq++
		heap.Push(&s.pending, held{due: due, seq: s.seq, payload: p.Payload, dup: true})
		s.dups.Add(1)
	}
	if first := s.pending[0]; first.seq == h.seq {
		s.arm(first.due)
	}
	s.mu.Unlock()
	if local {
		s.verdict(q.Drop(p.ID))
	}
}

// arm sets the timer to fire at due (at once if due has passed); s.mu is
// held.
func (s *stage) arm(due time.Time) {
	d := max(time.Until(due), time.Microsecond)
	_ = unix.TimerfdSettime(int(s.timer.Fd()), 0, &unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}, nil)
}

// verdict counts a failed verdict.
func (s *stage) verdict(err error) {
	if err != nil {
		s.errs.Add(1)
	}
}

// run gives held packets their verdicts when they are due, until ctx ends;
// then it lets every packet still held go at once.
func (s *stage) run(ctx context.Context) {
	defer close(s.done)
	stop := context.AfterFunc(ctx, func() { _ = s.timer.SetReadDeadline(time.Now()) })
	defer stop()
	var due []held
	buf := make([]byte, 8)
	for {
		s.mu.Lock()
		now := time.Now()
		due = due[:0]
		for len(s.pending) > 0 && !s.pending[0].due.After(now) {
			due = append(due, heap.Pop(&s.pending).(held))
		}
		if len(s.pending) > 0 {
			s.arm(s.pending[0].due)
		}
		s.mu.Unlock()
		for _, h := range due {
			s.release(h)
		}
		if _, err := s.timer.Read(buf); err != nil && ctx.Err() != nil {
			break
		}
	}
	s.mu.Lock()
	rest := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, h := range rest {
		if !h.dup {
			s.release(h)
		}
	}
}

// release accepts a held packet or injects a copy.
func (s *stage) release(h held) {
	if h.payload == nil {
		s.verdict(s.q.Accept(h.id))
		return
	}
	s.verdict(s.inject(h.payload))
}

// inject sends a copy of an IPv4 packet through the raw socket: the kernel
// routes it by its destination, as the original went.
func (s *stage) inject(pkt []byte) error {
	if len(pkt) < 20 || s.raw < 0 {
		return errors.New("short packet")
	}
	var to unix.SockaddrInet4
	copy(to.Addr[:], pkt[16:20])
	return unix.Sendto(s.raw, pkt, 0, &to)
}

// stop removes the rule (so nothing more is queued), lets the held packets
// go, then closes the queue and the raw socket.
func (s *stage) stop() error {
	err := nftDel(s.q.ns, s.q.table)
	s.cancel()
	<-s.done
	err = errors.Join(err, s.q.Close())
	s.closeRaw()
	s.timer.Close()
	return err
}

func (s *stage) closeRaw() {
	if s.raw >= 0 {
		unix.Close(s.raw)
		s.raw = -1
	}
}
