package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/server"
)

func init() {
	register("server", "run the reference server", runServer)
}

// runServer runs the reference server until SIGINT/SIGTERM (exit 0). Bad
// usage exits 2; a listen failure exits 1.
func runServer(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	listen := fs.String("listen", "0.0.0.0:7070", "wire protocol address IP:PORT (port 0: any free port)")
	admin := fs.String("admin", "", "admin HTTP address IP:PORT for /v1/stats, /metrics, /healthz (default: off)")
	hb := fs.Duration("heartbeat", time.Second, "heartbeat interval")
	misses := fs.Int("misses", 3, "silent heartbeat intervals before a connection is dead")
	queue := fs.Int("queue", 1024, "outbound frames queued per connection before it is cut with slow_consumer")
	queueBytes := fs.Int("queue-bytes", 16<<20, "bytes of outbound frames queued per connection before it is cut with slow_consumer")
	maxOffline := fs.Int("max-offline", 10000, "offline users whose counters are kept; beyond it the one offline longest is forgotten")
	maxPending := fs.Int("max-pending", 256, "connections not logged in yet; more are closed at accept")
	v1 := fs.Bool("v1", false, "speak protocol version 1 only (no features, keys, UDP rendezvous or punch relay)")
	noUDP := fs.Bool("no-udp", false, "protocol v1.1 without the UDP rendezvous")
	verbose := fs.Bool("v", false, "debug diagnostics on stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "p2plab server: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	if fs.NArg() != 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	laddr, err := parseListen(*listen)
	if err != nil {
		return usage("--listen: %q is not IP:PORT", *listen)
	}
	var aaddr netip.AddrPort
	if *admin != "" {
		if aaddr, err = parseListen(*admin); err != nil {
			return usage("--admin: %q is not IP:PORT", *admin)
		}
	}
	if *hb <= 0 || *hb > time.Hour {
		return usage("--heartbeat: %s out of range (0, 1h]", *hb)
	}
	if *misses < 1 || *misses > 1000 {
		return usage("--misses: %d out of range 1..1000", *misses)
	}
	if *queue < 1 || *queue > 1<<20 {
		return usage("--queue: %d out of range 1..1048576", *queue)
	}
	if *queueBytes < protocol.MaxFrameLen+4 || *queueBytes > 1<<30 {
		return usage("--queue-bytes: %d out of range %d..%d (one largest frame .. 1 GiB)", *queueBytes, protocol.MaxFrameLen+4, 1<<30)
	}
	if *maxOffline < 1 || *maxOffline > 1<<24 {
		return usage("--max-offline: %d out of range 1..16777216", *maxOffline)
	}
	if *maxPending < 1 || *maxPending > 1<<20 {
		return usage("--max-pending: %d out of range 1..1048576", *maxPending)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv := server.New(server.Config{Heartbeat: *hb, Misses: *misses, QueueLen: *queue,
		QueueBytes: *queueBytes, MaxPending: *maxPending, MaxOffline: *maxOffline, Version1: *v1, NoUDP: *noUDP, Logger: logger})

	ln, err := net.ListenTCP(network(laddr), net.TCPAddrFromAddrPort(laddr))
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab server: listen %s: %v\n", laddr, err)
		return 1
	}
	var adminSrv *http.Server
	adminLine := ""
	adminDone := make(chan error, 1)
	if aaddr.IsValid() {
		aln, err := net.ListenTCP(network(aaddr), net.TCPAddrFromAddrPort(aaddr))
		if err != nil {
			ln.Close()
			fmt.Fprintf(os.Stderr, "p2plab server: listen admin %s: %v\n", aaddr, err)
			return 1
		}
		adminSrv = &http.Server{Handler: srv.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { adminDone <- adminSrv.Serve(aln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			adminSrv.Shutdown(sctx)
			<-adminDone
		}()
		adminLine = fmt.Sprintf("p2plab server admin on %s\n", printable(aln.Addr()))
	}
	// Both listeners are open: print the listening line, then the admin
	// line, then serve.
	fmt.Printf("p2plab server listening on %s\n", printable(ln.Addr()))
	fmt.Print(adminLine)
	err = srv.Serve(ctx, ln)
	if err != nil && !errors.Is(err, server.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "p2plab server: %v\n", err)
		return 1
	}
	logger.Info("server stopped")
	return 0
}

// printable renders a listener address as IP:PORT with IPv4 unmapped.
func printable(a net.Addr) string {
	ap := a.(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}

// parseListen parses IP:PORT; ":PORT" means 0.0.0.0:PORT.
func parseListen(s string) (netip.AddrPort, error) {
	if len(s) > 0 && s[0] == ':' {
		s = "0.0.0.0" + s
	}
	return netip.ParseAddrPort(s)
}

// network picks tcp4 for IPv4 addresses, so that 0.0.0.0 listens on IPv4
// only and prints as 0.0.0.0 (plain "tcp" would listen dual-stack on [::]).
func network(ap netip.AddrPort) string {
	if ap.Addr().Is4() {
		return "tcp4"
	}
	return "tcp6"
}
