// Package wireshark holds the tests of the Wireshark dissector shipped in
// this folder (p2plab.lua). The dissector is Lua, loaded by Wireshark or
// tshark; these tests run the real tshark over real captures: frames written
// here byte by byte, and the pcaps of a real lab run.
package wireshark

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/p2plab/p2plab/internal/selfbuild"
)

// tshark returns the path of tshark, or fails the test saying how to get it
// (make deps installs it).
func tshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatalf("tshark is not installed (make deps installs Debian's tshark): %v", err)
	}
	return p
}

// decode runs tshark with the dissector over pcap and returns one row per
// packet holding p2plab frames, the fields tab-separated (a field that
// occurs in several frames of one packet lists them comma-separated).
func decode(t *testing.T, pcap string, fields ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"-X", "lua_script:p2plab.lua", "-r", pcap, "-Y", "p2plab", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.CommandContext(ctx, tshark(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if s := stderr.String(); strings.Contains(s, "Lua: Error") || strings.Contains(s, "lua_script") {
		t.Fatalf("tshark reports an error in the dissector:\n%s", s)
	}
	var rows []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l != "" {
			rows = append(rows, l)
		}
	}
	return rows
}

// segment is one TCP payload from one endpoint to another.
type segment struct {
	src, dst net.IP
	sport    uint16
	dport    uint16
	payload  []byte
	udp      bool // a UDP datagram (protocol v1.1 hellos and punches)
}

func frame(json string) []byte {
	b := make([]byte, 4, 4+len(json))
	binary.BigEndian.PutUint32(b, uint32(len(json)))
	return append(b, json...)
}

// writePcap writes segments as one established TCP stream per direction
// pair (no handshake; Wireshark dissects mid-stream payloads).
func writePcap(t *testing.T, segs []segment) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "crafted.pcap")
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w := pcapgo.NewWriter(fh)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	seq := map[string]uint32{}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i, s := range segs {
		key := s.src.String() + string(rune(s.sport))
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: s.src, DstIP: s.dst}
		var l4 interface {
			gopacket.SerializableLayer
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}
		if s.udp {
			ip.Protocol = layers.IPProtocolUDP
			l4 = &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		} else {
			l4 = &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: 1000 + seq[key], Ack: 1, PSH: true, ACK: true, Window: 65535}
			seq[key] += uint32(len(s.payload))
		}
		if err := l4.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, l4, gopacket.Payload(s.payload)); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: at.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := w.WritePacket(ci, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestDissectorCraftedFrames checks the decoding rules frame by frame, and
// that what is not a p2plab frame is left alone.
func TestDissectorCraftedFrames(t *testing.T) {
	srv := net.IPv4(198, 18, 1, 2).To4()
	a := net.IPv4(198, 18, 1, 3).To4()
	b := net.IPv4(198, 18, 1, 4).To4()
	chat := `{"type":"ClientChatMessage","id":7,"body":{"messageID":"m1","userID":"alice","destUserID":"bob","content":"hi"}}`
	two := append(frame(`{"type":"Heartbeat","id":3}`), frame(`{"type":"HeartbeatAck","re":3}`)...)
	cases := []struct {
		name string
		seg  segment
		want []string // type, id, re, sender, dest, bad
	}{
		{"login to the server port", segment{src: a, dst: srv, sport: 40000, dport: 7000, payload: frame(`{"type":"Login","id":1,"body":{"userID":"alice","userName":"Alice"}}`)},
			[]string{"Login\t1\t\talice\t\t"}},
		{"chat on a P2P channel (heuristic)", segment{src: a, dst: b, sport: 40000, dport: 41000, payload: frame(chat)},
			[]string{"ClientChatMessage\t7\t\talice\tbob\t"}},
		{"two frames in one segment", segment{src: b, dst: a, sport: 41000, dport: 40000, payload: two},
			[]string{"Heartbeat,HeartbeatAck\t3\t3\t\t\t"}},
		{"trailing bytes after the object", segment{src: a, dst: srv, sport: 40001, dport: 7000, payload: frame(`{"type":"Logout"} x`)},
			[]string{"\t\t\t\t\ttrailing bytes after the object"}},
		{"not JSON on the server port", segment{src: a, dst: srv, sport: 40002, dport: 7000, payload: frame(`hello`)},
			[]string{"\t\t\t\t\tnot a JSON object"}},
		{"v1.1 UDP hello to the server port", segment{src: a, dst: srv, sport: 40004, dport: 7000, udp: true,
			payload: frame(`{"type":"UDPHello","body":{"userID":"alice","token":"0123456789abcdef0123456789abcdef","seq":1}}`)},
			[]string{"UDPHello\t\t\talice\t\t"}},
		{"v1.1 punch between clients (heuristic)", segment{src: a, dst: b, sport: 40005, dport: 41005, udp: true,
			payload: frame(`{"type":"Punch","body":{"punchID":"p1","userID":"alice"}}`)},
			[]string{"Punch\t\t\talice\t\t"}},
		{"a QUIC packet between clients is not p2plab", segment{src: a, dst: b, sport: 40006, dport: 41006, udp: true,
			payload: []byte{0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8}}, nil},
		{"HTTP between ephemeral ports is not p2plab", segment{src: a, dst: b, sport: 40003, dport: 41003, payload: []byte("GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")},
			nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writePcap(t, []segment{c.seg})
			got := decode(t, p, "p2plab.type", "p2plab.id", "p2plab.re", "p2plab.sender", "p2plab.dest", "p2plab.bad")
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("decoded rows:\n%q\nwant:\n%q", got, c.want)
			}
		})
	}
}

// TestDissectorOnLabRun runs the shipped relay-fallback scenario with
// --capture in a real netns lab and finds, in bob's capture, the frames the
// scenario made: chats relayed by the server on its port, then bob's
// SetupP2PMessage and a ClientChatMessage on the P2P channel between the
// clients' ephemeral ports.
func TestDissectorOnLabRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the netns lab needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN); run as root")
	}
	tshark(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := selfbuild.Binary(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := selfbuild.Root()
	if err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(dir, "artifacts")
	cmd := exec.CommandContext(ctx, bin, "run", "--capture", "--artifacts", art, filepath.Join(root, "scenarios", "relay-fallback.yaml"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("p2plab run: %v\n%s", err, out)
	}
	rows := decode(t, filepath.Join(art, "relay-fallback", "pcap", "bob.pcap"),
		"p2plab.type", "tcp.srcport", "tcp.dstport", "p2plab.sender", "p2plab.dest")
	var relayed, setup, direct bool
	for _, r := range rows {
		f := strings.Split(r, "\t")
		if len(f) != 5 {
			t.Fatalf("row %q: want 5 fields", r)
		}
		typ, sport, dport, sender, dest := f[0], f[1], f[2], f[3], f[4]
		p2p := sport != "7000" && dport != "7000"
		switch {
		case typ == "ChatMessage" && sport == "7000" && sender == "alice" && dest == "bob":
			relayed = true
		case typ == "SetupP2PMessage" && p2p && sender == "bob":
			setup = true
		case typ == "ClientChatMessage" && p2p && sender == "alice" && dest == "bob":
			direct = true
		}
	}
	if !relayed || !setup || !direct {
		t.Fatalf("in bob's capture: relayed ChatMessage alice->bob from the server %v, SetupP2PMessage from bob on a P2P channel %v, ClientChatMessage alice->bob on it %v; decoded:\n%s",
			relayed, setup, direct, strings.Join(rows, "\n"))
	}
}
