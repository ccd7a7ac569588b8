package netlabtest

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// The impairment specs prove each impairment by measurement: one-way delays
// timed at both ends (one process, one clock), loss and duplication counted
// per probe, rate by a transfer's time. Bounds are statistical (4 standard
// deviations for rates of random events) or one-sided where physics allows
// (a delayed packet never arrives early), so a busy 2-core machine slows
// the measurement without failing it.

// slack is what a busy machine may add to a one-way delay at the median.
const slack = 15 * time.Millisecond

// testImpair runs the impairment specs between a and b (two hosts of one
// LAN, nothing else impaired), and the topology-declared one on a lab of
// its own.
func testImpair(t *testing.T, newBackend func() netlab.Backend, opts netlab.Options, a, b *netlab.Host) {
	t.Run("DelayOut", func(t *testing.T) { testDelayDir(t, a, b, netlab.Out, 7200) })
	t.Run("DelayIn", func(t *testing.T) { testDelayDir(t, a, b, netlab.In, 7201) })
	t.Run("DelayBoth", func(t *testing.T) { testDelayDir(t, a, b, netlab.Both, 7202) })
	t.Run("Jitter", func(t *testing.T) { testJitter(t, a, b) })
	t.Run("LossDirection", func(t *testing.T) { testLossDir(t, a, b) })
	t.Run("Duplicate", func(t *testing.T) { testDuplicate(t, a, b) })
	t.Run("RateIn", func(t *testing.T) { testRateIn(t, a, b) })
	t.Run("TCPThroughDelay", func(t *testing.T) { testTCPThroughDelay(t, a, b) })
	t.Run("Flap", func(t *testing.T) { testFlap(t, a, b) })
	t.Run("BadInput", func(t *testing.T) { testImpairBadInput(t, a) })
	t.Run("Declared", func(t *testing.T) { testImpairDeclared(t, newBackend, opts) })
}

// impair applies im to h's every NIC and registers the undo.
func impair(t *testing.T, h *netlab.Host, im netlab.Impairment) netlab.Undo {
	t.Helper()
	ctx := context.Background()
	undo, err := h.Impair(ctx, "", im)
	if err != nil {
		t.Fatalf("impair %s: %v", h.Name(), err)
	}
	t.Cleanup(func() { _ = undo(ctx) })
	return undo
}

// probe runs Probe with a deadline and fails the test on error.
func probe(t *testing.T, a, b *netlab.Host, port uint16, n int, interval time.Duration) ProbeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Probe(ctx, a, b, port, n, interval, time.Second)
	if err != nil {
		t.Fatalf("probe %s -> %s: %v", a.Name(), b.Name(), err)
	}
	return r
}

// checkDelay says whether one way's delays fit a configured delay: none
// earlier than it (less a millisecond of clock granularity), the median
// within slack above it.
func checkDelay(t *testing.T, what string, ds []time.Duration, want time.Duration) {
	t.Helper()
	lo, p50 := Quantile(ds, 0), Quantile(ds, 0.5)
	t.Logf("%s: configured %v, measured min %v p50 %v p99 %v", what, want, lo, p50, Quantile(ds, 0.99))
	if lo < want-time.Millisecond {
		t.Errorf("%s: a packet took %v, less than the configured %v", what, lo, want)
	}
	if p50 > want+slack {
		t.Errorf("%s: median %v, want at most %v + %v", what, p50, want, slack)
	}
}

