package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/p2plab/p2plab/client"
	"github.com/p2plab/p2plab/protocol"
)

func init() {
	register("client", "run the reference headless client", runClient)
}

// runClient runs the reference client until SIGINT/SIGTERM (logout, exit 0)
// or POST /v1/quit. A refused first login exits 1, bad usage 2.
func runClient(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	server := fs.String("server", "", "server address IP:PORT (required)")
	user := fs.String("user", "", "user ID, 1-64 of A-Za-z0-9._- (required)")
	name := fs.String("name", "", "user name (default: the user ID)")
	control := fs.String("control", "", "control API endpoint: unix socket path, or IP:PORT (default: none)")
	logPath := fs.String("log", "", "P2PInfo log file (default: in memory only, see GET /v1/log)")
	files := fs.String("files", "", "directory for received files (default: a new temporary directory)")
	hb := fs.Duration("heartbeat", client.DefaultHeartbeat, "heartbeat interval on every connection")
	misses := fs.Int("misses", client.DefaultMisses, "silent heartbeat intervals before a connection is dead")
	punch := fs.Bool("punch", false, "protocol v1.1: punch through NATs (TCP simultaneous open, UDP + QUIC) when no plain dial works")
	strict := fs.Bool("strict-v1", false, "take a v1 peer (no vouched key) only from its advertised IP address")
	v1 := fs.Bool("v1", false, "speak protocol version 1 only (no identity, no punching)")
	methods := fs.String("punch-methods", "tcp-punch,udp-punch", "with --punch: the punching methods to try, comma-separated")
	ladder := fs.Duration("ladder", 5*time.Second, "bound on the whole ladder of attempts towards one peer")
	verbose := fs.Bool("v", false, "debug diagnostics on stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "p2plab client: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	if fs.NArg() != 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	srv, err := netip.ParseAddrPort(*server)
	if err != nil {
		return usage("--server: %q is not IP:PORT", *server)
	}
	if !protocol.ValidUserID(*user) {
		return usage("--user: %q is not 1-64 of A-Za-z0-9._-", *user)
	}
	if *hb <= 0 || *hb > time.Hour {
		return usage("--heartbeat: %s out of range", *hb)
	}
	if *misses < 1 || *misses > 1000 {
		return usage("--misses: %d out of range 1..1000", *misses)
	}
	if *ladder <= 0 || *ladder > time.Minute {
		return usage("--ladder: %s out of range (0, 1m]", *ladder)
	}
	var punchMethods []string
	for _, m := range strings.Split(*methods, ",") {
		if m != protocol.MethodTCPPunch && m != protocol.MethodUDPPunch {
			return usage("--punch-methods: %q is not tcp-punch or udp-punch", m)
		}
		punchMethods = append(punchMethods, m)
	}
	if *name == "" {
		*name = *user
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	c, err := client.New(client.Config{Server: srv, UserID: *user, UserName: *name, Heartbeat: *hb, Misses: *misses,
		LogPath: *logPath, FilesDir: *files, Control: *control, Logger: logger, Punch: *punch, Version1: *v1, StrictV1Peers: *strict, Ladder: *ladder, Methods: punchMethods})
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab client: %v\n", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-c.Ready():
		fmt.Printf("p2plab client %s online, listening on %s\n", *user, c.Listen())
		err = <-done
	case err = <-done:
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "p2plab client: %v\n", err)
		return 1
	}
	return 0
}
