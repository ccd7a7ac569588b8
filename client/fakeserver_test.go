package client_test

// TEMPORARY: a minimal fake server used only until server/servertest lands.

import (
	"bufio"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/p2plab/p2plab/protocol"
)

type fakeServer struct {
	Addr  netip.AddrPort
	ln    net.Listener
	mu    sync.Mutex
	users map[string]*fconn
	wg    sync.WaitGroup
}

type fconn struct {
	c  net.Conn
	mu sync.Mutex
	id string
	ep netip.AddrPort
}

func (f *fconn) send(fr protocol.Frame) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = protocol.WriteFrame(f.c, fr)
}

func newFakeServer(t *testing.T) *fakeServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, Addr: ln.Addr().(*net.TCPAddr).AddrPort(), users: map[string]*fconn{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *fakeServer) Close() {
	s.ln.Close()
	s.mu.Lock()
	for _, u := range s.users {
		u.c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *fakeServer) serve(c net.Conn) {
	defer c.Close()
	r := protocol.NewReader(bufio.NewReader(c))
	fc := &fconn{c: c, ep: c.RemoteAddr().(*net.TCPAddr).AddrPort()}
	defer func() {
		if fc.id == "" {
			return
		}
		s.mu.Lock()
		if s.users[fc.id] == fc {
			delete(s.users, fc.id)
		}
		others := s.others(fc.id)
		s.mu.Unlock()
		for _, o := range others {
			o.send(protocol.MustFrame(protocol.TypeUserStateNotify, protocol.UserStateNotify{UserID: fc.id, OnLine: false}))
		}
	}()
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		switch f.Type {
		case protocol.TypeLogin:
			var l protocol.Login
			_ = f.DecodeBody(&l)
			fc.id = l.UserID
			ep := protocol.EndpointOf(fc.ep)
			s.mu.Lock()
			s.users[fc.id] = fc
			others := s.others(fc.id)
			s.mu.Unlock()
			r := protocol.MustFrame(protocol.TypeLoginResult, protocol.LoginResult{OK: true, Observed: &ep})
			r.Re = f.ID
			fc.send(r)
			for _, o := range others {
				o.send(protocol.MustFrame(protocol.TypeUserStateNotify, protocol.UserStateNotify{UserID: fc.id, OnLine: true, IP: ep.IP, Port: ep.Port}))
			}
		case protocol.TypeGetP2PInfo:
			var res protocol.ResP2pInfo
			s.mu.Lock()
			for id, u := range s.users {
				e := protocol.EndpointOf(u.ep)
				res.Users = append(res.Users, protocol.UserInfo{UserID: id, IP: e.IP, Port: e.Port})
			}
			s.mu.Unlock()
			r := protocol.MustFrame(protocol.TypeResP2pInfo, res)
			r.Re = f.ID
			fc.send(r)
		case protocol.TypeHeartbeat:
			fc.send(protocol.Frame{Type: protocol.TypeHeartbeatAck, Re: f.ID})
		case protocol.TypeLogout:
			return
		default:
			if protocol.Relayable(f.Type) {
				var rt protocol.Relay
				_ = f.DecodeBody(&rt)
				s.mu.Lock()
				d := s.users[rt.DestUserID]
				s.mu.Unlock()
				if d == nil {
					fc.send(protocol.MustFrame(protocol.TypeError, protocol.Error{Code: protocol.CodeUserOffline, MessageID: rt.MessageID, TransferID: rt.TransferID}))
					continue
				}
				d.send(f)
			}
		}
	}
}

func (s *fakeServer) others(id string) []*fconn {
	var out []*fconn
	for k, u := range s.users {
		if k != id {
			out = append(out, u)
		}
	}
	return out
}