// testDelayDir delays a's NIC in one direction and measures both ways: the
// delayed way carries the delay, the other does not.
func testDelayDir(t *testing.T, a, b *netlab.Host, dir netlab.Direction, port uint16) {
	const d = 30 * time.Millisecond
	undo := impair(t, a, netlab.Impairment{Delay: d, Direction: dir})
	r := probe(t, a, b, port, 100, 5*time.Millisecond)
	if r.Returned < 95 {
		t.Fatalf("%d of 100 probes returned", r.Returned)
	}
	wantF, wantB := time.Duration(0), time.Duration(0)
	if dir != netlab.In {
		wantF = d
	}
	if dir != netlab.Out {
		wantB = d
	}
	checkDelay(t, "a->b", r.Forward, wantF)
	checkDelay(t, "b->a", r.Back, wantB)
	checkDelay(t, "rtt", r.RTT, wantF+wantB)
	if err := undo(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = probe(t, a, b, port, 50, 5*time.Millisecond)
	if p50 := Quantile(r.RTT, 0.5); r.Returned < 48 || p50 >= d {
		t.Errorf("after undo: %d of 50 returned, rtt p50 %v (want < %v)", r.Returned, p50, d)
	}
}

// testJitter checks the spread of a jittered delay, that order is kept
// without Reorder, and that packets overtake each other with it.
func testJitter(t *testing.T, a, b *netlab.Host) {
	const d, j = 40 * time.Millisecond, 20 * time.Millisecond
	undo := impair(t, a, netlab.Impairment{Delay: d, Jitter: j, Direction: netlab.Out})
	r := probe(t, a, b, 7210, 300, 10*time.Millisecond)
	lo, p10, p90, hi := Quantile(r.Forward, 0), Quantile(r.Forward, 0.1), Quantile(r.Forward, 0.9), Quantile(r.Forward, 1)
	t.Logf("delay %v jitter %v, order kept: min %v p10 %v p50 %v p90 %v max %v, reordered %d", d, j, lo, p10, Quantile(r.Forward, 0.5), p90, hi, r.ReorderedAtB)
	if lo < d-j-time.Millisecond {
		t.Errorf("a packet took %v, less than delay - jitter = %v", lo, d-j)
	}
	// uniform over 40 ms: p90 - p10 is 32 ms; order keeping narrows it a
	// little, a busy machine widens it
	if p90-p10 < j/2 {
		t.Errorf("p90 - p10 = %v, want at least %v for a jitter of %v", p90-p10, j/2, j)
	}
	if r.ReorderedAtB != 0 {
		t.Errorf("%d probes reordered without Reorder", r.ReorderedAtB)
	}
	if err := undo(context.Background()); err != nil {
		t.Fatal(err)
	}
	impair(t, a, netlab.Impairment{Delay: d, Jitter: j, Reorder: true, Direction: netlab.Out})
	r = probe(t, a, b, 7211, 300, time.Millisecond)
	t.Logf("with reorder: p10 %v p90 %v, reordered %d of %d", Quantile(r.Forward, 0.1), Quantile(r.Forward, 0.9), r.ReorderedAtB, r.ArrivedAtB)
	if r.ReorderedAtB < 30 {
		t.Errorf("%d of %d probes reordered with Reorder and 1 ms between probes over a 40 ms spread, want at least 30", r.ReorderedAtB, r.ArrivedAtB)
	}
}

// within4sd checks a measured proportion against p over n trials.
func within4sd(t *testing.T, what string, got, p float64, n int) {
	t.Helper()
	sd := math.Sqrt(p * (1 - p) / float64(n))
	t.Logf("%s: %.2f%% measured over %d, configured %.2f%%", what, 100*got, n, 100*p)
	if math.Abs(got-p) > 4*sd+0.005 {
		t.Errorf("%s: %.2f%% measured over %d, want %.2f%% +- %.2f", what, 100*got, n, 100*p, 100*(4*sd+0.005))
	}
}

// testLossDir drops 30% of what a sends: probes are lost on the way out,
// echoes of those that arrive all come back.
func testLossDir(t *testing.T, a, b *netlab.Host) {
	const n = 1000
	ctx := context.Background()
	undo, err := a.LossDir(ctx, 30, netlab.Out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = undo(ctx) })
	r := probe(t, a, b, 7220, n, time.Millisecond)
	within4sd(t, "loss out", 1-float64(r.ArrivedAtB)/n, 0.30, n)
	if r.Returned != r.ArrivedAtB {
		t.Errorf("%d probes arrived at b but %d echoes came back: the in direction lost packets", r.ArrivedAtB, r.Returned)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	undo, err = a.LossDir(ctx, 30, netlab.In)
	if err != nil {
		t.Fatal(err)
	}
	r = probe(t, a, b, 7221, n, time.Millisecond)
	if r.ArrivedAtB < n-5 {
		t.Errorf("loss in: %d of %d probes arrived at b, want all: the out direction lost packets", r.ArrivedAtB, n)
	}
	within4sd(t, "loss in", 1-float64(r.Returned)/float64(r.ArrivedAtB), 0.30, r.ArrivedAtB)
	_ = undo(ctx)
}

// testDuplicate duplicates 25% of what b receives: b sees the copies, a
// sends one of each.
func testDuplicate(t *testing.T, a, b *netlab.Host) {
	const n = 1000
	ctx := context.Background()
	undo, err := b.Duplicate(ctx, 25, netlab.In)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = undo(ctx) })
	r := probe(t, a, b, 7230, n, time.Millisecond)
	if r.ArrivedAtB < n-5 {
		t.Fatalf("%d of %d probes arrived", r.ArrivedAtB, n)
	}
	within4sd(t, "duplicate in", float64(r.CopiesAtB-r.ArrivedAtB)/float64(r.ArrivedAtB), 0.25, r.ArrivedAtB)
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	r = probe(t, a, b, 7231, 200, time.Millisecond)
	if r.CopiesAtB != r.ArrivedAtB {
		t.Errorf("after undo: %d copies of %d probes", r.CopiesAtB, r.ArrivedAtB)
	}
	// out: a sends the copies (its own packets go through the copy path)
	undo, err = a.Duplicate(ctx, 25, netlab.Out)
	if err != nil {
		t.Fatal(err)
	}
	r = probe(t, a, b, 7232, n, time.Millisecond)
	if r.ArrivedAtB < n-5 {
		t.Fatalf("out: %d of %d probes arrived", r.ArrivedAtB, n)
	}
	within4sd(t, "duplicate out", float64(r.CopiesAtB-r.ArrivedAtB)/float64(r.ArrivedAtB), 0.25, r.ArrivedAtB)
	if r.CopiesAtA != r.CopiesAtB {
		t.Errorf("out: b echoed %d datagrams, a got %d: the way back was impaired", r.CopiesAtB, r.CopiesAtA)
	}
	_ = undo(ctx)
}

