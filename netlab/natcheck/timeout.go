package natcheck

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// TimeoutConfig tunes MeasureUDPTimeout.
type TimeoutConfig struct {
	// Step is how often the probe sends toward the mapping (default 50ms);
	// it bounds the measurement's resolution.
	Step time.Duration
	// Max bounds the measurement (default 5m).
	Max time.Duration
	// Refresh, if not 0, makes the client send outbound every Refresh for
	// Hold before it falls silent.
	Refresh, Hold time.Duration
}

// TimeoutResult is a measured UDP mapping lifetime.
type TimeoutResult struct {
	// Lifetime is how long inbound datagrams kept arriving after the
	// client's last outbound one.
	Lifetime time.Duration
	// Alive is how long they kept arriving after the first one.
	Alive time.Duration
	// MaxGap is the longest time without an inbound datagram while the
	// mapping lived (about Step when nothing was lost).
	MaxGap time.Duration
	// Received counts the inbound datagrams.
	Received int
}

// MeasureUDPTimeout measures how long a UDP mapping of the client lives:
// the client sends to the primary probe endpoint (every Refresh for Hold,
// or once), the probe sends back toward the mapped endpoint every Step
// (inbound does not refresh a mapping, RFC 4787 REQ-6), and the mapping is
// gone when nothing has arrived for 20 Steps (and at least a second).
func MeasureUDPTimeout(ctx context.Context, client *netlab.Host, p *Probe, cfg TimeoutConfig) (TimeoutResult, error) {
	if cfg.Step <= 0 {
		cfg.Step = 50 * time.Millisecond
	}
	if cfg.Max <= 0 {
		cfg.Max = 5 * time.Minute
	}
	var r TimeoutResult
	s, err := udpSocket(ctx, client)
	if err != nil {
		return r, err
	}
	defer s.Close()
	x, err := p.mapped(s, 0, "timeout", 5*time.Second)
	if err != nil {
		return r, fmt.Errorf("natcheck: timeout from %s: %w", client.Name(), err)
	}
	first := time.Now()
	var mu sync.Mutex
	lastOut := first
	ctx, cancel := context.WithTimeout(ctx, cfg.Max)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() { // the probe's inbound stream, and the client's refreshes
		defer wg.Done()
		t := time.NewTicker(cfg.Step)
		defer t.Stop()
		var refresh <-chan time.Time
		var hold <-chan time.Time
		if cfg.Refresh > 0 {
			rt := time.NewTicker(cfg.Refresh)
			defer rt.Stop()
			refresh = rt.C
			hold = time.After(cfg.Hold)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_, _ = p.udp[0].WriteToUDPAddrPort([]byte("in"), x)
			case <-refresh:
				if _, err := s.WriteToUDPAddrPort([]byte("refresh"), p.eps[0]); err == nil {
					mu.Lock()
					lastOut = time.Now()
					mu.Unlock()
				}
			case <-hold:
				refresh = nil
			}
		}
	}()
	gap := max(20*cfg.Step, time.Second)
	last := first
	buf := make([]byte, 64)
	for {
		_ = s.SetReadDeadline(time.Now().Add(gap))
		n, _, err := s.ReadFromUDPAddrPort(buf)
		now := time.Now()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() && ctx.Err() == nil {
				break // gone
			}
			if ctx.Err() != nil {
				return r, fmt.Errorf("natcheck: timeout from %s: mapping still alive after %s: %w", client.Name(), cfg.Max, ctx.Err())
			}
			return r, err
		}
		if string(buf[:n]) != "in" {
			continue
		}
		r.Received++
		r.MaxGap = max(r.MaxGap, now.Sub(last))
		last = now
	}
	mu.Lock()
	r.Lifetime = last.Sub(lastOut)
	mu.Unlock()
	r.Alive = last.Sub(first)
	return r, nil
}
