package server

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves the admin API: GET /v1/stats (api.Stats as JSON),
// GET /metrics (Prometheus text format, served by client_golang's promhttp:
// 0.0.4 unless the scraper asks for another) and GET /healthz ({"status":
// "ok"}). Other paths answer 404 and other methods 405, with an
// {"error": ...} body.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{s})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
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
