package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/p2plab/p2plab/netlab"
)

// RunOptions configure Run. The zero value runs on netns with the p2plab
// binary of this process.
type RunOptions struct {
	// Backend, Binary, ServerCommand, ClientCommand, Capture, NewBackend:
	// as in Options.
	Backend                      string
	NewBackend                   func(ctx context.Context) (netlab.Backend, error)
	Binary                       string
	ServerCommand, ClientCommand string
	// ServerImage and ClientImage, on the docker backend only: as in
	// Options (an empty command template then runs the image's own
	// entrypoint).
	ServerImage, ClientImage string
	Capture                  bool
	// Artifacts is the root folder; the scenario's artifacts go to
	// Artifacts/<id> (default: a new temporary directory).
	Artifacts string
	// Keep leaves the lab up when the scenario fails (Result.KeptLab).
	Keep bool
	// Progress gets one line per step (nil: silent).
	Progress io.Writer
}

// Result is the outcome of one scenario run (result.json, and an entry of
// the JSON report).
type Result struct {
	ID          string   `json:"id"`
	File        string   `json:"file"`
	Requirement string   `json:"requirement"`
	Level       string   `json:"level"`
	Labels      []string `json:"labels,omitempty"`
	Backend     string   `json:"backend"`
	// Roles are the programs under test: what each role ran.
	Roles Roles `json:"roles"`
	// Verdict is VerdictPass, VerdictFail or VerdictInterrupted; Passed
	// is Verdict == VerdictPass.
	Verdict   string        `json:"verdict"`
	Passed    bool          `json:"passed"`
	Error     string        `json:"error,omitempty"`
	Start     time.Time     `json:"start"`
	Duration  time.Duration `json:"duration"`
	Artifacts string        `json:"artifacts"`
	KeptLab   string        `json:"keptLab,omitempty"`
	// TotalSteps is the number of steps in the scenario; Steps holds
	// those that ran.
	TotalSteps int          `json:"totalSteps"`
	Steps      []StepResult `json:"steps"`
	Err        error        `json:"-"`
}

// Roles record the programs a scenario ran (the JSON and JUnit reports
// carry them, so a report says which implementation it is about).
type Roles struct {
	// Server and Client are the role programs.
	Server RoleProgram `json:"server"`
	Client RoleProgram `json:"client"`
	// Binary is the p2plab binary {bin} named.
	Binary string `json:"binary,omitempty"`
}

// RoleProgram is what one role ran: a command template (Expand's), an
// image (docker), or both. An image without a command ran its entrypoint.
type RoleProgram struct {
	Command string `json:"command,omitempty"`
	Image   string `json:"image,omitempty"`
}

// rolesOf is what o makes each role run (Options' defaults applied).
func rolesOf(o RunOptions) Roles {
	opts := Options{ServerCommand: o.ServerCommand, ClientCommand: o.ClientCommand, ServerImage: o.ServerImage, ClientImage: o.ClientImage}
	opts.defaults()
	r := Roles{Server: RoleProgram{opts.ServerCommand, o.ServerImage}, Client: RoleProgram{opts.ClientCommand, o.ClientImage}, Binary: o.Binary}
	if r.Binary == "" {
		r.Binary, _ = os.Executable()
	}
	return r
}

// verdict is r.Verdict, or what Passed says for a Result made without one.
func (r *Result) verdict() string {
	switch {
	case r.Verdict != "":
		return r.Verdict
	case r.Passed:
		return VerdictPass
	}
	return VerdictFail
}

// StepResult is the outcome of one step.
type StepResult struct {
	Index  int    `json:"index"`
	Kind   string `json:"kind"`
	Text   string `json:"text"`
	Pos    string `json:"pos"`
	Passed bool   `json:"passed"`
	// Deadline is when the step's check had to come true by (within from
	// the start of the last action step); zero for steps without one.
	Deadline time.Time `json:"deadline,omitzero"`
	// Interrupted: the step was cut short by the caller (Ctrl-C).
	Interrupted bool          `json:"interrupted,omitempty"`
	Error       string        `json:"error,omitempty"`
	Note        string        `json:"note,omitempty"`
	Start       time.Time     `json:"start"`
	Duration    time.Duration `json:"duration"`
}

// Verdicts of a scenario run.
const (
	VerdictPass = "pass"
	VerdictFail = "fail"
	// VerdictInterrupted: the caller's context ended (Ctrl-C, a test
	// timeout) before the scenario did; nothing was learnt about the
	// programs. A scenario that runs out of its own timeout fails.
	VerdictInterrupted = "interrupted"
)

// ErrInterrupted is wrapped by Result.Err of an interrupted scenario.
var ErrInterrupted = errors.New("interrupted")

