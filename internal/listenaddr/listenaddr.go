// Package listenaddr says whether a listening address is reachable only from this machine:
// beyond loopback, edged's broker and page need authentication.
package listenaddr

import (
	"net"
	"strings"
)

// IsLoopback says whether host:port (or a bare host) names only this machine: "localhost",
// a name under .localhost, or a loopback IP. An empty host (":1883") listens on every
// interface, so it is not loopback.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