// testRateIn limits what b receives (no qdisc can: this is the queue's
// rate) and times a transfer into b.
func testRateIn(t *testing.T, a, b *netlab.Host) {
	checkRateLimit(t, "rate in", a, b, 7240, func(bits uint64) (netlab.Undo, error) {
		return b.RateDir(context.Background(), bits, netlab.In)
	})
}

// checkRateLimit applies a 4 Mbit/s limit with apply and times 500 kB from
// a to b on port (within 0.5x-1.3x of the limit), then undoes it and times
// them again on port+1 (well above the limit).
func checkRateLimit(t *testing.T, what string, a, b *netlab.Host, port uint16, apply func(bits uint64) (netlab.Undo, error)) {
	t.Helper()
	ctx := context.Background()
	const bits, size = 4_000_000, 500_000 // 500 kB/s
	undo, err := apply(bits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = undo(ctx) })
	d := transfer(t, a, b, port, size)
	rate := float64(size*8) / d.Seconds()
	t.Logf("%s %d bit/s: %d bytes in %v = %.0f bit/s", what, bits, size, d, rate)
	if rate > 1.3*bits || rate < 0.5*bits {
		t.Errorf("%s %d bit/s: measured %.0f bit/s, want within 0.5x-1.3x", what, bits, rate)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if free := float64(size*8) / transfer(t, a, b, port+1, size).Seconds(); free < 3*bits {
		t.Errorf("after %s undo: %.0f bit/s, want well above the old limit of %d", what, free, bits)
	}
}

// testTCPThroughDelay sends a TCP stream out of a delayed sender: its
// packets must not stay charged to the socket while they wait (TCP small
// queues would then hold the stream to a few segments per delay).
func testTCPThroughDelay(t *testing.T, a, b *netlab.Host) {
	impair(t, a, netlab.Impairment{Delay: 20 * time.Millisecond})
	const size = 2_000_000
	d := transfer(t, a, b, 7245, size)
	rate := float64(size*8) / d.Seconds()
	t.Logf("TCP through 20 ms each way on the sender: %d bytes in %v = %.1f Mbit/s", size, d, rate/1e6)
	if rate < 8e6 {
		t.Errorf("TCP through 20 ms each way on the sender: %.1f Mbit/s, want at least 8", rate/1e6)
	}
}

