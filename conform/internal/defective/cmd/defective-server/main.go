// Command defective-server runs one of the deliberately defective servers
// of package defective in front of a running reference server, so that a
// person can see what the conformance report says about a server that
// breaks a rule:
//
//	p2plab server --listen 127.0.0.1:7070 &
//	go run ./conform/internal/defective/cmd/defective-server -upstream 127.0.0.1:7070 -defect forward-forged
//	p2plab conform server --addr <the printed address>
//
// It is a test aid, never a server to use.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/p2plab/p2plab/conform/internal/defective"
)

func main() {
	upstream := flag.String("upstream", "", "the reference server's address IP:PORT")
	var names []string
	for _, d := range defective.ServerDefects {
		names = append(names, string(d))
	}
	defect := flag.String("defect", "", "one of: "+strings.Join(names, ", "))
	flag.Parse()
	ap, err := netip.ParseAddrPort(*upstream)
	if err != nil || *defect == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	p, err := defective.NewServerProxy(ap, defective.ServerDefect(*defect))
	if err != nil {
		fmt.Fprintln(os.Stderr, "defective-server:", err)
		os.Exit(1)
	}
	fmt.Printf("defective server (%s) listening on %s\n", *defect, p.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	<-ctx.Done()
	stop()
	p.Close()
}