// Run runs one scenario in a fresh lab and always removes the lab (unless
// Keep and it failed). The error of a failed or interrupted scenario is in
// Result.Err; Result.Verdict tells which.
func Run(ctx context.Context, s *Scenario, o RunOptions) *Result {
	r := &Result{ID: s.ID, File: s.File, Requirement: s.Requirement, Level: s.Level, Labels: s.Labels,
		Backend: o.Backend, Roles: rolesOf(o), Start: time.Now(), TotalSteps: len(s.Steps)}
	if r.Backend == "" {
		r.Backend = BackendNetns
	}
	caller := ctx
	// interrupted: the run stopped because the caller's context ended (not
	// decided at the end: the caller may give up while a failed lab closes).
	interrupted := false
	finish := func(err error) *Result {
		r.Duration = time.Since(r.Start)
		r.Verdict = VerdictPass
		if err != nil {
			r.Verdict = VerdictFail
			if interrupted {
				r.Verdict = VerdictInterrupted
				err = fmt.Errorf("%w (%v): %w", ErrInterrupted, context.Cause(caller), err)
			}
		}
		r.Err = err
		r.Passed = err == nil
		if err != nil {
			r.Error = err.Error()
		}
		if r.Artifacts != "" {
			writeJSON(filepath.Join(r.Artifacts, "result.json"), r)
		}
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	art := o.Artifacts
	if art == "" {
		art = filepath.Join(tempDir(), "p2plab-artifacts-"+time.Now().Format("20060102-150405"))
	}
	r.Artifacts = filepath.Join(art, s.ID)
	os.RemoveAll(r.Artifacts) // a rerun into the same root starts clean
	lab, err := Start(ctx, Options{
		Backend: o.Backend, NewBackend: o.NewBackend, Topology: s.Topology, Server: s.Server, Clients: s.Clients,
		Heartbeat: s.Heartbeat, Misses: s.Misses, Slack: noneIfZero(s.Slack), Binary: o.Binary, ServerCommand: o.ServerCommand, ClientArgs: s.ClientArgs,
		ClientCommand: o.ClientCommand, ServerImage: o.ServerImage, ClientImage: o.ClientImage, Artifacts: r.Artifacts, Capture: o.Capture, Manual: true,
	})
	if err != nil {
		interrupted = caller.Err() != nil
		return finish(err)
	}
	lab.note("scenario %s (%s): %s", s.ID, s.File, s.Requirement)
	rn := &runner{lab: lab, s: s, o: o, sent: map[string]Sent{}, caller: caller}
	rn.markAction()
	err = rn.steps(ctx, r)
	interrupted = err != nil && caller.Err() != nil
	if err != nil && o.Keep && !interrupted {
		lab.Abandon(context.WithoutCancel(ctx))
		r.KeptLab = lab.ID()
		return finish(err)
	}
	if cerr := lab.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
		err = cerr
	}
	return finish(err)
}

// runner is the state of one scenario run that steps share.
type runner struct {
	lab  *Lab
	s    *Scenario
	o    RunOptions
	sent map[string]Sent // chat messages by label (ChatStep.As)
	// caller is Run's context: when it ends, the run is interrupted.
	caller context.Context
	mark   Mark // the start of the last action step
}

// markAction records the start of an action step: what `within` counts
// from.
func (rn *runner) markAction() {
	rn.mark = rn.lab.Mark()
	rn.mark.name = "the last action"
}

func (rn *runner) progress(format string, args ...any) {
	if rn.o.Progress != nil {
		fmt.Fprintf(rn.o.Progress, format+"\n", args...)
	}
}

func (rn *runner) steps(ctx context.Context, r *Result) error {
	for i, st := range rn.s.Steps {
		sr := StepResult{Index: i, Kind: st.Kind(), Text: st.String(), Pos: st.Position().String(), Start: time.Now()}
		rn.lab.tl.add(TimelineEntry{Kind: "step", Step: i, Detail: sr.Text})
		if st.isAction() {
			rn.markAction()
		}
		if d, ok := st.(deadliner); ok {
			sr.Deadline = d.deadline(rn)
		}
		note, err := st.run(ctx, rn)
		sr.Duration = time.Since(sr.Start)
		sr.Note = note
		sr.Passed = err == nil
		status := "ok"
		if err != nil {
			sr.Error = err.Error()
			status = "FAIL"
			if rn.interrupted(ctx) {
				sr.Interrupted, status = true, "INT"
			}
		}
		rn.progress("  [%2d] %-4s %-60s %6s %s", i, status, truncate(sr.Text, 60), sr.Duration.Round(time.Millisecond), note)
		r.Steps = append(r.Steps, sr)
		if err != nil {
			return fmt.Errorf("step %d (%s) %s: %w", i, st.Position(), sr.Text, err)
		}
		if rn.interrupted(ctx) {
			return fmt.Errorf("stopped after step %d: %w", i, ctx.Err())
		}
		if ctx.Err() != nil {
			return fmt.Errorf("scenario timeout %s reached after step %d: %w", rn.s.Timeout, i, ctx.Err())
		}
	}
	return nil
}

// deadliner is a step that checks something by a deadline.
type deadliner interface {
	deadline(rn *runner) time.Time
}

// interrupted reports whether the caller's context ended (not the
// scenario's own timeout, which is a failure).
func (rn *runner) interrupted(ctx context.Context) bool {
	return ctx.Err() != nil && rn.caller.Err() != nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// noneIfZero maps an explicit zero to Options' "none" (negative).
func noneIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
