package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// frameBytes prefixes payload with its 4-byte big-endian length.
func frameBytes(payload string) []byte {
	b := make([]byte, 4, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
	}{
		{"type only", Frame{Type: TypeGetP2PInfo}},
		{"id", Frame{Type: TypeHeartbeat, ID: 7}},
		{"re", Frame{Type: TypeHeartbeatAck, Re: 7}},
		{"body", MustFrame(TypeLogin, Login{UserID: "alice", UserName: "Alice <&>"})},
		{"unicode body", MustFrame(TypeChatMessage, Chat{MessageID: "m1", UserID: "a", DestUserID: "b", Content: "héllo \u2028 世界", SendTime: "2026-01-01T00:00:00Z"})},
		{"max id", Frame{Type: "X", ID: 1<<63 - 1, Re: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFrame(&buf, tt.f); err != nil {
				t.Fatal(err)
			}
			if got := binary.BigEndian.Uint32(buf.Bytes()); int(got) != buf.Len()-4 {
				t.Fatalf("length prefix %d, payload %d", got, buf.Len()-4)
			}
			r := NewReader(&buf)
			got, err := r.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tt.f.Type || got.ID != tt.f.ID || got.Re != tt.f.Re || !bytes.Equal(got.Body, tt.f.Body) {
				t.Fatalf("got %+v, want %+v", got, tt.f)
			}
			if _, err := r.ReadFrame(); err != io.EOF {
				t.Fatalf("after last frame: %v, want io.EOF", err)
			}
		})
	}
}

func TestMarshalRejects(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
	}{
		{"no type", Frame{}},
		{"negative id", Frame{Type: "X", ID: -1}},
		{"negative re", Frame{Type: "X", Re: -1}},
		{"bad body", Frame{Type: "X", Body: json.RawMessage("{")}},
		{"too long", MustFrame(TypeChatMessage, Chat{Content: strings.Repeat("a", MaxFrameLen)})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Marshal(tt.f); err == nil {
				t.Fatal("Marshal succeeded")
			}
		})
	}
}

func TestReadFrameErrors(t *testing.T) {
	header := func(n uint32) string {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], n)
		return string(b[:])
	}
	tests := []struct {
		name    string
		input   string
		wantErr error // matched with errors.Is
		code    string
	}{
		{"clean EOF", "", io.EOF, ""},
		{"cut header", "\x00\x00", io.ErrUnexpectedEOF, ""},
		{"cut payload", header(10) + `{"ty`, io.ErrUnexpectedEOF, ""},
		{"header only", header(10), io.ErrUnexpectedEOF, ""},
		{"length 0", header(0), ErrBadFrame, CodeBadFrame},
		{"length max+1", header(MaxFrameLen + 1), ErrBadFrame, CodeBadFrame},
		{"length 4 GiB-1", header(0xffffffff), ErrBadFrame, CodeBadFrame},
		{"not JSON", string(frameBytes("hello")), ErrBadFrame, CodeBadFrame},
		{"truncated JSON", string(frameBytes(`{"type":"Login"`)), ErrBadFrame, CodeBadFrame},
		{"trailing data", string(frameBytes(`{"type":"Login"} x`)), ErrBadFrame, CodeBadFrame},
		{"trailing brace", string(frameBytes(`{"type":"Login"}}`)), ErrBadFrame, CodeBadFrame},
		{"two objects", string(frameBytes(`{"type":"A"}{"type":"B"}`)), ErrBadFrame, CodeBadFrame},
		{"array", string(frameBytes(`[{"type":"Login"}]`)), ErrBadFrame, CodeBadFrame},
		{"null", string(frameBytes(`null`)), ErrBadFrame, CodeBadFrame},
		{"string", string(frameBytes(`"Login"`)), ErrBadFrame, CodeBadFrame},
		{"number", string(frameBytes(`42`)), ErrBadFrame, CodeBadFrame},
		{"invalid UTF-8", string(frameBytes("{\"type\":\"Lo\xffgin\"}")), ErrBadFrame, CodeBadFrame},
		{"no type", string(frameBytes(`{"id":1}`)), ErrBadFrame, CodeBadFrame},
		{"empty type", string(frameBytes(`{"type":""}`)), ErrBadFrame, CodeBadFrame},
		{"null type", string(frameBytes(`{"type":null}`)), ErrBadFrame, CodeBadFrame},
		{"numeric type", string(frameBytes(`{"type":5}`)), ErrBadFrame, CodeBadFrame},
		{"case-variant type", string(frameBytes(`{"Type":"Login"}`)), ErrBadFrame, CodeBadFrame},
		{"fractional id", string(frameBytes(`{"type":"Heartbeat","id":1.5}`)), ErrBadFrame, CodeBadFrame},
		{"float-form id", string(frameBytes(`{"type":"Heartbeat","id":1.0}`)), ErrBadFrame, CodeBadFrame},
		{"exponent id", string(frameBytes(`{"type":"Heartbeat","id":1e3}`)), ErrBadFrame, CodeBadFrame},
		{"string id", string(frameBytes(`{"type":"Heartbeat","id":"5"}`)), ErrBadFrame, CodeBadFrame},
		{"bool id", string(frameBytes(`{"type":"Heartbeat","id":true}`)), ErrBadFrame, CodeBadFrame},
		{"zero id", string(frameBytes(`{"type":"Heartbeat","id":0}`)), ErrBadFrame, CodeBadFrame},
		{"negative id", string(frameBytes(`{"type":"Heartbeat","id":-3}`)), ErrBadFrame, CodeBadFrame},
		{"huge id", string(frameBytes(`{"type":"Heartbeat","id":99999999999999999999}`)), ErrBadFrame, CodeBadFrame},
		{"fractional re", string(frameBytes(`{"type":"HeartbeatAck","re":2.5}`)), ErrBadFrame, CodeBadFrame},
		{"array body", string(frameBytes(`{"type":"Login","body":[]}`)), ErrBadFrame, CodeBadFrame},
		{"string body", string(frameBytes(`{"type":"Login","body":"x"}`)), ErrBadFrame, CodeBadFrame},
		{"number body", string(frameBytes(`{"type":"Login","body":1}`)), ErrBadFrame, CodeBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tt.input)).ReadFrame()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var fe *FrameError
			if tt.code != "" && (!errors.As(err, &fe) || fe.Code != tt.code) {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
		})
	}
}

