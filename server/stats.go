package server

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/p2plab/p2plab/api"
)

// userStats holds one user's relay counters; it outlives the user's
// sessions.
type userStats struct {
	uploads      atomic.Int64
	downloads    atomic.Int64
	relayedBytes atomic.Int64
	lastUpload   atomic.Int64 // unix nanoseconds, 0 = never
	lastDownload atomic.Int64
	offlineAt    int64 // unix nanoseconds of the last offline transition; under Server.mu
}

// metrics are the server-wide counters of /metrics.
type metrics struct {
	framesIn          atomic.Int64
	relayed           atomic.Int64
	badFrames         atomic.Int64
	errorsSent        atomic.Int64
	userOffline       atomic.Int64
	forbidden         atomic.Int64
	slowConsumers     atomic.Int64
	heartbeatTimeouts atomic.Int64
	logins            atomic.Int64
	// version 1.1 (docs/protocol.md 9.10)
	udpHellos    atomic.Int64
	udpRejected  atomic.Int64
	punchRelayed atomic.Int64
	// bounds (docs/protocol.md 5.1)
	pendingRefused atomic.Int64
	forgotten      atomic.Int64 // offline users dropped by Config.MaxOffline
	// per-sender fairness of the relay (docs/protocol.md 5.10)
	relayThrottled atomic.Int64 // relayed frames that waited for their sender's share
}

func timeOf(ns int64) *time.Time {
	if ns == 0 {
		return nil
	}
	t := time.Unix(0, ns).UTC()
	return &t
}

// Stats returns the per-user counters of every user seen since the server
// started, sorted by userID, and their totals.
func (s *Server) Stats() api.Stats {
	s.mu.RLock()
	st := api.Stats{Users: make([]api.UserStats, 0, len(s.users))}
	for id, u := range s.users {
		us := api.UserStats{
			UserID:       id,
			Online:       s.online[id] != nil,
			Uploads:      u.uploads.Load(),
			Downloads:    u.downloads.Load(),
			LastUpload:   timeOf(u.lastUpload.Load()),
			LastDownload: timeOf(u.lastDownload.Load()),
			RelayedBytes: u.relayedBytes.Load(),
		}
		st.Users = append(st.Users, us)
		st.Totals.Uploads += us.Uploads
		st.Totals.Downloads += us.Downloads
		st.Totals.RelayedBytes += us.RelayedBytes
	}
	st.Totals.Online = len(s.online)
	st.Totals.Users = len(s.users)
	st.Totals.Connections = len(s.conns)
	st.Totals.UDPHellos = s.m.udpHellos.Load()
	st.Totals.UDPHellosRejected = s.m.udpRejected.Load()
	st.Totals.PunchRelayed = s.m.punchRelayed.Load()
	st.Totals.PendingRefused = s.m.pendingRefused.Load()
	st.Totals.OfflineForgotten = s.m.forgotten.Load()
	st.Totals.RelayThrottled = s.m.relayThrottled.Load()
	s.mu.RUnlock()
	slices.SortFunc(st.Users, func(a, b api.UserStats) int { return strings.Compare(a.UserID, b.UserID) })
	return st
}
