package netlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// runOf extracts the run id from a name netlab gave something:
// <runid>-<rest> or <runid>_<rest>, or the run id alone.
var runOf = regexp.MustCompile(`^(` + Prefix + `[a-z0-9]{1,12})(?:[-_.]|$)`)

// runDirOf matches the name of a run directory New made itself.
var runDirOf = regexp.MustCompile(`^(` + Prefix + `[a-z0-9]{1,12})-[0-9]+$`)

// RunOf returns the run id a name belongs to, or "" if it is not one of
// netlab's names.
func RunOf(name string) string {
	m := runOf.FindStringSubmatch(name)
	if m == nil {
		return ""
	}
	return m[1]
}

// Clean removes what crashed labs left behind on this machine: namespaces,
// links, nft tables, containers, networks and images whose names or labels
// start with Prefix. It reports what it removed.
//
// The netns part (this function) removes named namespaces under /run/netns
// (killing any process still inside), per-host cgroups, veth links and nft
// tables in the machine's own namespace, the run directories New made in
// the temporary directory, and stale run locks - but only of
// runs whose lab is not alive (see RunAlive): labs running in other
// processes are left alone. Docker leftovers are the docker backend's.
func Clean(ctx context.Context) ([]string, error) {
	return clean(ctx, func(run string) bool { return !RunAlive(run) })
}

// CleanRun removes everything of one run (see Clean), live or not. Tests use
// it to make sure their own run left nothing, without touching other labs.
func CleanRun(ctx context.Context, runID string) ([]string, error) {
	if !ValidRunID(runID) {
		return nil, fmt.Errorf("netlab: clean: bad run id %q", runID)
	}
	return clean(ctx, func(run string) bool { return run == runID })
}

func clean(ctx context.Context, want func(run string) bool) ([]string, error) {
	var removed []string
	var errs []error
	pick := func(name string) bool {
		r := RunOf(name)
		return r != "" && want(r)
	}

	// Namespaces, after killing what still runs in them.
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		if ctx.Err() != nil {
			return removed, ctx.Err()
		}
		if !pick(e.Name()) {
			continue
		}
		p := filepath.Join(netnsDir, e.Name())
		killInNS(p)
		if err := deleteNamedNS(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, "netns "+e.Name())
	}

	// Cgroups.
	for _, root := range cgroupDirs() {
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			if !e.IsDir() || !pick(e.Name()) {
				continue
			}
			d := filepath.Join(root, e.Name())
			if err := removeCgroup(ctx, d); err != nil {
				errs = append(errs, fmt.Errorf("netlab: clean: %w", err))
				continue
			}
			removed = append(removed, "cgroup "+d)
		}
	}

	// Veth links in the machine's own namespace (the netns backend makes
	// none; older or crashed tools might have).
	if links, err := RetryDump(netlink.LinkList); err == nil {
		for _, l := range links {
			if l.Type() != "veth" || !pick(l.Attrs().Name) {
				continue
			}
			if err := netlink.LinkDel(l); err != nil {
				if errors.Is(err, syscall.ENODEV) {
					continue // went with its peer
				}
				errs = append(errs, fmt.Errorf("netlab: clean: link %s: %w", l.Attrs().Name, err))
				continue
			}
			removed = append(removed, "link "+l.Attrs().Name)
		}
	}

	// nft tables in the machine's own namespace.
	if ts, err := nftTables(netns.None(), Prefix); err == nil {
		for _, t := range ts {
			if !pick(t.Name) {
				continue
			}
			if err := delTable(t); err != nil {
				errs = append(errs, fmt.Errorf("netlab: clean: nft table %s: %w", t.Name, err))
				continue
			}
			removed = append(removed, "nft table "+t.Name)
		}
	}

	// Run directories that New made in the temporary directory
	// (<runid>-<digits>, see os.MkdirTemp) for a lab that is gone.
	tmp := os.TempDir()
	dirs, _ := os.ReadDir(tmp)
	for _, e := range dirs {
		m := runDirOf.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil || !want(m[1]) || RunAlive(m[1]) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("netlab: clean: %w", err))
			continue
		}
		removed = append(removed, "dir "+filepath.Join(tmp, e.Name()))
	}

	// Stale run locks.
	locks, _ := os.ReadDir(lockDir())
	for _, e := range locks {
		run, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || RunOf(run) != run || !want(run) || RunAlive(run) {
			continue
		}
		if err := os.Remove(filepath.Join(lockDir(), e.Name())); err == nil {
			removed = append(removed, "lock "+run)
		}
	}
	return removed, errors.Join(errs...)
}

// delTable deletes one table of the machine's own namespace.
func delTable(t *nftables.Table) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	c.DelTable(t)
	return c.Flush()
}

// cgroupDirs lists the places netlab may have made cgroups.
func cgroupDirs() []string {
	var out []string
	if r := findCgroupRoot(); r.ok() {
		out = append(out, r.dir)
	}
	for _, d := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/freezer"} {
		if _, err := os.Stat(filepath.Join(d, "cgroup.procs")); err == nil && !contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// killInNS sends SIGKILL to every process whose network namespace is the
// one bound at path.
func killInNS(path string) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	procs, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		if l, err := os.Readlink("/proc/" + p.Name() + "/ns/net"); err == nil && l == want {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
