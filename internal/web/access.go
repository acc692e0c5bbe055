package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/edged/edged/internal/listenaddr"
	"github.com/edged/edged/internal/userfile"
)

// AccessOptions say who may use the HTTP server: the host names a request may be addressed to,
// and the credentials it must carry when any are set.
type AccessOptions struct {
	// Users are the accounts of HTTP basic auth (a browser asks for them once); nil: none.
	Users userfile.Users
	// Token is a bearer token for programs (`Authorization: Bearer TOKEN`); "": none.
	Token string
	// ListenHost is the host the server listens on; requests may name it.
	ListenHost string
	// AllowedHosts are further host names requests may name (an IP address, "localhost" and
	// this machine's name, alone or with .local, always may).
	AllowedHosts []string
	// Logger receives refused requests; nil is slog.Default().
	Logger *slog.Logger
}

// Guard wraps h so that every request is checked first:
//
//   - its Host must be an IP address, a loopback name, the machine's or the listen host's
//     name, or one of AllowedHosts. A web page on another site cannot then reach the server
//     through DNS rebinding (its requests name that site's host);
//   - with Users or Token set, it must carry a valid basic-auth user or the bearer token.
func Guard(h http.Handler, o AccessOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	g := &guard{next: h, opts: o, hosts: map[string]bool{}, verified: map[[32]byte]time.Time{},
		checks: make(chan struct{}, maxAuthChecks)}
	add := func(h string) {
		if h = normalHost(h); h != "" {
			g.hosts[h] = true
		}
	}
	add(o.ListenHost)
	for _, h := range o.AllowedHosts {
		add(h)
	}
	if name, err := os.Hostname(); err == nil {
		add(name)
		add(name + ".local")
	}
	if o.Token != "" {
		sum := sha256.Sum256([]byte(o.Token))
		g.token = sum[:]
	}
	return g
}

const (
	// maxAuthChecks bounds the bcrypt checks running at once, so a flood of wrong passwords
	// cannot take every core.
	maxAuthChecks = 2
	// A verified basic-auth user and password are remembered this long, so the page's many
	// requests cost one bcrypt check, not one each.
	verifiedFor = 10 * time.Minute
	maxVerified = 256
)

type guard struct {
	next  http.Handler
	opts  AccessOptions
	hosts map[string]bool
	token []byte // sha256 of the bearer token

	checks   chan struct{}
	mu       sync.Mutex
	verified map[[32]byte]time.Time // sha256 of user, NUL, password → until when
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.hostAllowed(r.Host) {
		g.opts.Logger.Warn("http: refused a request for another host", "host", r.Host, "remote", r.RemoteAddr, "path", r.URL.Path)
		http.Error(w, "host "+r.Host+" is not one of this server's names (add it to http.allowed_hosts)", http.StatusMisdirectedRequest)
		return
	}
	if (g.opts.Users != nil || g.token != nil) && !g.authorized(r) {
		if g.opts.Users != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="edged", charset="UTF-8"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edged"`)
		}
		if r.Header.Get("Authorization") != "" {
			g.opts.Logger.Warn("http: refused credentials", "remote", r.RemoteAddr, "path", r.URL.Path)
		}
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	g.next.ServeHTTP(w, r)
}

// normalHost is a host without port, brackets or final dot, in lower case.
func normalHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
}

func (g *guard) hostAllowed(host string) bool {
	if host == "" {
		return true // HTTP/1.0 without Host: no browser sends that
	}
	h := normalHost(host)
	return net.ParseIP(h) != nil || listenaddr.IsLoopback(h) || g.hosts[h]
}

func (g *guard) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	if token, ok := strings.CutPrefix(auth, "Bearer "); ok && g.token != nil {
		sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
		return subtle.ConstantTimeCompare(sum[:], g.token) == 1
	}
	user, password, ok := r.BasicAuth()
	if !ok || g.opts.Users == nil {
		return false
	}
	key := sha256.Sum256([]byte(user + "\x00" + password))
	now := time.Now()
	g.mu.Lock()
	until, seen := g.verified[key]
	g.mu.Unlock()
	if seen && now.Before(until) {
		return true
	}
	g.checks <- struct{}{}
	ok = g.opts.Users.Check(user, password)
	<-g.checks
	if ok {
		g.mu.Lock()
		if len(g.verified) >= maxVerified {
			clear(g.verified)
		}
		g.verified[key] = now.Add(verifiedFor)
		g.mu.Unlock()
	}
	return ok
}
