package client

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ErrControlInUse is returned by New when the control socket path belongs
// to a program that is still running (docs/control-api.md, trust model).
var ErrControlInUse = errors.New("control socket in use by a running program")

// listenUnixPrivate listens on the unix socket path with mode 0600 from its
// first moment (docs/control-api.md, trust model): the socket is bound in a
// fresh 0700 directory beside path, made 0600, then renamed into place, so
// no other local user can ever connect, whatever the umask. A socket at
// path that still answers is refused with ErrControlInUse; a stale one (a
// crashed run's) is replaced.
func listenUnixPrivate(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("client: control API: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, 500*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("client: control API %s: %w", path, ErrControlInUse)
		}
		_ = os.Remove(path) // a stale socket of an earlier run
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".ctl-")
	if err != nil {
		return nil, fmt.Errorf("client: control API: %w", err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("client: control API: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false) // the path is removed at exit (Run)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("client: control API: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("client: control API: %w", err)
	}
	return ln, nil
}
