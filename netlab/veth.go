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

// brStateForwarding is BR_STATE_FORWARDING (linux/if_bridge.h).
const brStateForwarding = 3

// ifOperUp is IF_OPER_UP (RFC 2863 operational state, linux/if.h).
const ifOperUp = 6

// forwardingPorts counts the bridge ports of the calling thread's namespace
// that are operationally up and in forwarding state. Both happen only once
// the kernel's link watcher has handled the port's carrier (it also gives
// the device its real qdisc: until then it drops what it should send), and
// a busy machine can delay that by seconds.
func forwardingPorts() (int, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range msgs {
		ifi := nl.DeserializeIfInfomsg(m)
		attrs, err := nl.ParseRouteAttr(m[ifi.Len():])
		if err != nil {
			return 0, err
		}
		up, forwarding := false, false
		for _, a := range attrs {
			switch a.Attr.Type &^ unix.NLA_F_NESTED {
			case unix.IFLA_OPERSTATE:
				up = len(a.Value) > 0 && a.Value[0] == ifOperUp
			case unix.IFLA_PROTINFO:
				infos, err := nl.ParseRouteAttr(a.Value)
				if err != nil {
					return 0, err
				}
				for _, in := range infos {
					if in.Attr.Type&^unix.NLA_F_NESTED == nl.IFLA_BRPORT_STATE && len(in.Value) > 0 {
						forwarding = in.Value[0] == brStateForwarding
					}
				}
			}
		}
		if up && forwarding {
			n++
		}
	}
	return n, nil
}
