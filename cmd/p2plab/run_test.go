package main

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/p2plab/p2plab/sim"
)

// `p2plab run` refuses bad role templates before any lab comes up.
func TestCheckRoleTemplates(t *testing.T) {
	tests := []struct {
		name, server, client string
		want                 error
		text                 string
	}{
		{"defaults", sim.DefaultServerCommand, sim.DefaultClientCommand, nil, ""},
		{"no such program", sim.DefaultServerCommand, "/no/such/program --control {control}", fs.ErrNotExist, "no such file"},
		{"no control", sim.DefaultServerCommand, "{bin} client --server {server}", sim.ErrTemplate, "--client-cmd: sim: command template \"{bin} client --server {server}\" needs the {control} placeholder"},
		{"no listen", "{bin} server", sim.DefaultClientCommand, sim.ErrTemplate, "--server-cmd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkRoleTemplates(sim.BackendNetns, tt.server, tt.client)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("%v; want %v with %q", err, tt.want, tt.text)
			}
		})
	}
	// On docker the program is inside the image: not looked up here.
	if err := checkRoleTemplates(sim.BackendDocker, sim.DefaultServerCommand, "/in/the/image --control {control}"); err != nil {
		t.Fatalf("docker: %v", err)
	}
}