// testFlap flaps b's link twice while probes run: probes are lost while it
// is down, none after the flap ends.
func testFlap(t *testing.T, a, b *netlab.Host) {
	ctx := context.Background()
	f, err := b.Flap(ctx, netlab.Flap{Down: 400 * time.Millisecond, Up: 600 * time.Millisecond, Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Undo(ctx) })
	r := probe(t, a, b, 7250, 150, 10*time.Millisecond) // 1.5 s
	lost := r.Sent - r.ArrivedAtB
	t.Logf("flap 2 x (400ms down, 600ms up): %d of %d probes lost", lost, r.Sent)
	if lost < 20 {
		t.Errorf("%d of %d probes lost during a flap with 800 ms down, want at least 20", lost, r.Sent)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := f.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	r = probe(t, a, b, 7252, 100, time.Millisecond)
	if r.ArrivedAtB != r.Sent {
		t.Errorf("after the flap: %d of %d probes arrived", r.ArrivedAtB, r.Sent)
	}
}

// testImpairBadInput checks that bad impairments are refused, naming the
// field, and that nothing is made for them.
func testImpairBadInput(t *testing.T, h *netlab.Host) {
	ctx := context.Background()
	for _, im := range []netlab.Impairment{
		{Delay: -time.Millisecond},
		{Delay: time.Hour},
		{Delay: time.Millisecond, Jitter: 2 * time.Millisecond},
		{Loss: 101},
		{Duplicate: -1},
		{Rate: 10},
		{Delay: time.Millisecond, Direction: "sideways"},
	} {
		undo, err := h.Impair(ctx, "", im)
		var ie *netlab.ImpairmentError
		if err == nil {
			_ = undo(ctx)
			t.Errorf("%+v: accepted", im)
			continue
		}
		if !errors.Is(err, netlab.ErrBadImpairment) || !errors.As(err, &ie) {
			t.Errorf("%+v: %v, want an ImpairmentError", im, err)
		}
	}
	if _, err := h.Impair(ctx, "no-such-lan", netlab.Impairment{Delay: time.Millisecond}); !errors.Is(err, netlab.ErrBadImpairment) {
		t.Errorf("impair on a LAN the host is not on: %v", err)
	}
	if _, err := h.Flap(ctx, netlab.Flap{Down: 0, Up: time.Second, Count: 1}); !errors.Is(err, netlab.ErrBadFlap) {
		t.Errorf("flap with no down time: %v", err)
	}
}

// testImpairDeclared brings up a lab whose topology delays NICs (a host's
// only NIC, a NIC given by LAN, a router's NIC, whose forwarded packets are
// held rather than copied) and checks each delay is there from the start
// (and, through start's leak check, that Close removes it).
func testImpairDeclared(t *testing.T, newBackend func() netlab.Backend, opts netlab.Options) {
	topo := netlab.Topology{
		LANs: []netlab.LAN{
			{Name: "lan", Subnet: netip.MustParsePrefix("198.18.44.0/24")},
			{Name: "far", Subnet: netip.MustParsePrefix("198.18.45.0/24")},
		},
		Hosts: []netlab.HostSpec{
			{Name: "slow", NICs: []netlab.NIC{{LAN: "lan", Impair: &netlab.Impairment{Delay: 20 * time.Millisecond, Direction: netlab.Out}}}},
			{Name: "peer", Impair: &netlab.Impairment{Delay: 10 * time.Millisecond, Direction: netlab.In}, NICs: []netlab.NIC{{LAN: "lan"}}},
			{Name: "r", Router: true, NICs: []netlab.NIC{{LAN: "lan"}, {LAN: "far", Impair: &netlab.Impairment{Delay: 15 * time.Millisecond, Direction: netlab.Out}}}},
			{Name: "far1", NICs: []netlab.NIC{{LAN: "far"}}},
		},
	}
	l := start(t, newBackend(), topo, opts)
	r := probe(t, l.Host("slow"), l.Host("peer"), 7260, 100, 5*time.Millisecond)
	checkDelay(t, "slow->peer (20ms out + 10ms in)", r.Forward, 30*time.Millisecond)
	checkDelay(t, "peer->slow", r.Back, 0)
	r = probe(t, l.Host("peer"), l.Host("far1"), 7261, 100, 5*time.Millisecond)
	if r.Returned < 95 {
		t.Fatalf("peer -> far1 through r: %d of 100 probes returned", r.Returned)
	}
	checkDelay(t, "peer->far1 (forwarded, 15ms out on r's far NIC)", r.Forward, 15*time.Millisecond)
	checkDelay(t, "far1->peer (10ms in on peer)", r.Back, 10*time.Millisecond)
}
