package sim

import (
	"errors"
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
