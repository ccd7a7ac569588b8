package server

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
)

// serveUDP answers UDP hellos on pc until it is closed (docs/protocol.md
// 9.5). Datagrams are handled one by one: a hello costs a map lookup.
func (s *Server) serveUDP(pc *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		n, src, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if b := s.hello(buf[:n], src); b != nil {
			_, _ = pc.WriteToUDPAddrPort(b, src)
		}
	}
}

// startUDP listens on UDP at the TCP listener's address and port and
// serves hellos until ctx is done; the returned stop closes the socket and
// waits for its goroutine. A server without UDP (configured as version 1,
// or the port taken) returns a stop that does nothing.
func (s *Server) startUDP(ctx context.Context, ln net.Listener) (stop func()) {
	defer s.udpOnce.Do(func() { close(s.udpSettled) })
	ta, ok := ln.Addr().(*net.TCPAddr)
	if s.cfg.Version1 || s.cfg.NoUDP || !ok {
		return func() {}
	}
	ap := ta.AddrPort()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr(), ap.Port())))
	if err != nil {
		s.log.Warn("no UDP rendezvous", "addr", ap, "err", err)
		return func() {}
	}
	s.udpServing.Add(1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.serveUDP(pc) }()
	unhook := context.AfterFunc(ctx, func() { pc.Close() })
	return func() {
		unhook()
		s.udpServing.Add(-1)
		pc.Close()
		wg.Wait()
	}
}
