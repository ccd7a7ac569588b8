package netlab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	mdnetlink "github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A Queue sends the packets an nftables rule selects, in one host's network
// namespace, to a handler in this process, which decides each packet's fate
// (accept, drop, accept a rewritten payload) when it likes: a verdict may
// be given long after the packet arrived, which is how impairments delay
// packets (docs/netlab.md, "Impairments").
//
// The kernel on the lab machines has no native nftables `queue` statement
// (NFT_QUEUE), so the rule uses the xtables NFQUEUE target (revision 3)
// through the nftables compat expression. The queue is opened with
// go-nfqueue on a netlink socket created inside the namespace.
//
// Everything a Queue makes is named after the run (the table is the
// caller's name, which starts with the run id): Close removes it, and
// Clean finds a crashed run's table by its prefix. The rule carries the
// NFQUEUE bypass flag, so if this process dies the packets flow again
// unqueued instead of vanishing.
type Queue struct {
	nf     *nfqueue.Nfqueue
	ns     netns.NsHandle
	table  string
	num    uint16
	cancel context.CancelFunc
	once   sync.Once
	err    error
}

// QueueRule says where a Queue's rule sits and which packets it takes.
type QueueRule struct {
	// Hook is the netfilter hook of the rule's chain (e.g.
	// *nftables.ChainHookPrerouting).
	Hook *nftables.ChainHook
	// Priority is the chain's priority (e.g. nftables.ChainPriorityRaw).
	Priority *nftables.ChainPriority
	// IIF and OIF, if set, match the input and output interface names.
	IIF, OIF string
	// Proto, if not 0, matches the layer 4 protocol (unix.IPPROTO_UDP, ...).
	Proto uint8
	// SkipMark, if not 0, leaves packets with this mark unqueued (for
	// copies the handler injects itself).
	SkipMark uint32
}

// QueueConfig tunes a Queue.
type QueueConfig struct {
	// MaxLen is the most packets the kernel holds waiting for a verdict
	// (default 1024). When it is full the kernel drops new packets, unless
	// FailOpen lets them pass unqueued.
	MaxLen uint32
	// FailOpen accepts packets unqueued when the queue is full.
	FailOpen bool
	// ReadBuffer is the netlink socket's receive buffer in bytes (default
	// 4 MiB). A packet whose message does not fit is lost to the handler
	// but stays queued until Close: size it for the burst the rule sees.
	ReadBuffer int
}

// Packet is one queued packet.
type Packet struct {
	// ID names the packet in verdicts.
	ID uint32
	// Payload is the packet from its network header on. The handler may
	// keep it.
	Payload []byte
	// Arrival is when the handler got the packet (this process's clock).
	Arrival time.Time
	// InDev is the index of the interface the packet came in on, 0 for a
	// packet this host made itself.
	InDev uint32
}

// QueueHandler gets every queued packet, one at a time, on the queue's own
// goroutine; it must return quickly and give the verdict (now or later, from
// any goroutine) with Accept, Drop or AcceptModified.
type QueueHandler func(q *Queue, p Packet)

// nfqBypass is NFQ_FLAG_BYPASS of struct xt_NFQ_info_v3: accept packets
// while no program listens on the queue.
const nfqBypass = 0x01

// nfqueueTarget is the xt NFQUEUE target (revision 3) for queue num:
// struct xt_NFQ_info_v3 { __u16 queuenum; __u16 queues_total; __u16 flags; }
// in host byte order, padded to 8 bytes as xtables payloads must be.
func nfqueueTarget(num uint16) *expr.Target {
	info := make([]byte, 8)
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1)
	binary.NativeEndian.PutUint16(info[4:], nfqBypass)
	u := xt.Unknown(info)
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &u}
}

// ifname is an interface name as nftables compares it (IFNAMSIZ bytes).
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

// queueExprs is the rule: the matches of r, then the NFQUEUE target.
func queueExprs(num uint16, r QueueRule) []expr.Any {
	var e []expr.Any
	if r.IIF != "" {
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(r.IIF)})
	}
	if r.OIF != "" {
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(r.OIF)})
	}
	// IPv4 only: the lab's addresses are IPv4 (and neighbour discovery of
	// other families must not wait in a queue).
	e = append(e,
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}})
	if r.Proto != 0 {
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.Proto}})
	}
	if r.SkipMark != 0 {
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(r.SkipMark)})
	}
	return append(e, nfqueueTarget(num))
}

