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
// half is dropped (the file, if any, keeps everything).
const maxLogMem = 16 << 20

// p2pLog writes the P2PInfo log (docs/protocol.md section 7) to a file, if one is
// configured, and keeps it in memory for GET /v1/log.
type p2pLog struct {
	mu   sync.Mutex
	f    *os.File
	text strings.Builder
}

func openP2PLog(path string) (*p2pLog, error) {
	l := &p2pLog{}
	if path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("client: open P2PInfo log: %w", err)
		}
		l.f = f
	}
	return l, nil
}

// write appends one entry, stamped now.
func (l *p2pLog) write(e protocol.LogEntry) {
	e.Time = time.Now()
	line := e.String() + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_, _ = l.f.WriteString(line)
	}
	if l.text.Len()+len(line) > maxLogMem {
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
