package netlab

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netns"
)

// nftDel: a table that is gone already is fine (the kernel's ENOENT,
// matched with errors.Is); any other failure is reported.
func TestNftDel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces)")
	}
	name := Prefix + "nftdel"
	ns, err := newNamedNS(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close(); _ = deleteNamedNS(name) })
	if err := nftAdd(ns, "t1", []nftRule{blockRule(1, 2, false)}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"present", "gone"} {
		if err := nftDel(ns, "t1"); err != nil {
			t.Fatalf("delete a table that is %s: %v", step, err)
		}
	}
	if ts, err := nftTables(ns, "t1"); err != nil || len(ts) != 0 {
		t.Fatalf("tables after delete: %v, %v", ts, err)
	}
	// Not a namespace: the error must come back, not be taken for "gone".
	f, err := os.Create(filepath.Join(t.TempDir(), "not-a-netns"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := nftDel(netns.NsHandle(f.Fd()), "t1"); err == nil {
		t.Fatal("nftDel in a file that is no namespace: no error")
	}
}
