package main

import "testing"

func TestParseBenches(t *testing.T) {
	out := `goos: linux
BenchmarkBringUp/hosts=10-2         	       5	  43210000 ns/op
BenchmarkMesh/clients=10-2         	       1	        17.07 MB-rss-client-avg	        45.00 channels	         0.2647 s-mesh-from-last-start
BenchmarkRelay-2   	  200000	      4321 ns/op	  45.6 MB/s	 1234 msgs/s	 100 B/op	 2 allocs/op
BenchmarkBad/x-2 	 notanumber 	 1 ns/op
--- BENCH: BenchmarkMesh/clients=10-2
    mesh_test.go:149: clients=10: ...
--- SKIP: BenchmarkDockerBringUp
    bench_test.go:20: no Docker engine answers
PASS
`
	bs := parseBenches(out)
	if len(bs) != 3 {
		t.Fatalf("got %d benchmarks, want 3: %+v", len(bs), bs)
	}
	for _, tc := range []struct {
		i    int
		name string
		unit string
		v    float64
	}{
		{0, "BenchmarkBringUp/hosts=10", "ns/op", 43210000},
		{1, "BenchmarkMesh/clients=10", "s-mesh-from-last-start", 0.2647},
		{2, "BenchmarkRelay", "msgs/s", 1234},
	} {
		b := bs[tc.i]
		if b.Name != tc.name || b.Metrics[tc.unit] != tc.v {
			t.Errorf("benchmark %d = %s %v, want %s with %s=%v", tc.i, b.Name, b.Metrics, tc.name, tc.unit, tc.v)
		}
	}
	if s := parseSkips(out); len(s) != 1 || s[0] != "BenchmarkDockerBringUp: bench_test.go:20: no Docker engine answers" {
		t.Errorf("skips = %q", s)
	}
}

func TestRewrite(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"no markers", "# Benchmarks\n\n## netlab\nkept\n", "# Benchmarks\n\n" + beginMarker + "\nNEW\n" + endMarker + "\n\n## netlab\nkept\n"},
		{"markers", "# Benchmarks\n\n" + beginMarker + "\nOLD\n" + endMarker + "\n\n## netlab\nkept\n", "# Benchmarks\n\n" + beginMarker + "\nNEW\n" + endMarker + "\n\n## netlab\nkept\n"},
		{"empty", "", "# Benchmarks\n\n" + beginMarker + "\nNEW\n" + endMarker + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := replaceSection(tc.in, "NEW\n"); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestParseSpecs(t *testing.T) {
	out := "=== RUN   TestScenarios\nRan 23 of 46 Specs in 20.101 seconds\nSUCCESS! -- 23 Passed | 0 Failed | 0 Pending | 23 Skipped\n"
	if got := parseSpecs(out); got != "Ran 23 of 46 Specs in 20.101 seconds" {
		t.Errorf("parseSpecs = %q", got)
	}
	if got := parseSpecs("ok\n"); got != "" {
		t.Errorf("parseSpecs of no summary = %q", got)
	}
}

func TestStripANSI(t *testing.T) {
	if got := stripANSI("\x1b[38;5;9m\x1b[1mFAIL!\x1b[0m -- ok"); got != "FAIL! -- ok" {
		t.Errorf("stripANSI = %q", got)
	}
}
