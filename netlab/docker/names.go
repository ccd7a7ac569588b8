package docker

import (
	"strconv"
	"strings"

	"github.com/p2plab/p2plab/netlab"
)

// Labels put on everything this package makes. Clean and CleanRun find
// containers, networks and images by LabelRun.
const (
	// LabelRun holds the lab's run id.
	LabelRun = "p2plab.run"
	// LabelPID holds the process id of the lab that made the object, so
	// Clean leaves the objects of live labs alone.
	LabelPID = "p2plab.pid"
	// LabelHost holds the lab host a container belongs to.
	LabelHost = "p2plab.host"
	// LabelRole is "host" (the container holding a host's namespace),
	// "program" (a program started in a host), "lan" or "image".
	LabelRole = "p2plab.role"
)

// Paths inside every container.
const (
	// BinaryPath is where the image holds the p2plab binary.
	BinaryPath = "/p2plab"
	// MountPath is where a host's own directory is bind-mounted.
	MountPath = "/lab"
)

// sanitize maps s onto the characters Docker allows in names
// ([a-zA-Z0-9_.-]), lower-cased so that it is also a valid image repository.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-._")
}

// runName is the run id made safe for Docker, always starting with
// netlab.Prefix.
func runName(runID string) string {
	n := sanitize(runID)
	if !strings.HasPrefix(n, netlab.Prefix) {
		n = netlab.Prefix + "-" + n
	}
	return n
}

// imageRef is the image tag of a run.
func imageRef(runID string) string { return runName(runID) + ":latest" }

// networkName is the Docker network of a LAN.
func networkName(runID, lan string) string { return runName(runID) + "-" + sanitize(lan) }

// hostName is the container holding a host's namespace.
func hostName(runID, host string) string { return runName(runID) + "-" + sanitize(host) }

// programName is the container of the n-th program started in a host.
func programName(runID, host string, n int) string {
	return hostName(runID, host) + "-" + strconv.Itoa(n)
}

// labels are the labels of one object of a run.
func labels(runID, role, host string, pid int) map[string]string {
	l := map[string]string{
		LabelRun:  runID,
		LabelPID:  strconv.Itoa(pid),
		LabelRole: role,
	}
	if host != "" {
		l[LabelHost] = host
	}
	return l
}
