package client

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/p2plab/p2plab/protocol"
)

// maxLogMem bounds the in-memory copy of the P2PInfo log; past it the oldest
// half is dropped (docs/protocol.md 2.5).
const maxLogMem = 16 << 20

// maxLogFile bounds the P2PInfo log file: past it the file is renamed to
// its path with ".1" appended (replacing an older one) and a new file is
// started, so the log takes at most twice this on disk (docs/protocol.md
// 2.5). Tests lower it (export_test.go).
var maxLogFile int64 = 64 << 20

// p2pLog writes the P2PInfo log (docs/protocol.md section 7) to a file, if one is
// configured, and keeps it in memory for GET /v1/log.
type p2pLog struct {
	mu    sync.Mutex
	path  string
	f     *os.File
	size  int64 // bytes in f
	text  strings.Builder
	limit func(name, what string) // reports a bound hit, if set (outside mu)
}

func openP2PLog(path string) (*p2pLog, error) {
	l := &p2pLog{}
	if path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("client: open P2PInfo log: %w", err)
		}
		l.f, l.path = f, path
		if st, err := f.Stat(); err == nil {
			l.size = st.Size()
		}
	}
	return l, nil
}

// write appends one entry, stamped now.
func (l *p2pLog) write(e protocol.LogEntry) {
	e.Time = time.Now()
	line := e.String() + "\n"
	var hits []string
	defer func() {
		if l.limit != nil {
			for _, h := range hits {
				l.limit(limitLog, h)
			}
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		if l.size+int64(len(line)) > maxLogFile {
			hits = append(hits, l.rotateLocked())
		}
		if l.f != nil {
			n, _ := l.f.WriteString(line)
			l.size += int64(n)
		}
	}
	if l.text.Len()+len(line) > maxLogMem {
		hits = append(hits, fmt.Sprintf("P2PInfo log: the oldest half of the %d bytes kept in memory dropped", maxLogMem))
		old := l.text.String()
		old = old[len(old)/2:]
		if i := strings.IndexByte(old, '\n'); i >= 0 {
			old = old[i+1:]
		}
		l.text.Reset()
		l.text.WriteString(old)
	}
	l.text.WriteString(line)
}

// rotateLocked moves the full log file to path.1 and opens a new one; it
// returns what it did, for the limit event. l.mu is held.
func (l *p2pLog) rotateLocked() string {
	_ = l.f.Close()
	l.f, l.size = nil, 0
	old := l.path + ".1"
	if err := os.Rename(l.path, old); err != nil {
		return "P2PInfo log: cannot rotate: " + err.Error()
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return "P2PInfo log: cannot reopen after rotating: " + err.Error()
	}
	l.f = f
	return fmt.Sprintf("P2PInfo log: %d bytes reached, moved to %s", maxLogFile, old)
}

// String returns the log text kept in memory.
func (l *p2pLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

func (l *p2pLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
