// Command nftlist prints the nftables tables of the machine's own network
// namespace, one "family name" per line (this machine has no nft binary).
// reliability/leaks.sh uses it to compare the state before and after a run.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/google/nftables"
)

func main() {
	var c nftables.Conn
	tables, err := c.ListTables()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nftlist:", err)
		os.Exit(1)
	}
	var out []string
	for _, t := range tables {
		out = append(out, fmt.Sprintf("%d %s", t.Family, t.Name))
	}
	sort.Strings(out)
	for _, l := range out {
		fmt.Println(l)
	}
}
