package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupRoot is where the netns backend makes per-host cgroups for the
// freezer: a cgroup v2 mount (cgroup.freeze), else a v1 freezer mount
// (freezer.state), else nothing (Freeze falls back to SIGSTOP/SIGCONT).
type cgroupRoot struct {
	dir string // "" = no usable freezer
	v2  bool
}

// findCgroupRoot looks for a writable cgroup v2 mount, then a v1 freezer.
func findCgroupRoot() cgroupRoot {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return cgroupRoot{}
	}
	defer f.Close()
	var v1 string
	var v2 []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts ... - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || pf[3] != "/" {
			continue
		}
		switch {
		case qf[0] == "cgroup2":
			v2 = append(v2, pf[4])
		case qf[0] == "cgroup" && v1 == "" && hasOpt(qf[2], "freezer"):
			v1 = pf[4]
		}
	}
	for _, d := range v2 {
		if unixAccessW(d) {
			if _, err := os.Stat(filepath.Join(d, "cgroup.procs")); err == nil {
				return cgroupRoot{dir: d, v2: true}
			}
		}
	}
	if v1 != "" && unixAccessW(v1) {
		return cgroupRoot{dir: v1}
	}
	return cgroupRoot{}
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

func unixAccessW(dir string) bool { return syscall.Access(dir, 2 /* W_OK */) == nil }

// ok reports whether a freezer cgroup can be made.
func (c cgroupRoot) ok() bool { return c.dir != "" }

// create makes the cgroup name and returns its directory.
func (c cgroupRoot) create(name string) (string, error) {
	d := filepath.Join(c.dir, name)
	if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("cgroup %s: %w", d, err)
	}
	return d, nil
}

// add moves a process into the cgroup.
func (c cgroupRoot) add(dir string, pid int) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

// freeze freezes the cgroup and waits until the kernel says it is frozen.
func (c cgroupRoot) freeze(ctx context.Context, dir string) error {
	if c.v2 {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("1"), 0o644); err != nil {
			return err
		}
		return pollFile(ctx, filepath.Join(dir, "cgroup.events"), func(s string) bool {
			return strings.Contains(s, "frozen 1")
		})
	}
	if err := os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("FROZEN"), 0o644); err != nil {
		return err
	}
	return pollFile(ctx, filepath.Join(dir, "freezer.state"), func(s string) bool {
		return strings.TrimSpace(s) == "FROZEN"
	})
}

// thaw resumes the cgroup.
func (c cgroupRoot) thaw(dir string) error {
	if c.v2 {
		return os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0o644)
	}
	return os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0o644)
}

// remove kills whatever is left in the cgroup and removes it.
func (c cgroupRoot) remove(ctx context.Context, dir string) error {
	return removeCgroup(ctx, dir)
}

// removeCgroup thaws a cgroup (v1 or v2), kills every process in it, waits
// until it is empty and removes it. A missing cgroup is fine.
func removeCgroup(ctx context.Context, dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	_ = os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0o644)
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0o644); err != nil {
		for _, pid := range cgroupPids(dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		for _, pid := range cgroupPids(dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// cgroupPids lists the processes in a cgroup.
func cgroupPids(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// pollFile re-reads a small kernel file until done says yes or ctx ends.
func pollFile(ctx context.Context, path string, done func(string) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if done(string(b)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting on %s: %w", path, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}
