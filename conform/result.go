package conform

import (
	"errors"
	"fmt"
	"time"
)

// Verdict is the outcome of one check.
type Verdict string

// Verdicts.
const (
	// Pass: the implementation showed one of the acceptable outcomes.
	Pass Verdict = "pass"
	// Fail: the implementation did something else (or nothing in time).
	Fail Verdict = "fail"
	// Skip: the check could not apply (e.g. no admin address was given).
	Skip Verdict = "skip"
	// Error: the checker could not carry the check out (e.g. the target
	// could not be reached or started); conformance is unknown.
	Error Verdict = "error"
	// Unsupported: the implementation does not advertise the protocol
	// v1.1 feature the requirement belongs to (docs/protocol.md 9.1), so
	// the requirement does not bind it.
	Unsupported Verdict = "unsupported"
)

// Result is the outcome of one requirement's check.
type Result struct {
	ID       string  `json:"id"`
	Level    Level   `json:"level"`
	Section  string  `json:"section"`
	Doc      string  `json:"doc"`
	Sentence string  `json:"sentence"`
	Verdict  Verdict `json:"verdict"`
	Expected string  `json:"expected,omitempty"`
	Actual   string  `json:"actual,omitempty"`
	Message  string  `json:"message,omitempty"`
	// Feature is the v1.1 feature not advertised (verdict unsupported).
	Feature  string        `json:"feature,omitempty"`
	Duration time.Duration `json:"duration"`
}

// Failure is returned by a check when the implementation did not show an
// acceptable outcome: what was expected and what happened instead.
type Failure struct {
	Expected string
	Actual   string
}

func (f *Failure) Error() string { return "expected " + f.Expected + ", got " + f.Actual }

// failf builds a Failure.
func failf(expected string, actualFormat string, args ...any) error {
	return &Failure{Expected: expected, Actual: fmt.Sprintf(actualFormat, args...)}
}

// skipError is returned by a check that does not apply.
type skipError struct{ reason string }

func (s *skipError) Error() string { return "skipped: " + s.reason }

func skipf(format string, args ...any) error {
	return &skipError{reason: fmt.Sprintf(format, args...)}
}

// unsupportedError is returned by a check whose v1.1 feature the target
// does not advertise.
type unsupportedError struct{ feature, reason string }

func (u *unsupportedError) Error() string { return "unsupported: " + u.reason }

// unsupportedf reports that the target does not advertise feature.
func unsupportedf(feature, format string, args ...any) error {
	return &unsupportedError{feature: feature, reason: fmt.Sprintf(format, args...)}
}

// resultOf classifies a check's error into a verdict.
func resultOf(r Requirement, err error, d time.Duration) Result {
	res := Result{ID: r.ID, Level: r.Level, Section: r.Section, Doc: r.Doc(), Sentence: r.Sentence, Duration: d, Verdict: Pass}
	var f *Failure
	var s *skipError
	var u *unsupportedError
	switch {
	case err == nil:
	case errors.As(err, &f):
		res.Verdict, res.Expected, res.Actual = Fail, f.Expected, f.Actual
	case errors.As(err, &s):
		res.Verdict, res.Message = Skip, s.reason
	case errors.As(err, &u):
		res.Verdict, res.Message, res.Feature = Unsupported, u.reason, u.feature
	default:
		res.Verdict, res.Message = Error, err.Error()
	}
	return res
}

// Summary counts verdicts.
type Summary struct {
	Total   int `json:"total"`
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	Errors  int `json:"errors"`
	// Unsupported counts requirements of v1.1 features not advertised.
	Unsupported int `json:"unsupported"`
	MustFailed  int `json:"mustFailed"`
	// MustSkipped counts MUST requirements that were not checked.
	MustSkipped int `json:"mustSkipped"`
	// ShouldFailed counts SHOULD requirements that failed or errored.
	ShouldFailed int `json:"shouldFailed"`
}

// Summarize counts the verdicts of results.
func Summarize(results []Result) Summary {
	var s Summary
	for _, r := range results {
		s.Total++
		switch r.Verdict {
		case Pass:
			s.Passed++
		case Fail:
			s.Failed++
		case Skip:
			s.Skipped++
		case Error:
			s.Errors++
		case Unsupported:
			s.Unsupported++
		}
		if r.Verdict == Skip && r.Level == Must {
			s.MustSkipped++
		}
		if r.Verdict == Fail || r.Verdict == Error {
			if r.Level == Must {
				s.MustFailed++
			} else {
				s.ShouldFailed++
			}
		}
	}
	return s
}

// Conforms reports whether results show conformance: no MUST requirement
// failed or errored (and, when strict, no SHOULD requirement either). It
// says nothing of what was skipped or unsupported: see ExitCode.
func (s Summary) Conforms(strict bool) bool {
	return s.MustFailed == 0 && (!strict || s.ShouldFailed == 0)
}

// Exit statuses of p2plab conform (docs/conformance.md, "Verdicts"), in
// order of precedence: ExitFailed over ExitSkipped over ExitUnsupported
// over ExitConforms. ExitUsage (bad usage, target not started) is the
// CLI's own.
const (
	ExitConforms    = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitSkipped     = 3
	ExitUnsupported = 127
)

// ExitCode is the exit status the results call for: ExitFailed when a
// MUST requirement (with strict, also a SHOULD one) failed or errored;
// else ExitSkipped when a MUST requirement was not checked; else
// ExitUnsupported when some requirements belong to v1.1 features the
// target does not advertise; else ExitConforms.
func (s Summary) ExitCode(strict bool) int {
	switch {
	case !s.Conforms(strict):
		return ExitFailed
	case s.MustSkipped > 0:
		return ExitSkipped
	case s.Unsupported > 0:
		return ExitUnsupported
	}
	return ExitConforms
}
