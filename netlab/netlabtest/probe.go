package netlabtest

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// ProbeResult is what Probe measured. Both hosts' sockets belong to this
// process, so one clock times both ends: one-way delays are real, not
// halves of round trips.
type ProbeResult struct {
	// Sent is the number of probes sent.
	Sent int
	// Forward and Back are the one-way delays (a to b, b to a) of every
	// first copy that made the round trip, in probe order; RTT their sums.
	Forward, Back, RTT []time.Duration
	// ArrivedAtB counts the probes b received at least once; CopiesAtB
	// every datagram b received (duplicates included).
	ArrivedAtB, CopiesAtB int
	// Returned counts the probes whose echo reached a; CopiesAtA every echo
	// a received.
	Returned, CopiesAtA int
	// ReorderedAtB counts probes b received after a later one.
	ReorderedAtB int
}

// probe is the wire form: sequence number, a's send time, b's receive
// time (nanoseconds since the probe's start).
const probeLen = 4 + 8 + 8

// Probe sends n UDP probes from a to an echo socket on b:port, one every
// interval, and times each way. It waits for stragglers until quiet has
// passed with nothing arriving after the last send.
func Probe(ctx context.Context, a, b *netlab.Host, port uint16, n int, interval, quiet time.Duration) (ProbeResult, error) {
	res := ProbeResult{Sent: n}
	dst := netip.AddrPortFrom(b.Addr(), port)
	var srv, cli *net.UDPConn
	if err := b.Do(ctx, func() (err error) {
		srv, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		return res, fmt.Errorf("probe: listen on %s: %w", b.Name(), err)
	}
	defer srv.Close()
	if err := a.Do(ctx, func() (err error) {
		cli, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		return res, fmt.Errorf("probe: dial from %s: %w", a.Name(), err)
	}
	defer cli.Close()
	for _, c := range []*net.UDPConn{srv, cli} {
		if rc, err := c.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 8<<20)
			})
		}
	}
	base := time.Now()
	since := func() int64 { return int64(time.Since(base)) }

	atB := make([]int, n)
	var bmu sync.Mutex
	srvDone := make(chan struct{})
	go func() { // echo on b, stamping its receive time
		defer close(srvDone)
		buf := make([]byte, 256)
		maxSeq := -1
		for {
			m, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			now := since()
			if m != probeLen {
				continue
			}
			seq := int(binary.BigEndian.Uint32(buf))
			if seq >= n {
				continue
			}
			bmu.Lock()
			if atB[seq] == 0 {
				res.ArrivedAtB++
				if seq < maxSeq {
					res.ReorderedAtB++
				}
				maxSeq = max(maxSeq, seq)
			}
			atB[seq]++
			res.CopiesAtB++
			bmu.Unlock()
			binary.BigEndian.PutUint64(buf[12:], uint64(now))
			_, _ = srv.WriteToUDPAddrPort(buf[:m], from)
		}
	}()

	fwd := make([]time.Duration, n)
	back := make([]time.Duration, n)
	got := make([]bool, n)
	var lastArrival time.Time
	var amu sync.Mutex
	cliDone := make(chan struct{})
	go func() { // a receives the echoes
		defer close(cliDone)
		buf := make([]byte, 256)
		for {
			m, err := cli.Read(buf)
			if err != nil {
				return
			}
			now := since()
			if m != probeLen {
				continue
			}
			seq := int(binary.BigEndian.Uint32(buf))
			if seq >= n {
				continue
			}
			sent := int64(binary.BigEndian.Uint64(buf[4:]))
			recv := int64(binary.BigEndian.Uint64(buf[12:]))
			amu.Lock()
			res.CopiesAtA++
			if !got[seq] {
				got[seq] = true
				res.Returned++
				fwd[seq] = time.Duration(recv - sent)
				back[seq] = time.Duration(now - recv)
			}
			lastArrival = time.Now()
			amu.Unlock()
		}
	}()

	buf := make([]byte, probeLen)
	next := time.Now()
	var serr error
	for i := range n {
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				serr = ctx.Err()
			}
		}
		if serr != nil {
			break
		}
		next = next.Add(interval)
		binary.BigEndian.PutUint32(buf, uint32(i))
		binary.BigEndian.PutUint64(buf[4:], uint64(since()))
		if _, err := cli.Write(buf); err != nil {
			serr = fmt.Errorf("probe %d: %w", i, err)
			break
		}
	}
	// wait until quiet has passed since the last send and the last echo
	lastSend := time.Now()
	for serr == nil {
		amu.Lock()
		last := lastArrival
		done := res.Returned == n
		amu.Unlock()
		if last.Before(lastSend) {
			last = lastSend
		}
		wait := time.Until(last.Add(quiet))
		if done {
			wait = min(wait, 50*time.Millisecond) // copies may still come
		}
		if wait <= 0 {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			serr = ctx.Err()
		}
	}
	srv.Close()
	cli.Close()
	<-srvDone
	<-cliDone
	for i := range n {
		if got[i] {
			res.Forward = append(res.Forward, fwd[i])
			res.Back = append(res.Back, back[i])
			res.RTT = append(res.RTT, fwd[i]+back[i])
		}
	}
	return res, serr
}

// Quantile is the q-quantile (0-1) of ds (nearest rank), 0 if empty.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s)-1) + 0.5)
	return s[min(max(i, 0), len(s)-1)]
}
