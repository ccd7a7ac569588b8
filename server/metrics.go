package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/p2plab/p2plab/api"
)

// serverMetric is one server-wide metric of /metrics, read at scrape time.
type serverMetric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	get  func(s *Server, st api.Stats) int64
}

// userMetric is one per-user metric of /metrics, labelled user.
type userMetric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	get  func(u api.UserStats) int64
}

func plain(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }

func perUser(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, []string{"user"}, nil)
}

// The metrics of /metrics (docs/protocol.md, admin API): their names,
// types and labels are part of the interface.
var (
	serverMetrics = []serverMetric{
		{plain("p2plab_server_online_users", "Users logged in now."), prometheus.GaugeValue,
			func(_ *Server, st api.Stats) int64 { return int64(st.Totals.Online) }},
		{plain("p2plab_server_users", "Users seen since start."), prometheus.GaugeValue,
			func(_ *Server, st api.Stats) int64 { return int64(st.Totals.Users) }},
		{plain("p2plab_server_connections", "Open TCP connections."), prometheus.GaugeValue,
			func(_ *Server, st api.Stats) int64 { return int64(st.Totals.Connections) }},
		{plain("p2plab_server_logins_total", "Successful logins."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.logins.Load() }},
		{plain("p2plab_server_frames_received_total", "Well-formed frames received."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.framesIn.Load() }},
		{plain("p2plab_server_relayed_frames_total", "Frames relayed to their destination."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.relayed.Load() }},
		{plain("p2plab_server_relayed_bytes_total", "Payload bytes of relayed frames."), prometheus.CounterValue,
			func(_ *Server, st api.Stats) int64 { return st.Totals.RelayedBytes }},
		{plain("p2plab_server_bad_frames_total", "Malformed or stalled frames (connection closed)."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.badFrames.Load() }},
		{plain("p2plab_server_errors_sent_total", "Error frames sent."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.errorsSent.Load() }},
		{plain("p2plab_server_user_offline_total", "Relays refused with user_offline."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.userOffline.Load() }},
		{plain("p2plab_server_forbidden_total", "Relays refused with forbidden."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.forbidden.Load() }},
		{plain("p2plab_server_slow_consumers_total", "Connections cut with slow_consumer."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.slowConsumers.Load() }},
		{plain("p2plab_server_heartbeat_timeouts_total", "Connections declared dead by heartbeat."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.heartbeatTimeouts.Load() }},
		// version 1.1 (docs/protocol.md 9.10)
		{plain("p2plab_server_udp_hellos_total", "UDP hellos answered."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.udpHellos.Load() }},
		{plain("p2plab_server_udp_hellos_rejected_total", "UDP hellos ignored: wrong token, not logged in, malformed."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.udpRejected.Load() }},
		{plain("p2plab_server_punch_relayed_total", "PunchConnect and PunchSync frames relayed."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.punchRelayed.Load() }},
		{plain("p2plab_server_pending_refused_total", "Connections closed at accept: too many not logged in yet."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.pendingRefused.Load() }},
		{plain("p2plab_server_offline_forgotten_total", "Offline users forgotten: more than the bound were remembered."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.forgotten.Load() }},
		{plain("p2plab_server_relay_throttled_total", "Relayed frames that waited: their sender held its share of the destination's queue."), prometheus.CounterValue,
			func(s *Server, _ api.Stats) int64 { return s.m.relayThrottled.Load() }},
	}
	userMetrics = []userMetric{
		{perUser("p2plab_server_user_uploads_total", "Relayable frames received from the user and forwarded."), prometheus.CounterValue,
			func(u api.UserStats) int64 { return u.Uploads }},
		{perUser("p2plab_server_user_downloads_total", "Relayed frames delivered to the user."), prometheus.CounterValue,
			func(u api.UserStats) int64 { return u.Downloads }},
		{perUser("p2plab_server_user_relayed_bytes_total", "Payload bytes relayed from the user."), prometheus.CounterValue,
			func(u api.UserStats) int64 { return u.RelayedBytes }},
		{perUser("p2plab_server_user_online", "Whether the user is logged in."), prometheus.GaugeValue,
			func(u api.UserStats) int64 {
				if u.Online {
					return 1
				}
				return 0
			}},
	}
)

// collector exposes the server's counters to a Prometheus registry. The
// counters stay the server's own atomics (they also feed /v1/stats); the
// collector reads them, with one Stats snapshot, at every scrape.
type collector struct{ s *Server }

// Describe sends the descriptors of every metric.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range serverMetrics {
		ch <- m.desc
	}
	for _, m := range userMetrics {
		ch <- m.desc
	}
}

// Collect sends the current values.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	for _, m := range serverMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, float64(m.get(c.s, st)))
	}
	for _, m := range userMetrics {
		for _, u := range st.Users {
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, float64(m.get(u)), u.UserID)
		}
	}
}
