package api

import "net/http"

// NewAdminWithClient returns an Admin for the server's admin address
// "IP:PORT" that sends its requests through hc, e.g. a client whose
// transport dials from inside a lab host's network namespace.
func NewAdminWithClient(addr string, hc *http.Client) *Admin {
	return &Admin{base: "http://" + addr, hc: hc}
}
