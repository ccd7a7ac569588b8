package netlab

import (
	"errors"

	"github.com/vishvananda/netlink"
)

// dumpAttempts bounds RetryDump.
const dumpAttempts = 10

// RetryDump calls f, a netlink dump (LinkList, AddrList, RouteList, ...),
// again while the kernel reports that the dump was interrupted by a change
// made meanwhile (netlink.ErrDumpInterrupted): other labs on the machine
// change links all the time. It gives up after a few attempts and returns
// the last error.
func RetryDump[T any](f func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range dumpAttempts {
		v, err = f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}
