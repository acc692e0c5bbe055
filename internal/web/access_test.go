package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/edged/edged/internal/userfile"
)

func TestGuard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	if err := userfile.SetPassword(path, "ann", "ann-pw"); err != nil {
		t.Fatal(err)
	}
	users, err := userfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "inside") })
	srv := httptest.NewServer(Guard(ok, AccessOptions{Users: users, Token: "0123456789abcdef-token",
		ListenHost: "127.0.0.1", AllowedHosts: []string{"edged.example"}}))
	defer srv.Close()
	open := httptest.NewServer(Guard(ok, AccessOptions{ListenHost: "127.0.0.1"}))
	defer open.Close()

	cases := []struct {
		name   string
		srv    *httptest.Server
		host   string
		auth   func(*http.Request)
		status int
	}{
		{"no credentials", srv, "", nil, 401},
		{"basic auth", srv, "", func(r *http.Request) { r.SetBasicAuth("ann", "ann-pw") }, 200},
		{"basic auth again (remembered)", srv, "", func(r *http.Request) { r.SetBasicAuth("ann", "ann-pw") }, 200},
		{"wrong password", srv, "", func(r *http.Request) { r.SetBasicAuth("ann", "nope") }, 401},
		{"unknown user", srv, "", func(r *http.Request) { r.SetBasicAuth("bob", "ann-pw") }, 401},
		{"bearer token", srv, "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef-token") }, 200},
		{"wrong token", srv, "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef-tokem") }, 401},
		{"allowed host name", srv, "edged.example:8080", func(r *http.Request) { r.SetBasicAuth("ann", "ann-pw") }, 200},
		{"localhost", open, "localhost:8080", nil, 200},
		{"an IP address", open, "192.0.2.7:8080", nil, 200},
		{"[::1]", open, "[::1]:8080", nil, 200},
		{"rebinding: another site's name", open, "attacker.example", nil, 421},
		{"rebinding: a name ending like localhost", open, "localhost.attacker.example", nil, 421},
		{"rebinding even with credentials", srv, "attacker.example", func(r *http.Request) { r.SetBasicAuth("ann", "ann-pw") }, 421},
	}
	for _, c := range cases {
		req, err := http.NewRequest("GET", c.srv.URL+"/api/cameras", nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.host != "" {
			req.Host = c.host
		}
		if c.auth != nil {
			c.auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d (%q), want %d", c.name, resp.StatusCode, body, c.status)
		}
		if c.status == 200 && string(body) != "inside" {
			t.Errorf("%s: body %q", c.name, body)
		}
		if c.status == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="edged", charset="UTF-8"` {
			t.Errorf("%s: WWW-Authenticate %q: a browser would not ask for a password", c.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
}
