package main

import (
	"strings"
	"testing"
)

// TestImpairRows: the impairment benchmarks' lines become their rows, and
// the 50 ms goal is judged on both percentiles.
func TestImpairRows(t *testing.T) {
	out := `BenchmarkImpairRTT/delay=50ms-2   	1	1300129342 ns/op	4.000 load1	0.2490 ms-min-err	0.31 ms-p50-err	3.5 ms-p99-err	1000 probes
BenchmarkImpairRTT/delay=10ms-2   	1	1300129342 ns/op	4.000 load1	0.2490 ms-min-err	0.31 ms-p50-err	1.5 ms-p99-err	1000 probes
BenchmarkImpairLossDup-2          	1	1200480900 ns/op	4.970 load1	10000 packets	10.1 pct-dup	9.9 pct-lost
BenchmarkImpairTCP/where=sender-2 	1	2198366673 ns/op	129.7 Mbit/s	5.010 load1
`
	ix := indexOf([]*stepResult{{benches: parseBenches(out)}})
	var rows []string
	impairRows(ix, func(m, f, g, v string) { rows = append(rows, m+" | "+f+" | "+g+" | "+v) })
	all := strings.Join(rows, "\n")
	for _, want := range []string{
		"RTT through 50ms each way, error vs configured | p50 +0.31 ms, p99 +3.50 ms, min +0.25 ms (1000 probes) | p50 ±1 ms, p99 ±3 ms | **missed**",
		"RTT through 10ms each way, error vs configured | p50 +0.31 ms, p99 +1.50 ms",
		"9.90% lost, 10.10% duplicated over 10000 packets",
		"on the sender) | 129.7 Mbit/s",
		"RTT through 200ms each way, error vs configured | " + notMeasured,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("rows lack %q:\n%s", want, all)
		}
	}
}
