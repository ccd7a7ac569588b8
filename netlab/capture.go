package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// captureSnap is the snap length of captures. Veth offloads hand the
// socket packets larger than the MTU, so it is generous.
const captureSnap = 262144

// Capture writes the host's packets to a pcap file (a lab path) until undone.
// It opens an AF_PACKET socket inside the host's namespace and keeps the
// frames of the host's lab interfaces (both directions, loopback left out),
// Ethernet link type. Undo drains what the socket still holds, then closes
// the file: every packet sent or received before Undo is in it.
func (h *Host) Capture(ctx context.Context, path string) (Undo, error) {
	ns, nh, links, err := h.nicLinks(ctx)
	if err != nil {
		return nil, fmt.Errorf("netlab: capture %s: %w", h.Name(), err)
	}
	nh.Close()
	ifs := map[int]bool{}
	for _, l := range links {
		ifs[l.Attrs().Index] = true
	}
	var fd = -1
	err = inNS(ns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		return err
	})
	ns.Close()
	if err != nil {
		return nil, fmt.Errorf("netlab: capture %s: packet socket: %w", h.Name(), err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlab: capture %s: %w", h.Name(), err)
	}
	f, err := os.Create(path)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlab: capture %s: %w", h.Name(), err)
	}
	bw := bufio.NewWriter(f)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(captureSnap, layers.LinkTypeEthernet); err != nil {
		f.Close()
		unix.Close(fd)
		return nil, fmt.Errorf("netlab: capture %s: %w", h.Name(), err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, captureSnap)
		for {
			flags := 0
			if stop.Load() {
				flags = unix.MSG_DONTWAIT
			}
			n, from, err := unix.Recvfrom(fd, buf, flags|unix.MSG_TRUNC)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					if stop.Load() && flags != 0 {
						return // drained
					}
					continue
				}
				werr = err
				return
			}
			ll, ok := from.(*unix.SockaddrLinklayer)
			if !ok || !ifs[ll.Ifindex] {
				continue
			}
			c := min(n, len(buf))
			ci := gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: c, Length: n}
			if err := w.WritePacket(ci, buf[:c]); err != nil {
				werr = err
				return
			}
		}
	}()
	detail := path
	h.lab.event(h.Name(), "capture", detail)
	return h.lab.addFault(h.Name(), "capture-end", detail, func(context.Context) error {
		stop.Store(true)
		wg.Wait()
		unix.Close(fd)
		ferr := bw.Flush()
		cerr := f.Close()
		if err := errors.Join(werr, ferr, cerr); err != nil {
			return fmt.Errorf("netlab: capture %s: %w", h.Name(), err)
		}
		return nil
	}), nil
}

// htons converts a short to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }
