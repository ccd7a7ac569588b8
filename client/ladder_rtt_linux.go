//go:build linux

package client

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connRTT is the kernel's smoothed round-trip time of a TCP connection
// (TCP_INFO), 0 when unknown.
func connRTT(conn net.Conn) time.Duration {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	var info *unix.TCPInfo
	if raw.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}) != nil || err != nil {
		return 0
	}
	return time.Duration(info.Rtt) * time.Microsecond
}
