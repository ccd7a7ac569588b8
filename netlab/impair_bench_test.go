package netlab_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/netlab/netlabtest"
)

// The impairment benchmarks (docs/benchmarks.md, "Impairments"): honest
// figures of the NFQUEUE stages, measured on two netns hosts of one LAN.
// P2PLAB_BENCH_SMALL=1 cuts the counts tenfold (to try the tool).

// benchCount is n, or n/10 in a small run.
func benchCount(n int) int {
	if os.Getenv("P2PLAB_BENCH_SMALL") != "" {
		return n / 10
	}
	return n
}

// impairLab is a two-host netns lab for the impairment benchmarks.
func impairLab(b *testing.B) (*netlab.Host, *netlab.Host) {
	b.Helper()
	needRoot(b)
	ctx := context.Background()
	topo := netlab.Topology{
		LANs:  []netlab.LAN{{Name: "lan", Subnet: netip.MustParsePrefix("198.18.96.0/24")}},
		Hosts: []netlab.HostSpec{{Name: "a", NICs: []netlab.NIC{{LAN: "lan"}}}, {Name: "b", NICs: []netlab.NIC{{LAN: "lan"}}}},
	}
	l, err := netlab.New(ctx, netlab.NewNetns(), topo, netlab.Options{Dir: b.TempDir()})
	if l != nil {
		b.Cleanup(func() { _ = l.Close(ctx) })
	}
	if err != nil {
		b.Fatal(err)
	}
	return l.Host("a"), l.Host("b")
}

// load1 is the 1-minute load average.
func load1() float64 {
	var v float64
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscanf(string(data), "%f", &v)
	}
	return v
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// BenchmarkImpairRTT: delay d each way on a's NIC (Direction both), 1000
// UDP probes; the error of the measured RTT against 2d at p50 and p99.
func BenchmarkImpairRTT(b *testing.B) {
	a, h := impairLab(b)
	ctx := context.Background()
	for _, d := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond} {
		b.Run(fmt.Sprintf("delay=%v", d), func(b *testing.B) {
			undo, err := a.Delay(ctx, d, 0, netlab.Both)
			if err != nil {
				b.Fatal(err)
			}
			defer undo(ctx)
			n := max(benchCount(1000), 100)
			var r netlabtest.ProbeResult
			for b.Loop() {
				r, err = netlabtest.Probe(ctx, a, h, 9300, n, 2*time.Millisecond, time.Second)
				if err != nil {
					b.Fatal(err)
				}
			}
			want := 2 * d
			b.ReportMetric(float64(len(r.RTT)), "probes")
			b.ReportMetric(ms(netlabtest.Quantile(r.RTT, 0.5)-want), "ms-p50-err")
			b.ReportMetric(ms(netlabtest.Quantile(r.RTT, 0.99)-want), "ms-p99-err")
			b.ReportMetric(ms(netlabtest.Quantile(r.RTT, 0)-want), "ms-min-err")
			b.ReportMetric(load1(), "load1")
		})
	}
}

// BenchmarkImpairJitter: 50 ms ± 10 ms one way (a's out), with and
// without reordering; the measured one-way spread against the configured
// uniform distribution (standard deviation 10/sqrt(3) = 5.77 ms).
func BenchmarkImpairJitter(b *testing.B) {
	a, h := impairLab(b)
	ctx := context.Background()
	const d, j = 50 * time.Millisecond, 10 * time.Millisecond
	for _, reorder := range []bool{false, true} {
		b.Run(fmt.Sprintf("reorder=%v", reorder), func(b *testing.B) {
			undo, err := a.Impair(ctx, "", netlab.Impairment{Delay: d, Jitter: j, Reorder: reorder, Direction: netlab.Out})
			if err != nil {
				b.Fatal(err)
			}
			defer undo(ctx)
			n := max(benchCount(2000), 200)
			var r netlabtest.ProbeResult
			for b.Loop() {
				r, err = netlabtest.Probe(ctx, a, h, 9310, n, 5*time.Millisecond, time.Second)
				if err != nil {
					b.Fatal(err)
				}
			}
			var sum, sq float64
			for _, f := range r.Forward {
				sum += ms(f)
			}
			mean := sum / float64(len(r.Forward))
			for _, f := range r.Forward {
				sq += (ms(f) - mean) * (ms(f) - mean)
			}
			b.ReportMetric(mean, "ms-mean")
			b.ReportMetric(math.Sqrt(sq/float64(len(r.Forward))), "ms-sd")
			b.ReportMetric(ms(netlabtest.Quantile(r.Forward, 0)), "ms-min")
			b.ReportMetric(ms(netlabtest.Quantile(r.Forward, 0.5)), "ms-p50")
			b.ReportMetric(ms(netlabtest.Quantile(r.Forward, 1)), "ms-max")
			b.ReportMetric(float64(r.ReorderedAtB), "reordered")
			b.ReportMetric(float64(len(r.Forward)), "probes")
			b.ReportMetric(load1(), "load1")
		})
	}
}

