package matrix

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/sim"
	"github.com/p2plab/p2plab/sim/matrixreport"
)

// DefaultClientCommand is the reference client with punching on (the
// ladder of docs/protocol.md 9.7 is off without --punch).
const DefaultClientCommand = sim.DefaultClientCommand + " --punch"

// Defaults of Config.
const (
	DefaultTrials    = 10
	DefaultDelay     = 20 * time.Millisecond
	DefaultParallel  = 4
	DefaultHeartbeat = 500 * time.Millisecond
	DefaultMisses    = 3
)

// Config is one matrix run.
type Config struct {
	// Kinds are the row and column kinds (default DefaultKinds).
	Kinds []Kind
	// Only, if not empty, keeps only these pairs ("row/col" names).
	Only []string
	// Trials per pair (default DefaultTrials).
	Trials int
	// Delay is the one-way delay of each home link (default DefaultDelay;
	// negative: none).
	Delay time.Duration
	// Parallel is how many pairs run at once, each in its own lab
	// (default DefaultParallel).
	Parallel int
	// Backend is the lab backend (default netns).
	Backend string
	// NewBackend, if set, makes each pair's backend (sim.Options.NewBackend:
	// a docker backend sharing one image).
	NewBackend func(ctx context.Context) (netlab.Backend, error)
	// Binary is the p2plab binary (default: this executable).
	Binary string
	// ServerCommand and ClientCommand are the role templates (default the
	// reference server, and DefaultClientCommand).
	ServerCommand, ClientCommand string
	// Heartbeat and Misses are given to every program (defaults 500ms, 3:
	// a cut channel is torn down in under 2 s).
	Heartbeat time.Duration
	Misses    int
	// Artifacts is the run's folder: one subfolder per pair (required).
	Artifacts string
	// OnTrial, if set, is called after every trial (from the pair's
	// goroutine; calls are serialised).
	OnTrial func(p Pair, t *matrixreport.Trial, done, total int)
	// Log receives one line per lab problem (nil: discarded).
	Log io.Writer
}

