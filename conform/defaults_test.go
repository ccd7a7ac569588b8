package conform_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/p2plab/p2plab/conform"
)

// The heartbeat defaults of --cmd and --image runs are the same in the
// code, in docs/conformance.md and in p2plab conform --help.
func TestDefaultsInStep(t *testing.T) {
	b, err := os.ReadFile("../docs/conformance.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(b)), " ")
	want := fmt.Sprintf("default %v and %d for servers, %v and %d for clients",
		conform.DefaultServerHeartbeat, conform.DefaultServerMisses, conform.DefaultClientHeartbeat, conform.DefaultClientMisses)
	if !strings.Contains(doc, want) {
		t.Errorf("docs/conformance.md does not say %q", want)
	}
	if p2plabBin == "" || os.Getenv("P2PLAB_TEST_BINARY") == "/bin/true" {
		t.Skip("no p2plab binary")
	}
	out, _ := exec.Command(p2plabBin, "conform", "server", "--help").CombinedOutput()
	help := strings.Join(strings.Fields(string(out)), " ")
	for _, w := range []string{
		fmt.Sprintf("default %v for a server, %v for a client", conform.DefaultServerHeartbeat, conform.DefaultClientHeartbeat),
		fmt.Sprintf("default %d for a server, %d for a client", conform.DefaultServerMisses, conform.DefaultClientMisses),
	} {
		if !strings.Contains(help, w) {
			t.Errorf("p2plab conform --help does not say %q:\n%s", w, out)
		}
	}
}
