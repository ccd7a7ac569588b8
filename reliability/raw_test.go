package reliability_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/p2plab/p2plab/netlab"
	"github.com/p2plab/p2plab/protocol"
	"github.com/p2plab/p2plab/sim"
)

// raw is an attacker's TCP connection to the lab server, opened from
// inside a lab host (the socket stays in that host's namespace).
type raw struct {
	c    net.Conn
	r    *protocol.Reader
	user string
}

// dialRaw connects from host h to the lab's server; the connection is
// closed when the spec ends.
func dialRaw(ctx context.Context, lab *sim.Lab, h *netlab.Host) *raw {
	var c net.Conn
	err := h.Do(ctx, func() error {
		d := net.Dialer{Timeout: 3 * time.Second}
		var err error
		c, err = d.DialContext(ctx, "tcp", lab.Server().Addr().String())
		return err
	})
	Expect(err).NotTo(HaveOccurred(), "dial the server from %s", h.Name())
	DeferCleanup(func() { _ = c.Close() }) // a spec may have closed it already
	return &raw{c: c, r: protocol.NewReader(c)}
}

func header(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

func framed(payload string) []byte { return append(header(uint32(len(payload))), payload...) }

func frame(typ string, id int64, body any) []byte {
	f := protocol.MustFrame(typ, body)
	f.ID = id
	b, err := protocol.Marshal(f)
	Expect(err).NotTo(HaveOccurred())
	return b
}

func (r *raw) send(b []byte) {
	r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := r.c.Write(b)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "%s: write %d bytes", r.user, len(b))
}

// next reads one frame within d.
func (r *raw) next(d time.Duration) (protocol.Frame, error) {
	r.c.SetReadDeadline(time.Now().Add(d))
	return r.r.ReadFrame()
}

// login logs in as user and waits for LoginResult ok.
func (r *raw) login(user string) {
	r.user = user
	r.send(frame(protocol.TypeLogin, 1, protocol.Login{UserID: user, UserName: user}))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f, err := r.next(time.Until(deadline))
		ExpectWithOffset(1, err).NotTo(HaveOccurred(), "%s: waiting for LoginResult", user)
		if f.Type != protocol.TypeLoginResult {
			continue
		}
		var lr protocol.LoginResult
		ExpectWithOffset(1, f.DecodeBody(&lr)).To(Succeed())
		ExpectWithOffset(1, lr.OK).To(BeTrue(), "%s: login refused: %s", user, lr.Error)
		return
	}
	Fail(user + ": no LoginResult within 5s")
}

// expectError reads frames (skipping heartbeats, notices and relayed
// frames) until an Error arrives within d, and checks its code.
func (r *raw) expectError(code string, d time.Duration) (protocol.Error, int64) {
	deadline := time.Now().Add(d)
	var seen []string
	for {
		f, err := r.next(time.Until(deadline))
		if err != nil {
			Fail(fmt.Sprintf("%s: want Error %s within %s, got %v after %v", r.user, code, d, err, seen))
		}
		if f.Type != protocol.TypeError {
			if len(seen) < 10 {
				seen = append(seen, f.Type)
			}
			continue
		}
		var e protocol.Error
		ExpectWithOffset(1, f.DecodeBody(&e)).To(Succeed())
		ExpectWithOffset(1, e.Code).To(Equal(code), "%s: Error %+v", r.user, e)
		return e, f.Re
	}
}

// expectClosed reads until the server closes the connection (EOF or reset)
// within d; frames before the close are allowed (heartbeats, notices).
func (r *raw) expectClosed(d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		_, err := r.next(time.Until(deadline))
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			Fail(fmt.Sprintf("%s: connection still open after %s", r.user, d))
		}
		// io.EOF, ECONNRESET, or a half frame cut by the close: all closed.
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
			GinkgoWriter.Printf("%s: closed with %v\n", r.user, err)
		}
		return
	}
}
