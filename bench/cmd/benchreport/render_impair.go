package main

import (
	"fmt"
	"math"
)

// Goals of the impairment figures (docs/benchmarks.md, "Impairments"): at
// 50 ms each way the RTT is within ±1 ms (p50) and ±3 ms (p99) of 100 ms.
const (
	rttP50Goal = 1.0 // ms
	rttP99Goal = 3.0 // ms
)

// impairRows adds the rows of the impairment benchmarks (netlab,
// BenchmarkImpair*).
func impairRows(ix index, row func(measure, figure, goal, v string)) {
	for _, d := range []string{"1ms", "10ms", "50ms", "200ms"} {
		name := "BenchmarkImpairRTT/delay=" + d
		measure := "impairment: RTT through " + d + " each way, error vs configured"
		p50, ok := ix.get(name, "ms-p50-err")
		if !ok {
			row(measure, notMeasured, "", "")
			continue
		}
		p99, _ := ix.get(name, "ms-p99-err")
		lo, _ := ix.get(name, "ms-min-err")
		n, _ := ix.get(name, "probes")
		fig := fmt.Sprintf("p50 %+.2f ms, p99 %+.2f ms, min %+.2f ms (%.0f probes)", p50, p99, lo, n)
		if d == "50ms" {
			row(measure, fig, "p50 ±1 ms, p99 ±3 ms", verdict(math.Abs(p50) <= rttP50Goal && math.Abs(p99) <= rttP99Goal))
		} else {
			row(measure, fig, "(report)", "")
		}
	}
	for _, re := range []string{"false", "true"} {
		name := "BenchmarkImpairJitter/reorder=" + re
		measure := "impairment: 50 ms ± 10 ms jitter one way, reorder " + re
		sd, ok := ix.get(name, "ms-sd")
		if !ok {
			row(measure, notMeasured, "", "")
			continue
		}
		mean, _ := ix.get(name, "ms-mean")
		lo, _ := ix.get(name, "ms-min")
		hi, _ := ix.get(name, "ms-max")
		ro, _ := ix.get(name, "reordered")
		n, _ := ix.get(name, "probes")
		row(measure, fmt.Sprintf("mean %.2f ms, sd %.2f ms, min %.2f, max %.2f, %.0f of %.0f reordered", mean, sd, lo, hi, ro, n),
			"configured: uniform 40-60 ms, mean 50, sd 5.77", "")
	}
	if lost, ok := ix.get("BenchmarkImpairLossDup", "pct-lost"); ok {
		dup, _ := ix.get("BenchmarkImpairLossDup", "pct-dup")
		n, _ := ix.get("BenchmarkImpairLossDup", "packets")
		row("impairment: 10% loss + 10% duplication", fmt.Sprintf("%.2f%% lost, %.2f%% duplicated over %.0f packets", lost, dup, n), "10% and 10%", "")
	} else {
		row("impairment: 10% loss + 10% duplication", notMeasured, "", "")
	}
	if pps, ok := ix.get("BenchmarkImpairPPS", "pps-impaired"); ok {
		plain, _ := ix.get("BenchmarkImpairPPS", "pps-plain")
		us, _ := ix.get("BenchmarkImpairPPS", "us-cpu-per-pkt")
		core, _ := ix.get("BenchmarkImpairPPS", "pps-per-core")
		row("impairment: packets/s through a 1 ms stage (64 B UDP)", fmt.Sprintf("%.0f pps delivered (%.0f without the stage); %.1f µs CPU per packet = %.0f pps per core", pps, plain, us, core), "(report)", "")
	} else {
		row("impairment: packets/s through a 1 ms stage", notMeasured, "", "")
	}
	for _, w := range []string{"receiver", "sender"} {
		measure := "impairment: one TCP stream through 50 ms each way (on the " + w + ")"
		if v, ok := ix.get("BenchmarkImpairTCP/where="+w, "Mbit/s"); ok {
			row(measure, fmt.Sprintf("%.1f Mbit/s", v), "(report)", "")
		} else {
			row(measure, notMeasured, "", "")
		}
	}
}
