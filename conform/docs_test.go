package conform_test

import (
	"os"
	"strings"
	"testing"

	"github.com/p2plab/p2plab/conform"
)

// docs/conformance.md holds the catalogue exactly as the code defines it.
func TestDocsCatalogueInStep(t *testing.T) {
	b, err := os.ReadFile("../docs/conformance.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, rest, ok1 := strings.Cut(doc, "<!-- catalogue:begin -->\n")
	table, _, ok2 := strings.Cut(rest, "<!-- catalogue:end -->")
	if !ok1 || !ok2 {
		t.Fatal("docs/conformance.md: catalogue markers missing")
	}
	var want strings.Builder
	want.WriteString("\n### Server\n\n")
	conform.WriteMarkdown(&want, conform.Catalogue(conform.RoleServer))
	want.WriteString("\n### Client\n\n")
	conform.WriteMarkdown(&want, conform.Catalogue(conform.RoleClient))
	want.WriteString("\n")
	if table != want.String() {
		t.Fatalf("docs/conformance.md catalogue is out of date; regenerate it with p2plab conform server|client --list --markdown\n--- want ---\n%s", want.String())
	}
}
