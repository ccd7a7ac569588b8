package sim

import (
	"context"
	"strings"
)

// Step is one step of a scenario: a value of the type of its kind
// (*StartStep, *ChatStep, *EventExpectStep, ...), which holds the step's
// configuration as read and validated from its file, says what it is in
// one line, and runs it.
//
// To add a step kind (e.g. `corrupt`):
//
//  1. Define its type in the step_*.go file of its family, embedding
//     stepBase (or expectBase for an expectation). Its exported fields are
//     its configuration, with json tags.
//  2. Give it Kind (its key in the file, a Step* constant; expectations
//     answer StepExpect and have an Expect* constant of their own), String
//     (one short line) and run (what it does to the lab; the note it
//     returns is shown next to the step).
//  3. Write its reader, func(v *validator, n node) Step: read the YAML
//     value n with node's helpers (asMap, str, duration...) and the
//     validator's (host, client, within, label...). Report every problem
//     with v.e.add(node, ...): it gets the file:line:column and the field
//     path. Return the step even when it has problems; the loader drops
//     the whole scenario if any were reported.
//  4. Register the reader in stepReaders (or expectReaders), add the kind
//     to StepKinds (or expectKinds) in documentation order, and document
//     it in docs/scenarios.md.
//
// An action step (any step but an expectation) moves the origin that
// `within` counts from: the start of the last action step.
type Step interface {
	// Kind is the step's key in a scenario file, e.g. "chat" ("expect"
	// for every expectation).
	Kind() string
	// String describes the step in one short line.
	String() string
	// Position is where the step is in its file.
	Position() Pos
	// run does the step in the runner's lab.
	run(ctx context.Context, rn *runner) (note string, err error)
	base() *stepBase
	isAction() bool
}

// stepBase is what every step has: its place in the scenario.
type stepBase struct {
	Index int `json:"index"`
	At    Pos `json:"-"`
}

// Position is where the step is in its file.
func (b *stepBase) Position() Pos { return b.At }

func (b *stepBase) base() *stepBase  { return b }
func (b *stepBase) isAction() bool   { return true }
func (b *expectBase) isAction() bool { return false }

// stepReaders reads each step kind from its YAML value (see Step for how to
// add one).
var stepReaders = map[string]func(v *validator, n node) Step{
	StepStart:     readStart,
	StepStop:      readStop,
	StepKill:      readKill,
	StepFreeze:    readFreeze,
	StepThaw:      readThaw,
	StepCut:       readCut,
	StepRestore:   readRestore,
	StepBlock:     readBlock,
	StepUnblock:   readUnblock,
	StepPartition: readPartition,
	StepHeal:      readHeal,
	StepLoss:      readLoss,
	StepRate:      readRate,
	StepDelay:     readDelay,
	StepDuplicate: readDuplicate,
	StepFlap:      readFlap,
	StepLogin:     readLogin,
	StepLogout:    readLogout,
	StepChat:      readChat,
	StepFile:      readFile,
	StepConnect:   readConnect,
	StepWait:      readWait,
	StepExpect:    readExpect,
}

// step reads one step: a mapping with exactly one key, the step kind.
func (v *validator) step(sn node) (Step, bool) {
	m, ok := sn.asMap()
	if !ok {
		return nil, false
	}
	if len(m.keys) != 1 {
		v.e.add(sn, "a step is a mapping with exactly one key, the step kind (%s); got %d keys", strings.Join(StepKinds, ", "), len(m.keys))
		return nil, false
	}
	kind := m.keys[0]
	read, ok := stepReaders[kind]
	if !ok {
		v.e.add(m.keyPos[kind], "unknown step %q (want one of %s)", kind, strings.Join(StepKinds, ", "))
		return nil, false
	}
	st := read(v, m.get(kind))
	if st == nil {
		return nil, false
	}
	st.base().At = m.keyPos[kind].pos()
	return st, true
}