// OpenQueue binds queue num in namespace ns, then adds table (family inet)
// with one chain at r's hook and priority whose rule sends the packets r
// matches to the queue, and delivers them to h until ctx ends or Close.
// On error nothing is left behind.
func OpenQueue(ctx context.Context, ns netns.NsHandle, table string, num uint16, r QueueRule, cfg QueueConfig, h QueueHandler) (*Queue, error) {
	if r.Hook == nil || r.Priority == nil {
		return nil, errors.New("netlab: queue: rule needs a hook and a priority")
	}
	if cfg.MaxLen == 0 {
		cfg.MaxLen = 1024
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = 4 << 20
	}
	var flags uint32
	if cfg.FailOpen {
		flags |= nfqueue.NfQaCfgFlagFailOpen
	}
	nf, err := nfqueue.Open(&nfqueue.Config{
		NetNS:        int(ns),
		NfQueue:      num,
		MaxPacketLen: 0xffff,
		MaxQueueLen:  cfg.MaxLen,
		Copymode:     nfqueue.NfQnlCopyPacket,
		Flags:        flags,
		AfFamily:     unix.AF_INET,
		WriteTimeout: time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: queue %d: open: %w", num, err)
	}
	// A full socket buffer must not stop the reader (it would report
	// ENOBUFS); the packets in it are lost to the handler, see ReadBuffer.
	_ = nf.SetOption(mdnetlink.NoENOBUFS, true)
	if err := nf.Con.SetReadBuffer(cfg.ReadBuffer); err != nil {
		nf.Close()
		return nil, fmt.Errorf("netlab: queue %d: read buffer: %w", num, err)
	}
	qctx, cancel := context.WithCancel(ctx)
	q := &Queue{nf: nf, table: table, num: num, cancel: cancel}
	fd, err := unix.Dup(int(ns))
	dup := netns.NsHandle(fd)
	if err != nil {
		cancel()
		nf.Close()
		return nil, fmt.Errorf("netlab: queue %d: %w", num, err)
	}
	q.ns = dup
	hook := func(a nfqueue.Attribute) int {
		if a.PacketID == nil || a.Payload == nil {
			return 0
		}
		p := Packet{ID: *a.PacketID, Payload: *a.Payload, Arrival: time.Now()}
		if a.InDev != nil {
			p.InDev = *a.InDev
		}
		h(q, p)
		return 0
	}
	errfn := func(err error) int {
		if qctx.Err() != nil {
			return 1
		}
		var oe *mdnetlink.OpError
		if errors.As(err, &oe) && (oe.Timeout() || oe.Temporary()) {
			return 0
		}
		if errors.Is(err, unix.ENOBUFS) {
			return 0
		}
		return 1
	}
	if err := nf.RegisterWithErrorFunc(qctx, hook, errfn); err != nil {
		cancel()
		nf.Close()
		dup.Close()
		return nil, fmt.Errorf("netlab: queue %d: bind: %w", num, err)
	}
	if err := queueTableAdd(ns, table, num, r); err != nil {
		cancel()
		nf.Close()
		dup.Close()
		return nil, fmt.Errorf("netlab: queue %d: %w", num, err)
	}
	return q, nil
}

// queueTableAdd makes table with one chain holding the queue rule.
func queueTableAdd(ns netns.NsHandle, table string, num uint16, r QueueRule) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	defer c.CloseLasting()
	t := c.AddTable(&nftables.Table{Name: table, Family: nftables.TableFamilyINet})
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{
		Name: "queue", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: r.Hook, Priority: r.Priority, Policy: &accept,
	})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: queueExprs(num, r)})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: add table %s: %w", table, err)
	}
	return nil
}

// Num is the queue's number.
func (q *Queue) Num() uint16 { return q.num }

// Accept lets packet id go on.
func (q *Queue) Accept(id uint32) error { return q.nf.SetVerdict(id, nfqueue.NfAccept) }

// Drop discards packet id.
func (q *Queue) Drop(id uint32) error { return q.nf.SetVerdict(id, nfqueue.NfDrop) }

// AcceptModified lets packet id go on with payload in its place (from the
// network header on; the caller fixes the checksums).
func (q *Queue) AcceptModified(id uint32, payload []byte) error {
	return q.nf.SetVerdictModPacket(id, nfqueue.NfAccept, payload)
}

// Close removes the rule (no new packets are queued), then stops the
// handler and unbinds the queue; packets still waiting for a verdict are
// dropped by the kernel, so a handler that holds packets gives them their
// verdicts before. It is safe to call more than once.
func (q *Queue) Close() error {
	q.once.Do(func() {
		q.err = nftDel(q.ns, q.table)
		q.cancel()
		if err := q.nf.Close(); err != nil && !errors.Is(err, unix.EBADF) {
			q.err = errors.Join(q.err, fmt.Errorf("netlab: queue %d: close: %w", q.num, err))
		}
		q.ns.Close()
	})
	return q.err
}
