package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/scenarios"
	"github.com/p2plab/p2plab/sim"
)

func init() {
	register("up", "bring a lab up with a server and clients, until Ctrl-C", runUp)
}

// runUp brings a topology up with the server and every client running and
// waits for SIGINT/SIGTERM, then removes everything. It is for poking at a
// lab by hand: each client's control socket is printed.
func runUp(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: p2plab up [flags] [TOPOLOGY]\n\n"+
			"Brings a lab up (TOPOLOGY: a shipped topology name such as pair, trio,\n"+
			"mesh10, or a topology file; default pair), starts the server and every\n"+
			"client, prints how to reach them, and waits for Ctrl-C, then removes it.\n\nflags:\n")
		fs.PrintDefaults()
	}
	backend := fs.String("backend", sim.BackendNetns, "lab backend: "+strings.Join(netlab.Backends(), ", "))
	heartbeat := fs.Duration("heartbeat", sim.DefaultHeartbeat, "heartbeat interval given to every program")
	misses := fs.Int("misses", sim.DefaultMisses, "silent heartbeat intervals before a connection is dead")
	artifacts := fs.String("artifacts", "", "artifacts `DIR` (default ./artifacts/up-<time>)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) > 1 {
		fs.Usage()
		return 2
	}
	name := "pair"
	if len(pos) == 1 {
		name = pos[0]
	}
	topo, err := loadTopology(name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab up: %v\n", err)
		return 2
	}
	art := *artifacts
	if art == "" {
		art = filepath.Join("artifacts", "up-"+time.Now().Format("20060102-150405"))
	}
	lab, err := sim.Start(ctx, sim.Options{Backend: *backend, Topology: topo, Heartbeat: *heartbeat, Misses: *misses, Artifacts: art})
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab up: %v\n", err)
		return 1
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := lab.Close(cctx); err != nil {
			fmt.Fprintf(os.Stderr, "p2plab up: close: %v\n", err)
		}
		fmt.Println("lab removed; artifacts in", lab.Artifacts())
	}()
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "lab %s up on %s; artifacts in %s\n\n", lab.ID(), *backend, lab.Artifacts())
	fmt.Fprintln(tw, "HOST\tADDRESS\tROLE\tCONTROL")
	srv := lab.Server()
	fmt.Fprintf(tw, "%s\t%s\tserver\tadmin 127.0.0.1:%d inside the host\n", srv.Host().Name(), srv.Addr(), sim.AdminPort)
	for _, c := range lab.Clients() {
		fmt.Fprintf(tw, "%s\t%s\tclient %s\t%s\n", c.Host().Name(), c.Listen(), c.User(), c.API().Endpoint())
	}
	tw.Flush()
	if cs := lab.Clients(); len(cs) > 1 {
		sock := cs[0].API().Endpoint()
		fmt.Printf("\ntry:\n  curl -s --unix-socket %s http://p2plab/v1/channels\n"+
			"  curl -s --unix-socket %s -d '{\"to\":\"%s\",\"content\":\"hi\"}' http://p2plab/v1/chat\n", sock, sock, cs[1].User())
	}
	fmt.Println("\nCtrl-C (or `p2plab down` from another terminal) removes the lab; a killed `up` leaves it for `p2plab clean`.")
	<-ctx.Done()
	return 0
}

// loadTopology reads a shipped topology by name, or a topology file.
func loadTopology(name string) (netlab.Topology, error) {
	if strings.ContainsAny(name, "/.") {
		data, err := os.ReadFile(name)
		if err != nil {
			return netlab.Topology{}, err
		}
		return sim.ParseTopology(name, data)
	}
	file, data, err := sim.FSTopologies(scenarios.FS)(name)
	if err != nil {
		return netlab.Topology{}, fmt.Errorf("no shipped topology %q (pair, trio, mesh10), and no such file", name)
	}
	return sim.ParseTopology(file, data)
}
