package main

import (
	"strings"
	"testing"
)

// TestPunchRows: BenchmarkPunch and BenchmarkChannelCost lines become
// their rows; the UDP punch is judged against 3 round trips.
func TestPunchRows(t *testing.T) {
	out := `BenchmarkPunch/method=direct-2         	       1	         4.140 load1	       105.1 ms-ladder-p50	       107.0 ms-ladder-p99	        40.00 ms-rtt	        83.39 ms-rung-p50	        85.07 ms-rung-p99	         2.085 rtt-rung-p50	         5.000 samples
BenchmarkPunch/method=udp-punch-2      	       1	         4.210 load1	      2177 ms-ladder-p50	      2186 ms-ladder-p99	        40.00 ms-rtt	       132.18 ms-rung-p50	        92.69 ms-rung-p99	         3.305 rtt-rung-p50	         5.000 samples
BenchmarkChannelCost/transport=tcp-2   	       1	         0.2253 MB-rss-channel	        22.45 MB-rss-client	      1527 chats/s	         0 cores-idle-channel	       450.0 cpu-ms/1000chats	         3.730 load1
BenchmarkChannelCost/transport=udp-2   	       1	         1.532 MB-rss-channel	        23.82 MB-rss-client	      1263 chats/s	         0.007998 cores-idle-channel	       400.0 cpu-ms/1000chats	         3.430 load1
`
	ix := indexOf([]*stepResult{{benches: parseBenches(out)}})
	var rows []string
	punchRows(ix, func(m, f, g, v string) { rows = append(rows, m+" | "+f+" | "+g+" | "+v) })
	all := strings.Join(rows, "\n")
	for _, want := range []string{
		"channel by direct across two NATs, 40 ms round trip | attempt to open: p50 83 / p99 85 ms (p50 2.1 round trips); login to open (the whole ladder): p50 105 / p99 107 ms (5 samples) | (report) | \n",
		"channel by tcp-punch across two NATs | " + notMeasured,
		"channel by udp-punch across two NATs, 40 ms round trip | attempt to open: p50 132 / p99 93 ms (p50 3.3 round trips)",
		"p50 <= 3 round trips | **missed**",
		"acceptor RSS +1.53 MB vs +0.23 MB (client 23.8 vs 22.4 MB); idle CPU 0.0080 vs 0.0000 cores (both clients); 1263 vs 1527 chats/s, 400 vs 450 CPU ms per 1000 chats",
	} {
		if !strings.Contains(all+"\n", want) {
			t.Errorf("rows lack %q:\n%s", want, all)
		}
	}
}
