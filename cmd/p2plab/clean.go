package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/netlab/docker"
)

func init() {
	register("clean", "remove what crashed lab runs left behind", runClean)
}

// runClean removes leftovers of crashed runs: netlab's namespaces, cgroups,
// links, nft tables and run locks whose lab is no longer alive (labs running
// in other processes are left alone), or everything of one run with -run.
// Docker leftovers (labelled p2plab.run) go the same way when an engine
// answers. It prints one line per thing removed.
func runClean(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	run := fs.String("run", "", "remove everything of this run id only, even if its lab is alive")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: p2plab clean [-run RUNID]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	var removed []string
	var err error
	if *run != "" {
		if !netlab.ValidRunID(*run) {
			fmt.Fprintf(os.Stderr, "p2plab clean: bad run id %q\n", *run)
			return 2
		}
		removed, err = netlab.CleanRun(ctx, *run)
	} else {
		removed, err = netlab.Clean(ctx)
	}
	// Docker leftovers (containers, networks, images labelled p2plab.run),
	// when an engine answers.
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	derr := docker.Available(actx)
	cancel()
	if derr == nil {
		var dremoved []string
		if *run != "" {
			dremoved, derr = docker.CleanRun(ctx, *run)
		} else {
			dremoved, derr = docker.Clean(ctx)
		}
		removed = append(removed, dremoved...)
		err = errors.Join(err, derr)
	}
	for _, r := range removed {
		fmt.Println("removed", r)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab clean: %v\n", err)
		return 1
	}
	if len(removed) == 0 {
		fmt.Println("nothing to clean")
	}
	return 0
}
