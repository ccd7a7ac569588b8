// Package api holds the JSON types of the client control API and the server
// admin API (version 1, docs/control-api.md), and small
// HTTP clients for both.
//
// The reference client serves these types; the lab (sim, conform) drives any
// client implementation through Client and reads any server through Admin.
// It knows nothing of namespaces or of the wire protocol's frames.
package api
