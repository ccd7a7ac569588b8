package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// AdminHandler serves the admin API: GET /v1/stats (api.Stats as JSON),
// GET /metrics (Prometheus text format 0.0.4) and GET /healthz ({"status":
// "ok"}). Other paths answer 404 and other methods 405, with an
// {"error": ...} body.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprint(w, s.metricsText())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern == "" {
			switch r.URL.Path {
			case "/v1/stats", "/metrics", "/healthz":
				w.Header().Set("Allow", "GET, HEAD")
				writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": r.Method + " " + r.URL.Path + ": method not allowed (use GET)"})
			default:
				writeJSON(w, http.StatusNotFound, map[string]string{"error": r.URL.Path + ": not found (try /v1/stats, /metrics, /healthz)"})
			}
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// metricsText renders the counters in the Prometheus text format.
func (s *Server) metricsText() string {
	st := s.Stats()
	var b strings.Builder
	metric := func(name, typ, help string, v int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, typ, name, v)
	}
	metric("p2plab_server_online_users", "gauge", "Users logged in now.", int64(st.Totals.Online))
	metric("p2plab_server_users", "gauge", "Users seen since start.", int64(st.Totals.Users))
	metric("p2plab_server_connections", "gauge", "Open TCP connections.", int64(st.Totals.Connections))
	metric("p2plab_server_logins_total", "counter", "Successful logins.", s.m.logins.Load())
	metric("p2plab_server_frames_received_total", "counter", "Well-formed frames received.", s.m.framesIn.Load())
	metric("p2plab_server_relayed_frames_total", "counter", "Frames relayed to their destination.", s.m.relayed.Load())
	metric("p2plab_server_relayed_bytes_total", "counter", "Payload bytes of relayed frames.", st.Totals.RelayedBytes)
	metric("p2plab_server_bad_frames_total", "counter", "Malformed or stalled frames (connection closed).", s.m.badFrames.Load())
	metric("p2plab_server_errors_sent_total", "counter", "Error frames sent.", s.m.errorsSent.Load())
	metric("p2plab_server_user_offline_total", "counter", "Relays refused with user_offline.", s.m.userOffline.Load())
	metric("p2plab_server_forbidden_total", "counter", "Relays refused with forbidden.", s.m.forbidden.Load())
	metric("p2plab_server_slow_consumers_total", "counter", "Connections cut with slow_consumer.", s.m.slowConsumers.Load())
	metric("p2plab_server_heartbeat_timeouts_total", "counter", "Connections declared dead by heartbeat.", s.m.heartbeatTimeouts.Load())
	perUser := func(name, help string, get func(i int) int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
		for i, u := range st.Users {
			fmt.Fprintf(&b, "%s{user=%q} %d\n", name, u.UserID, get(i))
		}
	}
	perUser("p2plab_server_user_uploads_total", "Relayable frames received from the user and forwarded.", func(i int) int64 { return st.Users[i].Uploads })
	perUser("p2plab_server_user_downloads_total", "Relayed frames delivered to the user.", func(i int) int64 { return st.Users[i].Downloads })
	perUser("p2plab_server_user_relayed_bytes_total", "Payload bytes relayed from the user.", func(i int) int64 { return st.Users[i].RelayedBytes })
	fmt.Fprintf(&b, "# HELP p2plab_server_user_online Whether the user is logged in.\n# TYPE p2plab_server_user_online gauge\n")
	for _, u := range st.Users {
		v := 0
		if u.Online {
			v = 1
		}
		fmt.Fprintf(&b, "p2plab_server_user_online{user=%q} %d\n", u.UserID, v)
	}
	return b.String()
}
