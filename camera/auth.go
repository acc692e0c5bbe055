package camera

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"os"
	"strings"
)

// credentials are a network source's user name and password. They go into requests and
// URLs handed to OpenCV, never into logs or errors.
type credentials struct {
	user, password string
}

// target splits a source's URL into the URL without credentials and the credentials, which
// come from the URL or from Username and PasswordFile (read now, so that a changed file
// counts from the next connection). creds is nil when there are none.
func (s Spec) target() (u *url.URL, creds *credentials, err error) {
	u, err = url.Parse(s.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("url %s: %w", redactURL(s.URL), err)
	}
	switch {
	case u.User != nil:
		pw, _ := u.User.Password()
		creds = &credentials{user: u.User.Username(), password: pw}
		u.User = nil
	case s.Username != "" || s.PasswordFile != "":
		creds = &credentials{user: s.Username}
		if s.PasswordFile != "" {
			data, err := os.ReadFile(s.PasswordFile)
			if err != nil {
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				return nil, nil, fmt.Errorf("password file %s: %w", s.PasswordFile, err)
			}
			creds.password = strings.TrimSpace(string(data))
		}
	}
	return u, creds, nil
}

// withCredentials is u with creds in it, for a library that takes them only in the URL.
func withCredentials(u *url.URL, creds *credentials) string {
	if creds == nil {
		return u.String()
	}
	c := *u
	c.User = url.UserPassword(creds.user, creds.password)
	return c.String()
}

// challenge is one WWW-Authenticate challenge of an HTTP or RTSP server: Basic or Digest
// (RFC 7617, RFC 7616) with its parameters.
type challenge struct {
	scheme string            // "basic" or "digest", lower case
	params map[string]string // keys in lower case
	nc     int               // requests made with this (Digest) challenge
}

// pickChallenge chooses, from a response's WWW-Authenticate headers, Digest when offered
// (the password never crosses the network), else Basic; nil when neither is there.
func pickChallenge(headers []string) *challenge {
	var basic *challenge
	for _, h := range headers {
		c, ok := parseChallenge(h)
		switch {
		case !ok:
		case c.scheme == "digest":
			return c
		case c.scheme == "basic" && basic == nil:
			basic = c
		}
	}
	return basic
}

// parseChallenge reads `Scheme k=v, k="quoted, value", ...`.
func parseChallenge(h string) (*challenge, bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	c := &challenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
	for rest = strings.TrimSpace(rest); rest != ""; {
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		key = strings.ToLower(strings.TrimSpace(key))
		after = strings.TrimSpace(after)
		var val string
		if strings.HasPrefix(after, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			val, rest = b.String(), after[min(i+1, len(after)):]
		} else {
			val, rest, _ = strings.Cut(after, ",")
			val = strings.TrimSpace(val)
		}
		c.params[key] = val
		rest = strings.TrimLeft(strings.TrimSpace(rest), ",")
		rest = strings.TrimSpace(rest)
	}
	return c, c.scheme == "basic" || c.scheme == "digest"
}

// authorization is the Authorization header answering c for a request of method on uri (the
// request target as sent: a path for HTTP, the whole URL for RTSP).
func (c *challenge) authorization(creds *credentials, method, uri string) (string, error) {
	if c.scheme == "basic" {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(creds.user+":"+creds.password)), nil
	}
	algorithm := c.params["algorithm"]
	var newHash func() hash.Hash
	switch strings.ToUpper(strings.TrimSuffix(strings.ToUpper(algorithm), "-SESS")) {
	case "", "MD5":
		newHash = md5.New
	case "SHA-256":
		newHash = sha256.New
	default:
		return "", fmt.Errorf("digest algorithm %q is not supported (MD5 and SHA-256 are)", algorithm)
	}
	h := func(s string) string {
		x := newHash()
		x.Write([]byte(s))
		return hex.EncodeToString(x.Sum(nil))
	}
	realm, nonce := c.params["realm"], c.params["nonce"]
	var cnonce string
	qop := ""
	for _, q := range strings.Split(c.params["qop"], ",") {
		if strings.TrimSpace(q) == "auth" {
			qop = "auth"
		}
	}
	if qop != "" || strings.HasSuffix(strings.ToUpper(algorithm), "-SESS") {
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		cnonce = hex.EncodeToString(b[:])
	}
	c.nc++
	return digestHeader(h, creds, realm, nonce, method, uri, qop, algorithm, c.params["opaque"], c.nc, cnonce), nil
}

// digestHeader computes a Digest response (RFC 7616 section 3.4) and formats the header.
func digestHeader(h func(string) string, creds *credentials, realm, nonce, method, uri, qop, algorithm, opaque string, nc int, cnonce string) string {
	ha1 := h(creds.user + ":" + realm + ":" + creds.password)
	if strings.HasSuffix(strings.ToUpper(algorithm), "-SESS") {
		ha1 = h(ha1 + ":" + nonce + ":" + cnonce)
	}
	ha2 := h(method + ":" + uri)
	ncs := fmt.Sprintf("%08x", nc)
	var response string
	if qop != "" {
		response = h(ha1 + ":" + nonce + ":" + ncs + ":" + cnonce + ":" + qop + ":" + ha2)
	} else {
		response = h(ha1 + ":" + nonce + ":" + ha2)
	}
	q := func(s string) string {
		return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
	}
	parts := []string{"username=" + q(creds.user), "realm=" + q(realm), "nonce=" + q(nonce), "uri=" + q(uri), "response=" + q(response)}
	if algorithm != "" {
		parts = append(parts, "algorithm="+algorithm)
	}
	if qop != "" {
		parts = append(parts, "qop="+qop, "nc="+ncs, "cnonce="+q(cnonce))
	}
	if opaque != "" {
		parts = append(parts, "opaque="+q(opaque))
	}
	return "Digest " + strings.Join(parts, ", ")
}
