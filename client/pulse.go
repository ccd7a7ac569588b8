package client

import (
	"sync"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// pulse is a client's one heartbeat clock. It sends the Heartbeats of every
// link (the server link and each P2P channel) and watches their liveness
// from a single timer, so an idle client wakes about once per interval
// however many channels it holds.
//
// Three choices keep an idle mesh cheap (see docs/benchmarks.md for the
// figures):
//
//   - One timer per client, not a ticker and a watchdog per link: a
//     200-client mesh had ~200 timer wake-ups per client per second, each a
//     context switch.
//   - The timer fires on a grid of check-sized steps counted from the Unix
//     epoch, like the kernel's rounded timers: every client on a machine
//     beats in the same instant, so a process is woken once per round for
//     all its peers' frames instead of once per peer.
//   - The side that dialled a channel leads: it beats every interval. The
//     side that accepted follows: it beats one step later than due, so
//     normally the leader's Heartbeat arrives first and the follower's own
//     Heartbeat rides with its HeartbeatAck (see link.answer). A round's
//     four frames then take three writes instead of four. A leader
//     that never beats still gets the follower's Heartbeats, one step late.
//
// Its goroutine runs while at least one link is registered: the first add
// starts it, it returns once the last link is removed, and wait blocks until
// it has.
type pulse struct {
	hb    time.Duration // heartbeat interval
	check time.Duration // grid step: timer resolution, and the follower's lag
	grace time.Duration // a link found silent gets this long to show a frame

	mu      sync.Mutex
	links   map[*link]struct{}
	running bool
	poke    chan struct{} // a link came or went: look again now
	wg      sync.WaitGroup
}

func newPulse(hb time.Duration) *pulse {
	return &pulse{
		hb:    hb,
		check: max(hb/4, 5*time.Millisecond),
		grace: max(hb/2, 20*time.Millisecond),
		links: make(map[*link]struct{}),
		poke:  make(chan struct{}, 1),
	}
}

// add puts l under the clock, starting the clock if it was idle.
func (p *pulse) add(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.links[l] = struct{}{}
	if !p.running {
		p.running = true
		p.wg.Add(1)
		go p.run()
		return
	}
	p.nudge()
}

// remove takes l off the clock; the clock stops after the last link.
func (p *pulse) remove(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	if len(p.links) == 0 {
		p.nudge()
	}
	p.mu.Unlock()
}

func (p *pulse) nudge() {
	select {
	case p.poke <- struct{}{}:
	default:
	}
}

// wait blocks until the clock's goroutine has returned (after the last link
// was removed).
func (p *pulse) wait() { p.wg.Wait() }

func (p *pulse) run() {
	defer p.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	var batch []*link
	for {
		select {
		case <-t.C:
		case <-p.poke:
		}
		p.mu.Lock()
		if len(p.links) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		batch = batch[:0]
		for l := range p.links {
			batch = append(batch, l)
		}
		p.mu.Unlock()
		now := time.Now().UnixNano()
		next := now + int64(p.hb)
		for _, l := range batch {
			next = min(next, p.tick(l, now))
		}
		clear(batch)
		// The first grid point at which next counts as reached (half a
		// step early, see tick): clocks on one machine fire together.
		step, slack := int64(p.check), int64(p.check/2)
		next = (next - slack + step - 1) / step * step
		if now = time.Now().UnixNano(); next <= now {
			// A silence deadline within half a step: look at the next
			// grid point rather than spin until it passes.
			next = (now/step + 1) * step
		}
		t.Reset(time.Duration(next - now))
	}
}

// tick does one link's work at now (unix ns) and returns when the link next
// needs the clock. It sends a Heartbeat when one is due, and closes the link
// when it has been silent for misses intervals and stays silent for the
// grace period after that. The grace lets a process that was itself stopped
// (SIGSTOP, a paused container), and so finds every link silent on resume,
// first read what its peers sent meanwhile.
//
// A time is taken as reached half a step early: the timer fires on the grid
// a little after or before the exact instant, and waiting a whole step more
// for a few microseconds would stretch the interval.
func (p *pulse) tick(l *link, now int64) (next int64) {
	if l.closed() {
		return now + int64(p.hb)
	}
	slack := int64(p.check / 2)
	lag := int64(0)
	if !l.lead {
		lag = int64(p.check)
	}
	due := l.lastBeat.Load() + int64(p.hb) + lag
	if now >= due-slack {
		if l.beat(now) != nil {
			return now + int64(p.hb)
		}
		due = now + int64(p.hb) + lag
	}
	dead := l.lastRecv.Load() + int64(l.deadTime())
	if now < dead {
		l.suspect = 0
		return min(due, dead)
	}
	if l.suspect == 0 {
		l.suspect = now
	}
	until := l.suspect + int64(p.grace)
	if now >= until-slack {
		l.close(protocol.ReasonHeartbeatTimeout)
		return now + int64(p.hb)
	}
	return min(due, until)
}
