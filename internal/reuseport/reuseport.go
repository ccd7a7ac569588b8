// Package reuseport holds the socket option the P2P design stands on: a
// peer listens on, and dials from, the local endpoint of its server
// connection (docs/protocol.md 6.1), which needs SO_REUSEADDR and SO_REUSEPORT on
// every socket bound to that endpoint. It is shared by the reference client
// and the conformance checker's fake peers; it is not a socket library.
package reuseport

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Control sets SO_REUSEADDR and SO_REUSEPORT on a socket before it is
// bound. Use it as net.Dialer.Control and net.ListenConfig.Control.
func Control(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
