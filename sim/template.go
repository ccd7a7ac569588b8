package sim

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"github.com/google/shlex"
)

// Placeholders are every name a role command template may use, as
// docs/scenarios.md ("Command templates") lists them: {bin} (the p2plab
// binary as hosts see it), {listen} (the server's IP:PORT), {listen_ip},
// {port}, {admin} (the server's admin IP:PORT, reachable only from its own
// host), {server} (the address clients dial), {user}, {name}, {control}
// (the client's control socket), {log} (its P2PInfo log), {files} (its
// directory for received files), {dir} (the host's directory),
// {heartbeat} and {misses}, and for clients {client_args} (the
// scenario's client_args, see Options.ClientArgs). Paths are as the
// program sees them.
var Placeholders = []string{"bin", "listen", "listen_ip", "port", "admin", "server", "user", "name",
	"control", "log", "files", "dir", "heartbeat", "misses", ArgsPlaceholder}

// ArgsPlaceholder is the placeholder of a scenario's client_args: a word
// that is exactly {client_args} becomes those words (none, one or more).
const ArgsPlaceholder = "client_args"

// ErrTemplate is wrapped by every error about a command template.
var ErrTemplate = errors.New("command template")

// placeholder is a {name} in a template; other braces are literal.
var placeholder = regexp.MustCompile(`\{([a-z_][a-z0-9_]*)\}`)

// Expand turns a role command template into an argument vector. The rules,
// shared by `p2plab run` and `p2plab conform`:
//
//   - The template is split into words as a POSIX shell splits them
//     (blanks; single and double quotes; backslash escapes), but no shell
//     runs: no $VARIABLES, globs, pipes or redirections. A program that
//     wants a shell says so: sh -c '... {listen} ...'.
//   - Then each {name} inside a word is replaced by its value. A value is
//     never split again: a path with spaces stays one argument.
//   - A {name} that is not one of Placeholders, or has no value here, is
//     an error (a typo such as {contrl} is caught before anything starts).
//
// An empty template is an error.
func Expand(tmpl string, vars map[string]string) ([]string, error) {
	return expand(tmpl, vars, nil)
}

// expand is Expand with the words of {client_args}, args (nil: none
// given): a word that is exactly {client_args} becomes them; without
// one, a template that does not use {client_args} gets them at its end.
func expand(tmpl string, vars map[string]string, args []string) ([]string, error) {
	words, err := shlex.Split(tmpl)
	if err != nil {
		return nil, fmt.Errorf("sim: %w %q: %v", ErrTemplate, tmpl, err)
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("sim: %w is empty", ErrTemplate)
	}
	whole := "{" + ArgsPlaceholder + "}"
	out := make([]string, 0, len(words)+len(args))
	for _, w := range words {
		if w == whole && args != nil {
			out = append(out, args...)
			continue
		}
		var bad error
		w = placeholder.ReplaceAllStringFunc(w, func(m string) string {
			k := m[1 : len(m)-1]
			v, ok := vars[k]
			if !ok && bad == nil {
				bad = unknownPlaceholder(tmpl, k, vars)
			}
			return v
		})
		if bad != nil {
			return nil, bad
		}
		out = append(out, w)
	}
	if !Uses(tmpl, ArgsPlaceholder) {
		out = append(out, args...)
	}
	return out, nil
}

func unknownPlaceholder(tmpl, k string, vars map[string]string) error {
	if !slices.Contains(Placeholders, k) {
		return fmt.Errorf("sim: %w %q: unknown placeholder {%s} (known: {%s})", ErrTemplate, tmpl, k, strings.Join(Placeholders, "}, {"))
	}
	have := make([]string, 0, len(vars))
	for _, p := range Placeholders {
		if _, ok := vars[p]; ok {
			have = append(have, p)
		}
	}
	return fmt.Errorf("sim: %w %q: placeholder {%s} has no value for this program (here: {%s})", ErrTemplate, tmpl, k, strings.Join(have, "}, {"))
}

// Uses reports whether tmpl uses the placeholder {name}.
func Uses(tmpl, name string) bool {
	for _, m := range placeholder.FindAllStringSubmatch(tmpl, -1) {
		if m[1] == name {
			return true
		}
	}
	return false
}

// CheckTemplate checks a template before anything starts: it must split,
// use only known placeholders, and use every one of need.
func CheckTemplate(tmpl string, need ...string) error {
	all := make(map[string]string, len(Placeholders))
	for _, p := range Placeholders {
		all[p] = p
	}
	if _, err := Expand(tmpl, all); err != nil {
		return err
	}
	for _, n := range need {
		if !Uses(tmpl, n) {
			return fmt.Errorf("sim: %w %q needs the {%s} placeholder", ErrTemplate, tmpl, n)
		}
	}
	return nil
}

// Needed placeholders: the lab drives a server through {listen} (and its
// admin API through {admin} when the template uses it) and a client only
// through its control API at {control}.
var (
	ServerNeeds = []string{"listen"}
	ClientNeeds = []string{"control"}
)

// env is the environment that offers every placeholder's value to the
// program too, as P2PLAB_<NAME> (an image run with its own entrypoint has
// no command line to carry them).
func env(vars map[string]string) []string {
	out := make([]string, 0, len(vars))
	for _, k := range Placeholders {
		if v, ok := vars[k]; ok {
			out = append(out, "P2PLAB_"+strings.ToUpper(k)+"="+v)
		}
	}
	return out
}

// CheckProgram checks that the program a template starts exists on this
// machine (unless its name is a placeholder such as {bin}): a missing one
// is reported as "no such file" (fs.ErrNotExist) before a lab comes up.
func CheckProgram(tmpl string) error {
	words, err := shlex.Split(tmpl)
	if err != nil || len(words) == 0 || placeholder.MatchString(words[0]) {
		return nil // CheckTemplate reports a template that does not split
	}
	if _, err := exec.LookPath(words[0]); err != nil {
		return fmt.Errorf("sim: %w %q: program %s: %w", ErrTemplate, tmpl, words[0], err)
	}
	return nil
}
