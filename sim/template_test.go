package sim

import (
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"bin": "/p2plab", "listen": "198.18.1.2:7000", "user": "alice", "dir": "/tmp/my dir"}
	tests := []struct {
		tmpl    string
		want    []string
		wantErr string
	}{
		{"{bin} server --listen {listen}", []string{"/p2plab", "server", "--listen", "198.18.1.2:7000"}, ""},
		{"x --u={user}@{listen}", []string{"x", "--u=alice@198.18.1.2:7000"}, ""},
		{"x {dir}/f", []string{"x", "/tmp/my dir/f"}, ""}, // a value is never split
		{`sh -c 'exec x --listen {listen} 2>&1'`, []string{"sh", "-c", "exec x --listen 198.18.1.2:7000 2>&1"}, ""},
		{`x "a b" c\ d $HOME`, []string{"x", "a b", "c d", "$HOME"}, ""}, // no shell expansion
		{`x '{"json": 1}' {}`, []string{"x", `{"json": 1}`, "{}"}, ""},   // braces without a name are literal
		{"x {nope}", nil, "unknown placeholder {nope}"},
		{"x {control}", nil, "placeholder {control} has no value for this program"},
		{"   ", nil, "is empty"},
		{`x 'unclosed`, nil, "command template"},
	}
	for _, tt := range tests {
		got, err := Expand(tt.tmpl, vars)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrTemplate) {
				t.Errorf("%q: err %v, want %q (ErrTemplate)", tt.tmpl, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %q %v, want %q", tt.tmpl, got, err, tt.want)
		}
	}
}

func TestCheckTemplate(t *testing.T) {
	tests := []struct {
		tmpl, need, wantErr string
	}{
		{DefaultClientCommand, "control", ""},
		{DefaultServerCommand, "listen", ""},
		{"/bin/client --server {server}", "control", "needs the {control} placeholder"},
		{"/bin/client --control {contrl}", "control", "unknown placeholder {contrl}"},
	}
	for _, tt := range tests {
		err := CheckTemplate(tt.tmpl, tt.need)
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%q: %v, want %q", tt.tmpl, err, tt.wantErr)
		}
	}
}

// A scenario's client_args land where the template says, or at its end.
func TestExpandClientArgs(t *testing.T) {
	args := []string{"--punch", "--punch-methods", "udp-punch"}
	vars := map[string]string{"user": "alice", ArgsPlaceholder: strings.Join(args, " ")}
	tests := []struct {
		tmpl string
		args []string
		want []string
	}{
		{"c --user {user}", args, []string{"c", "--user", "alice", "--punch", "--punch-methods", "udp-punch"}},
		{"c {client_args} --user {user}", args, []string{"c", "--punch", "--punch-methods", "udp-punch", "--user", "alice"}},
		{"c --extra={client_args}", args, []string{"c", "--extra=--punch --punch-methods udp-punch"}},
		{"sh -c 'exec c --user {user}' sh {client_args}", args, []string{"sh", "-c", "exec c --user alice", "sh", "--punch", "--punch-methods", "udp-punch"}},
		{"c {client_args} --user {user}", []string{}, []string{"c", "--user", "alice"}}, // none: the word goes
		{"c --user {user}", nil, []string{"c", "--user", "alice"}},
	}
	for _, tt := range tests {
		v := maps.Clone(vars)
		if tt.args != nil {
			v[ArgsPlaceholder] = strings.Join(tt.args, " ")
		}
		got, err := expand(tt.tmpl, v, tt.args)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q %q: %q %v, want %q", tt.tmpl, tt.args, got, err, tt.want)
		}
	}
	// A server has no client_args.
	if _, err := Expand("s {client_args}", map[string]string{}); !errors.Is(err, ErrTemplate) {
		t.Errorf("server template with {client_args}: %v", err)
	}
}
