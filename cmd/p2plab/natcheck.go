package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/netlab/natcheck"
	"github.com/p2plab/p2plab/sim"
)

func init() {
	register("natcheck", "classify the NAT(s) in front of a host of a topology", runNatcheck)
}

// runNatcheck brings the topology up with two probe hosts added, runs the
// RFC 5780-style classifier from HOST, prints what it found next to what
// the topology configures, and removes the lab.
func runNatcheck(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("natcheck", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: p2plab natcheck [flags] TOPOLOGY HOST\n\n"+
			"Brings TOPOLOGY (a shipped topology name or a file) up with two probe\n"+
			"hosts on the WAN, classifies from HOST what the NAT(s) on its way out do\n"+
			"(mapping, filtering, port preservation, hairpinning; UDP and TCP), prints\n"+
			"a table and removes the lab. Exit status 1 if the behaviour found differs\n"+
			"from the one configured.\n\nflags:\n")
		fs.PrintDefaults()
	}
	backend := fs.String("backend", sim.BackendNetns, "lab backend: netns or docker")
	binary := fs.String("binary", "", "static p2plab `binary` for the docker backend (default: this one)")
	wan := fs.String("wan", "", "`LAN` to put the probes on (default: outside of the outermost NAT)")
	wait := fs.Duration("wait", 500*time.Millisecond, "how long a packet that a strict NAT drops is waited for")
	timeout := fs.Duration("timeout", 0, "also measure the UDP mapping lifetime, waiting at most this long (0: do not)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) != 2 {
		fs.Usage()
		return 2
	}
	topo, err := loadTopology(pos[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab natcheck: %v\n", err)
		return 2
	}
	pl, err := natcheck.WithProbes(topo, pos[1], *wan)
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab natcheck: %v\n", err)
		return 2
	}
	b, err := sim.NewBackend(ctx, *backend)
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab natcheck: %v\n", err)
		return 1
	}
	bin := *binary
	if bin == "" && *backend == sim.BackendDocker {
		if bin, err = os.Executable(); err != nil {
			fmt.Fprintf(os.Stderr, "p2plab natcheck: %v\n", err)
			return 1
		}
	}
	lab, err := netlab.New(ctx, b, pl.Topology, netlab.Options{Binary: bin})
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab natcheck: %v\n", err)
		return 1
	}
	stop := lab.CloseOnSignal()
	defer func() {
		stop()
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := lab.Close(cctx); err != nil {
			fmt.Fprintf(os.Stderr, "p2plab natcheck: close: %v\n", err)
		}
	}()
	p, err := natcheck.NewProbe(ctx, lab.Host(pl.Probes[0]), lab.Host(pl.Probes[1]), [2]uint16{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab natcheck: %v\n", err)
		return 1
	}
	defer p.Close()
	client := lab.Host(pos[1])
	rep, err := natcheck.Run(ctx, client, p, natcheck.Config{Wait: *wait})
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab natcheck: %v\n", err)
		return 1
	}
	var life *natcheck.TimeoutResult
	if *timeout > 0 {
		r, err := natcheck.MeasureUDPTimeout(ctx, client, p, natcheck.TimeoutConfig{Max: *timeout})
		if err != nil {
			fmt.Fprintf(os.Stderr, "p2plab natcheck: %v\n", err)
			return 1
		}
		life = &r
	}
	return printNatcheck(os.Stdout, lab, client, pl, p, rep, life)
}

// printNatcheck prints the report and, for a single NAT, compares it with
// the configured profile (exit 1 on a difference).
func printNatcheck(w *os.File, lab *netlab.Lab, client *netlab.Host, pl natcheck.ProbeLab, p *natcheck.Probe, rep natcheck.Report, life *natcheck.TimeoutResult) int {
	eps := p.Endpoints()
	via := "no NAT"
	if len(pl.NATs) > 0 {
		via = "NAT " + strings.Join(pl.NATs, ", then ")
	}
	fmt.Fprintf(w, "natcheck: %s (%s) through %s to probes %s and %s on LAN %s (%s backend)\n\n",
		client.Name(), client.Addr(), via, eps[0].Addr(), eps[3].Addr(), pl.WAN, lab.Backend().Name())
	var prof *netlab.NATProfile
	if len(pl.NATs) == 1 {
		if s := lab.Host(pl.NATs[0]).Spec().NAT; s != nil {
			if pr, err := s.Profile(); err == nil {
				prof = &pr
			}
		}
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	head := "\tUDP\tTCP"
	if prof != nil {
		head += "\tCONFIGURED"
	}
	fmt.Fprintln(tw, head)
	row := func(name string, u, t, c any) {
		if prof != nil {
			fmt.Fprintf(tw, "%s\t%v\t%v\t%v\n", name, u, t, c)
		} else {
			fmt.Fprintf(tw, "%s\t%v\t%v\n", name, u, t)
		}
	}
	var c netlab.NATProfile
	if prof != nil {
		c = *prof
	}
	row("local", rep.UDP.Local, rep.TCP.Local, "")
	row("mapped", rep.UDP.Mapped, rep.TCP.Mapped, "")
	row("translated", rep.UDP.Translated, rep.TCP.Translated, prof != nil)
	row("mapping", rep.UDP.Mapping, rep.TCP.Mapping, c.Mapping)
	row("filtering", rep.UDP.Filtering, rep.TCP.Filtering, c.Filtering)
	row("ports", rep.UDP.Ports(), rep.TCP.Ports(), c.Ports)
	row("hairpin", rep.UDP.Hairpin, rep.TCP.Hairpin, c.Hairpin)
	if life != nil {
		row("udp timeout", life.Lifetime.Round(time.Millisecond), "", c.Timeout)
	}
	tw.Flush()
	if prof == nil {
		return 0
	}
	code := 0
	for proto, b := range map[string]natcheck.Behavior{"UDP": rep.UDP, "TCP": rep.TCP} {
		if err := b.Matches(*prof); err != nil {
			fmt.Fprintf(w, "\n%s differs from the configuration: %v\n", proto, err)
			code = 1
		}
	}
	return code
}