// BenchmarkImpairLossDup: 10% loss and 10% duplication on a's out, over
// 10,000 probes.
func BenchmarkImpairLossDup(b *testing.B) {
	a, h := impairLab(b)
	ctx := context.Background()
	undo, err := a.Impair(ctx, "", netlab.Impairment{Loss: 10, Duplicate: 10, Direction: netlab.Out})
	if err != nil {
		b.Fatal(err)
	}
	defer undo(ctx)
	n := benchCount(10000)
	var r netlabtest.ProbeResult
	for b.Loop() {
		r, err = netlabtest.Probe(ctx, a, h, 9320, n, 200*time.Microsecond, time.Second)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(100*(1-float64(r.ArrivedAtB)/float64(n)), "pct-lost")
	b.ReportMetric(100*float64(r.CopiesAtB-r.ArrivedAtB)/float64(r.ArrivedAtB), "pct-dup")
	b.ReportMetric(float64(n), "packets")
	b.ReportMetric(load1(), "load1")
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// blast sends 64-byte UDP datagrams from a to b for d, as fast as one
// goroutine can, and returns how many b received and the CPU time the
// process used.
func blast(b *testing.B, a, h *netlab.Host, port uint16, d time.Duration) (int, time.Duration) {
	ctx := context.Background()
	dst := netip.AddrPortFrom(h.Addr(), port)
	var rx, tx *net.UDPConn
	if err := h.Do(ctx, func() (err error) {
		rx, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	if err := a.Do(ctx, func() (err error) {
		tx, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, err := rx.Read(buf); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	msg := make([]byte, 64)
	c0 := cpuTime()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for range 64 {
			_, _ = tx.Write(msg)
		}
	}
	time.Sleep(200 * time.Millisecond) // the 1 ms stage drains
	cpu := cpuTime() - c0
	rx.Close()
	<-done
	return int(got.Load()), cpu
}

// BenchmarkImpairPPS: packets per second through a 1 ms delay stage (a's
// out) at saturation, and the stage's CPU cost per packet (the process's
// CPU per delivered packet, less the same without the stage).
func BenchmarkImpairPPS(b *testing.B) {
	a, h := impairLab(b)
	ctx := context.Background()
	const d = 2 * time.Second
	var base, imp int
	var baseCPU, impCPU time.Duration
	for b.Loop() {
		base, baseCPU = blast(b, a, h, 9330, d)
		undo, err := a.Delay(ctx, time.Millisecond, 0, netlab.Out)
		if err != nil {
			b.Fatal(err)
		}
		imp, impCPU = blast(b, a, h, 9331, d)
		_ = undo(ctx)
	}
	perPkt := float64(impCPU)/float64(max(imp, 1)) - float64(baseCPU)/float64(max(base, 1))
	b.ReportMetric(float64(imp)/d.Seconds(), "pps-impaired")
	b.ReportMetric(float64(base)/d.Seconds(), "pps-plain")
	b.ReportMetric(perPkt/1e3, "us-cpu-per-pkt")
	if perPkt > 0 {
		b.ReportMetric(1e9/perPkt, "pps-per-core")
	}
	b.ReportMetric(load1(), "load1")
}

// BenchmarkImpairTCP: one TCP stream from a to b for 5 s through 50 ms
// each way (RTT 100 ms), put on the receiver's NIC (where=receiver) or on
// the sender's (where=sender: its held packets still count against the
// socket's TCP small queues limit, see docs/netlab.md).
func BenchmarkImpairTCP(b *testing.B) {
	a, h := impairLab(b)
	ctx := context.Background()
	for i, where := range []string{"receiver", "sender"} {
		b.Run("where="+where, func(b *testing.B) {
			on := h
			if where == "sender" {
				on = a
			}
			undo, err := on.Delay(ctx, 50*time.Millisecond, 0, netlab.Both)
			if err != nil {
				b.Fatal(err)
			}
			defer undo(ctx)
			var bytes int64
			d := 5 * time.Second
			if os.Getenv("P2PLAB_BENCH_SMALL") != "" {
				d = 2 * time.Second
			}
			for b.Loop() {
				bytes = tcpStream(b, a, h, uint16(9340+i), d)
			}
			b.ReportMetric(float64(bytes)*8/d.Seconds()/1e6, "Mbit/s")
			b.ReportMetric(load1(), "load1")
		})
	}
}

// tcpStream sends from a to b on one TCP connection for d and returns the
// bytes b received.
func tcpStream(b *testing.B, a, h *netlab.Host, port uint16, d time.Duration) int64 {
	ctx := context.Background()
	dst := netip.AddrPortFrom(h.Addr(), port)
	var ln net.Listener
	if err := h.Do(ctx, func() (err error) {
		ln, err = net.Listen("tcp4", dst.String())
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	var c net.Conn
	if err := a.Do(ctx, func() (err error) {
		c, err = (&net.Dialer{Timeout: 10 * time.Second}).Dial("tcp4", dst.String())
		return err
	}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	_ = c.SetWriteDeadline(time.Now().Add(d))
	for {
		if _, err := c.Write(buf); err != nil {
			break
		}
	}
	c.Close()
	return <-got
}
