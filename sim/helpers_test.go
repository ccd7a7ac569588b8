package sim

import (
	"net/netip"

	"github.com/p2plab/p2plab/api"
)

type netipAP = netip.AddrPort
type apiCh = api.Channel

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func apiChannel(peer, local, remote, initiator string) api.Channel {
	return api.Channel{Peer: peer, Transport: "tcp", Local: local, Remote: remote, Initiator: initiator}
}
