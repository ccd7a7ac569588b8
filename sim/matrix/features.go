package matrix

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/sim"
)

// observer is the user ID the runner logs in as to read what the programs
// advertise.
const observer = "matrix-observer"

// Advertised is what the server and each user advertise (docs/protocol.md
// 9.1), as a v1.1 client sees it.
type Advertised struct {
	// Server is the server's LoginResult features; V11Server is false when
	// it answered with version 1 frames only.
	Server    []string
	V11Server bool
	// Users maps a user ID to its ResP2pInfo features (nil: none).
	Users map[string][]string
}

// advertised logs in to the server as a v1.1 observer (features, no key,
// so nobody can make a channel with it), asks for the online users and
// logs out: the wire protocol is the only window onto what the programs
// advertise (LoginResult and ResP2pInfo `features`).
func advertised(ctx context.Context, lab *sim.Lab) (Advertised, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	srv := lab.Server()
	conn, err := sim.NetOf(srv.Host()).Dial(ctx, netip.AddrPort{}, srv.Addr())
	if err != nil {
		return Advertised{}, fmt.Errorf("matrix: observer: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var ad Advertised
	send := func(typ string, v any) error {
		if err := protocol.WriteFrame(conn, protocol.MustFrame(typ, v)); err != nil {
			return fmt.Errorf("matrix: observer: send %s: %w", typ, err)
		}
		return nil
	}
	rd := protocol.NewReader(conn)
	await := func(typ string, v any) error {
		for {
			f, err := rd.ReadFrame()
			if err != nil {
				return fmt.Errorf("matrix: observer: waiting for %s: %w", typ, err)
			}
			if f.Type == typ {
				return f.DecodeBody(v)
			}
		}
	}
	if err := send(protocol.TypeLogin, protocol.Login{UserID: observer, Features: []string{"observer"}}); err != nil {
		return ad, err
	}
	var lr protocol.LoginResult
	if err := await(protocol.TypeLoginResult, &lr); err != nil {
		return ad, err
	}
	if !lr.OK {
		return ad, fmt.Errorf("matrix: observer: login refused: %s", lr.Error)
	}
	ad.Server, ad.V11Server = lr.Features, lr.Features != nil
	if err := send(protocol.TypeGetP2PInfo, struct{}{}); err != nil {
		return ad, err
	}
	var info protocol.ResP2pInfo
	if err := await(protocol.TypeResP2pInfo, &info); err != nil {
		return ad, err
	}
	ad.Users = map[string][]string{}
	for _, u := range info.Users {
		ad.Users[u.UserID] = u.Features
	}
	_ = send(protocol.TypeLogout, struct{}{})
	return ad, nil
}

// canDo reports whether both users and the server advertise what path
// needs: lan needs v1.1 (the `local` endpoint), tcp-punch `punch`,
// udp-punch `punch` and `quic`; direct and relay need nothing.
func (a Advertised) canDo(p string) bool {
	both := func(f string) bool {
		return protocol.Has(a.Users[Initiator], f) && protocol.Has(a.Users[Acceptor], f)
	}
	switch p {
	case "lan":
		return a.Users[Initiator] != nil && a.Users[Acceptor] != nil && a.V11Server
	case "tcp-punch":
		return both(protocol.FeaturePunch) && protocol.Has(a.Server, protocol.FeaturePunch)
	case "udp-punch":
		return both(protocol.FeaturePunch) && both(protocol.FeatureQUIC) && protocol.Has(a.Server, protocol.FeaturePunch) && protocol.Has(a.Server, "udp")
	}
	return true
}
