package netlab

import (
	"errors"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Interface indexes the netns backend asks for, so that no lookup is
// needed after creation: the switch side of host i's NIC j gets
// swIndexBase+k (k counts NICs over all hosts), the host side
// hostIndexBase+j (a fresh namespace only holds lo, index 1, and perhaps
// a few fallback tunnel devices).
const (
	swIndexBase   = 1000
	hostIndexBase = 100
	loIndex       = 1 // the loopback device of every namespace
)

// addVethFast creates a veth pair in one netlink request, sent from a
// thread inside the host's namespace: the switch side, named swName with
// index swIndex, goes straight into the switch namespace (swFd), enslaved to
// the bridge master and up; the host side stays in the host namespace as
// eth with index ethIndex, down (asking for it up in the same request fails
// with ENOTCONN on this kernel). vishvananda/netlink would need four
// requests: create, look up, set master, look up the peer.
func addVethFast(swFd int, swName string, swIndex, master int, eth string, ethIndex int) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Flags = unix.IFF_UP
	msg.Change = unix.IFF_UP
	msg.Index = int32(swIndex)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(swName)))
	req.AddData(nl.NewRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(swFd))))
	req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(master))))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	peer := data.AddRtAttr(nl.VETH_INFO_PEER, nil)
	pm := nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	pm.Index = int32(ethIndex)
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(eth))
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// vethFast selects addVethFast; tests turn it off to run the fallback.
var vethFast = true

var errSlowVeth = errors.New("one-request veth creation is off")
