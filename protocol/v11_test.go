package protocol

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCleanFeatures(t *testing.T) {
	in := []string{"id", "ID", "", "punch", "id", strings.Repeat("a", 33), "udp-2"}
	for i := range 20 {
		in = append(in, "f"+string(rune('a'+i)))
	}
	got := CleanFeatures(in)
	if len(got) != MaxFeatures {
		t.Fatalf("kept %d features, want %d: %v", len(got), MaxFeatures, got)
	}
	if !slices.Equal(got[:3], []string{"id", "punch", "udp-2"}) {
		t.Fatalf("features %v: want id, punch, udp-2 first (invalid and repeated dropped)", got)
	}
}

func TestProof(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	tr := Transcript(RoleAccept, "alice", "bob", "n1", "n2")
	p := Prove(priv, tr)
	k, ok := ParseKey(EncodeKey(pub))
	if !ok || !CheckProof(k, tr, p) {
		t.Fatal("a proof does not check with its own key")
	}
	tests := []struct {
		name  string
		key   ed25519.PublicKey
		tr    []byte
		proof string
	}{
		{"other key", other, tr, p},
		{"other role", pub, Transcript(RoleInitiate, "alice", "bob", "n1", "n2"), p},
		{"other nonce", pub, Transcript(RoleAccept, "alice", "bob", "n1", "n3"), p},
		{"swapped users", pub, Transcript(RoleAccept, "bob", "alice", "n1", "n2"), p},
		{"not base64", pub, tr, "!!"},
		{"empty", pub, tr, ""},
	}
	for _, tt := range tests {
		if CheckProof(tt.key, tt.tr, tt.proof) {
			t.Errorf("%s: proof accepted", tt.name)
		}
	}
	if _, ok := ParseKey("AAAA"); ok {
		t.Error("a 3-byte key parsed")
	}
}

func TestDatagram(t *testing.T) {
	f := MustFrame(TypeUDPHello, UDPHello{UserID: "alice", Token: "t", Seq: 1})
	b, err := MarshalDatagram(f)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0 {
		t.Fatalf("first byte %#x, want 0 (never a QUIC packet)", b[0])
	}
	g, err := UnmarshalDatagram(b)
	if err != nil || g.Type != TypeUDPHello {
		t.Fatalf("round trip: %v %+v", err, g)
	}
	long := MustFrame(TypeUDPHello, UDPHello{UserID: "alice", Token: strings.Repeat("x", MaxDatagram)})
	if _, err := MarshalDatagram(long); err == nil {
		t.Error("an oversized datagram was encoded")
	}
	bad := map[string][]byte{
		"short":         {0, 0, 0},
		"length lies":   append([]byte{0, 0, 0, 9}, b[4:]...),
		"trailing data": append(append([]byte{}, b...), ' '),
		"not json":      {0, 0, 0, 1, 'x'},
		"oversized":     make([]byte, MaxDatagram+1),
	}
	binary.BigEndian.PutUint32(bad["oversized"], MaxDatagram+1-4)
	for name, d := range bad {
		if _, err := UnmarshalDatagram(d); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: err %v, want ErrBadFrame", name, err)
		}
	}
}