func (c *Config) defaults() {
	if len(c.Kinds) == 0 {
		for _, n := range DefaultKinds {
			k, _ := KindByName(n)
			c.Kinds = append(c.Kinds, k)
		}
	}
	if c.Trials <= 0 {
		c.Trials = DefaultTrials
	}
	switch {
	case c.Delay == 0:
		c.Delay = DefaultDelay
	case c.Delay < 0:
		c.Delay = 0
	}
	if c.Parallel <= 0 {
		c.Parallel = DefaultParallel
	}
	if c.Backend == "" {
		c.Backend = sim.BackendNetns
	}
	if c.ClientCommand == "" {
		c.ClientCommand = DefaultClientCommand
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.Misses == 0 {
		c.Misses = DefaultMisses
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// SelectedPairs are the pairs the run will make, in order.
func (c Config) SelectedPairs() ([]Pair, error) {
	c.defaults()
	all := Pairs(c.Kinds)
	if len(c.Only) == 0 {
		return all, nil
	}
	var out []Pair
	for _, name := range c.Only {
		found := false
		for _, p := range all {
			if p.Name() == name {
				out = append(out, p)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: no pair %q among the kinds given", ErrBadKind, name)
		}
	}
	return out, nil
}

// Run runs the matrix and returns its report (summarised). An error means
// the run could not be made at all (bad configuration, interrupted); a
// pair whose lab fails is a cell whose trials are errors.
func Run(ctx context.Context, cfg Config) (*matrixreport.Report, error) {
	cfg.defaults()
	if cfg.Artifacts == "" {
		return nil, errors.New("matrix: no artifacts folder")
	}
	pairs, err := cfg.SelectedPairs()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cpu0 := cpuTime()
	rep := &matrixreport.Report{
		Meta: matrixreport.Meta{
			Started: start, Backend: cfg.Backend, TrialsPerPair: cfg.Trials, WANDelay: cfg.Delay,
			ServerCmd: cfg.ServerCommand, ClientCmd: cfg.ClientCommand,
		},
		Kinds: reportKinds(cfg.Kinds),
	}
	for _, k := range cfg.Kinds {
		rep.Meta.KindNames = append(rep.Meta.KindNames, k.Name)
	}
	cells := make([]*matrixreport.Cell, len(pairs))
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
	)
	total := len(pairs) * cfg.Trials
	// The slowest pairs first (a relay trial waits out whole ladders), so
	// the last ones running are short ones.
	order := make([]int, len(pairs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return cost(pairs[order[a]], cfg) > cost(pairs[order[b]], cfg) })
	queue := make(chan int, len(pairs))
	for _, i := range order {
		queue <- i
	}
	close(queue)
	for range min(cfg.Parallel, len(pairs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				p := pairs[i]
				if ctx.Err() != nil {
					cells[i] = errorCell(p, cfg, ctx.Err())
					continue
				}
				cells[i] = runPair(ctx, cfg, p, func(t *matrixreport.Trial) {
					mu.Lock()
					defer mu.Unlock()
					done++
					if cfg.OnTrial != nil {
						cfg.OnTrial(p, t, done, total)
					}
				})
			}
		}()
	}
	wg.Wait()
	rep.Cells = cells
	rep.Meta.Wall = time.Since(start)
	rep.Meta.CPU = cpuTime() - cpu0
	rep.Summarize()
	if ctx.Err() != nil {
		return rep, fmt.Errorf("matrix: %w", ctx.Err())
	}
	return rep, nil
}

// cost ranks a pair by how long its trials take: the longer the ladder
// runs before the expected path, the slower.
func cost(p Pair, cfg Config) int {
	e := Oracle(p.Situation(cfg.Delay))
	switch e.Paths[len(e.Paths)-1] {
	case matrixreport.PathRelay:
		return 3
	case matrixreport.PathUDPPunch, matrixreport.PathTCPPunch:
		return 2
	}
	return 1
}

// cpuTime is the user and system time of this process and of its children
// that have been waited for (the lab's programs), so far.
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

func newCell(p Pair, cfg Config) *matrixreport.Cell {
	e := Oracle(p.Situation(cfg.Delay))
	return &matrixreport.Cell{Row: p.Row.Name, Col: p.Col.Name, Expected: e.Paths, Why: e.Why()}
}

func errorCell(p Pair, cfg Config, err error) *matrixreport.Cell {
	c := newCell(p, cfg)
	c.Verdict, c.Reason = matrixreport.Error, err.Error()
	return c
}

// runPair brings up the pair's lab with the server, runs the trials (each
// with fresh client processes) and closes the lab.
func runPair(ctx context.Context, cfg Config, p Pair, onTrial func(*matrixreport.Trial)) *matrixreport.Cell {
	cell := newCell(p, cfg)
	exp := Oracle(p.Situation(cfg.Delay))
	dir := filepath.Join(cfg.Artifacts, pairDir(p))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		cell.Verdict, cell.Reason = matrixreport.Error, err.Error()
		return cell
	}
	lab, err := sim.Start(ctx, sim.Options{
		Backend: cfg.Backend, NewBackend: cfg.NewBackend, Topology: p.Topology(cfg.Delay), Clients: []string{Initiator, Acceptor},
		Heartbeat: cfg.Heartbeat, Misses: cfg.Misses, Binary: cfg.Binary,
		ServerCommand: cfg.ServerCommand, ClientCommand: cfg.ClientCommand,
		Artifacts: filepath.Join(dir, "lab"), Manual: true,
	})
	if err != nil {
		cell.Verdict, cell.Reason = matrixreport.Error, err.Error()
		fmt.Fprintf(cfg.Log, "matrix: %s: %v\n", p.Name(), err)
		return cell
	}
	defer lab.Close(context.WithoutCancel(ctx))
	if err := lab.Server().Start(ctx); err != nil {
		cell.Verdict, cell.Reason = matrixreport.Error, err.Error()
		fmt.Fprintf(cfg.Log, "matrix: %s: %v\n", p.Name(), err)
		return cell
	}
	tr := &trialRun{cfg: cfg, pair: p, lab: lab, exp: exp, dir: dir}
	for i := 1; i <= cfg.Trials; i++ {
		if ctx.Err() != nil {
			break
		}
		t := tr.run(ctx, i)
		cell.Trials = append(cell.Trials, t)
		onTrial(t)
	}
	return cell
}

func pairDir(p Pair) string { return p.Row.Name + "--" + p.Col.Name }