func TestUnmarshalAccepts(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    Frame
	}{
		{"minimal", `{"type":"Logout"}`, Frame{Type: TypeLogout}},
		{"whitespace", " \n{ \"type\" : \"Logout\" , \"id\" : 3 }\t", Frame{Type: TypeLogout, ID: 3}},
		{"unknown fields ignored", `{"type":"X","extra":{"a":[1,"}"]},"z":null}`, Frame{Type: "X"}},
		{"null body is absent", `{"type":"X","body":null}`, Frame{Type: "X"}},
		{"null id is absent", `{"type":"X","id":null,"re":null}`, Frame{Type: "X"}},
		{"escaped key", `{"\u0074ype":"X"}`, Frame{Type: "X"}},
		{"escaped type", `{"type":"A\"B"}`, Frame{Type: `A"B`}},
		{"last duplicate wins", `{"type":"A","type":"B"}`, Frame{Type: "B"}},
		{"body kept verbatim", `{"type":"X","body":{ "a" : 1 }}`, Frame{Type: "X", Body: json.RawMessage(`{ "a" : 1 }`)}},
		{"re", `{"type":"HeartbeatAck","re":9}`, Frame{Type: TypeHeartbeatAck, Re: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unmarshal([]byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tt.want.Type || got.ID != tt.want.ID || got.Re != tt.want.Re || !bytes.Equal(got.Body, tt.want.Body) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUnmarshalDoesNotAlias(t *testing.T) {
	p := []byte(`{"type":"X","body":{"a":1}}`)
	f, err := Unmarshal(p)
	if err != nil {
		t.Fatal(err)
	}
	copy(p, bytes.Repeat([]byte("z"), len(p)))
	if string(f.Body) != `{"a":1}` {
		t.Fatalf("body changed with payload: %s", f.Body)
	}
}

func TestReadFrameSequence(t *testing.T) {
	var buf bytes.Buffer
	for i := 1; i <= 3; i++ {
		if err := WriteFrame(&buf, Frame{Type: TypeHeartbeat, ID: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	big := MustFrame(TypeFileChunk, FileChunk{TransferID: "t", DestUserID: "b", Data: bytes.Repeat([]byte{7}, MaxChunkData)})
	if err := WriteFrame(&buf, big); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&buf)
	for i := 1; i <= 3; i++ {
		f, err := r.ReadFrame()
		if err != nil || f.ID != int64(i) {
			t.Fatalf("frame %d: %+v, %v", i, f, err)
		}
	}
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	var c FileChunk
	if err := f.DecodeBody(&c); err != nil || len(c.Data) != MaxChunkData {
		t.Fatalf("chunk: %d bytes, %v", len(c.Data), err)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReaderStopsAtBadLength(t *testing.T) {
	// A header claiming 4 GiB - 1 followed by plenty of data: the reader must
	// fail after the 4 header bytes without reading (or allocating) more.
	cr := &countingReader{r: io.MultiReader(strings.NewReader("\xff\xff\xff\xff"), strings.NewReader(strings.Repeat("x", 1<<16)))}
	_, err := NewReader(cr).ReadFrame()
	if !errors.Is(err, ErrBadFrame) {
		t.Fatalf("err = %v", err)
	}
	if cr.n != 4 {
		t.Fatalf("read %d bytes, want 4", cr.n)
	}
}

func TestReaderAllocatesAsDataArrives(t *testing.T) {
	// A header claiming the maximum length with only a few bytes behind it
	// must not make the reader allocate the whole megabyte.
	input := append(frameBytes("")[:0], 0, 0x10, 0, 0) // 1 MiB
	input = append(input, `{"type":"X"`...)
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, err := NewReader(bytes.NewReader(input)).ReadFrame()
			if err != io.ErrUnexpectedEOF {
				b.Fatalf("err = %v", err)
			}
		}
	})
	if per := allocs.AllocedBytesPerOp(); per > 2*growStep {
		t.Fatalf("allocated %d bytes for a %d-byte stream", per, len(input))
	}
}

func TestDecodeBody(t *testing.T) {
	tests := []struct {
		name    string
		f       Frame
		want    Login
		wantErr bool
	}{
		{"absent", Frame{Type: TypeLogin}, Login{UserID: "keep"}, false},
		{"null", Frame{Type: TypeLogin, Body: json.RawMessage("null")}, Login{UserID: "keep"}, false},
		{"fields", MustFrame(TypeLogin, Login{UserID: "bob", UserName: "Bob"}), Login{UserID: "bob", UserName: "Bob"}, false},
		{"wrong type", Frame{Type: TypeLogin, Body: json.RawMessage(`{"userID":5}`)}, Login{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Login{UserID: "keep"}
			err := tt.f.DecodeBody(&l)
			if tt.wantErr {
				if !errors.Is(err, ErrBadFrame) {
					t.Fatalf("err = %v, want bad frame", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(l, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", l, err, tt.want)
			}
		})
	}
}

func TestBodiesRoundTrip(t *testing.T) {
	bodies := []struct {
		typ string
		in  any
		out func() any
	}{
		{TypeLoginResult, LoginResult{OK: true, Observed: &Endpoint{IP: "127.0.0.1", Port: 40000}}, func() any { return new(LoginResult) }},
		{TypeResP2pInfo, ResP2pInfo{Users: []UserInfo{{UserID: "a", IP: "::1", Port: 1}}}, func() any { return new(ResP2pInfo) }},
		{TypeChatAck, ChatAck{MessageID: "m", UserID: "b", DestUserID: "a"}, func() any { return new(ChatAck) }},
		{TypeUserStateNotify, UserStateNotify{UserID: "a", OnLine: true, IP: "1.2.3.4", Port: 5}, func() any { return new(UserStateNotify) }},
		{TypeSetupP2PMessage, SetupP2P{UserID: "a"}, func() any { return new(SetupP2P) }},
		{TypeFileOffer, FileOffer{TransferID: "t", DestUserID: "b", FileName: "f", Size: 3, SHA256: "00"}, func() any { return new(FileOffer) }},
		{TypeFileDone, FileDone{TransferID: "t", DestUserID: "b"}, func() any { return new(FileDone) }},
		{TypeFileResult, FileResult{TransferID: "t", DestUserID: "a", Error: "sha256 mismatch"}, func() any { return new(FileResult) }},
		{TypeError, Error{Code: CodeUserOffline, MessageID: "m"}, func() any { return new(Error) }},
	}
	for _, b := range bodies {
		t.Run(b.typ, func(t *testing.T) {
			raw, err := Marshal(MustFrame(b.typ, b.in))
			if err != nil {
				t.Fatal(err)
			}
			f, err := ReadFrame(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			out := b.out()
			if err := f.DecodeBody(out); err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(b.in)
			got, _ := json.Marshal(out)
			if !bytes.Equal(want, got) {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}
