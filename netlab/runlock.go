package netlab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockDir holds one lock file per live lab. A lab holds an exclusive flock
// on <lockDir>/<runid>.lock while it runs, so Clean can tell a crashed run
// (lock free) from a live one in another process (lock held). It is
// /run/p2plab for root; a user without root (who can only run the local
// backend, which leaves nothing to clean) keeps them in the temporary
// directory.
func lockDir() string {
	if os.Geteuid() == 0 {
		return "/run/p2plab"
	}
	return filepath.Join(os.TempDir(), "p2plab-runs-"+strconv.Itoa(os.Geteuid()))
}

// lockRun takes the run's lock; it fails if the run id is in use.
func lockRun(id string) (*os.File, error) {
	if err := os.MkdirAll(lockDir(), 0o755); err != nil {
		return nil, fmt.Errorf("netlab: run lock: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(lockDir(), id+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("netlab: run lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("netlab: run id %s is in use by a live lab", id)
		}
		return nil, fmt.Errorf("netlab: run lock %s: %w", id, err)
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, nil
}

// unlockRun removes the lock file and releases the lock.
func unlockRun(id string, f *os.File) {
	if f == nil {
		return
	}
	_ = os.Remove(filepath.Join(lockDir(), id+".lock"))
	f.Close()
}

// RunAlive reports whether a lab with this run id is running (in any
// process on this machine): its run lock is held.
func RunAlive(id string) bool {
	f, err := os.OpenFile(filepath.Join(lockDir(), id+".lock"), os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

// LiveRun is a lab running on this machine, as its run lock tells.
type LiveRun struct {
	ID  string
	PID int // the process that runs it
}

// LiveRuns lists the labs running on this machine (in any process).
func LiveRuns() ([]LiveRun, error) {
	ents, err := os.ReadDir(lockDir())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("netlab: live runs: %w", err)
	}
	var out []LiveRun
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || !RunAlive(id) {
			continue
		}
		r := LiveRun{ID: id}
		if b, err := os.ReadFile(filepath.Join(lockDir(), e.Name())); err == nil {
			r.PID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		out = append(out, r)
	}
	return out, nil
}
