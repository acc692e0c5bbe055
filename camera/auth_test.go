package camera

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"testing"
)

// The worked examples of RFC 2617 (section 3.5) and RFC 7616 (section 3.9.1) give the
// response a Digest client must compute.
func TestDigestResponseMatchesTheRFCs(t *testing.T) {
	hasher := func(newHash func() hash.Hash) func(string) string {
		return func(s string) string {
			h := newHash()
			h.Write([]byte(s))
			return hex.EncodeToString(h.Sum(nil))
		}
	}
	cases := []struct {
		name                                      string
		h                                         func(string) string
		user, password, realm, nonce, uri, cnonce string
		opaque, algorithm, want                   string
	}{
		{"RFC 2617", hasher(md5.New), "Mufasa", "Circle Of Life", "testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
			"/dir/index.html", "0a4f113b", "5ccc069c403ebaf9f0171e9517f40e41", "", "6629fae49393a05397450978507c4ef1"},
		{"RFC 7616 MD5", hasher(md5.New), "Mufasa", "Circle of Life", "http-auth@example.org", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
			"/dir/index.html", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", "MD5", "8ca523f5e9506fed4657c9700eebdbec"},
		{"RFC 7616 SHA-256", hasher(sha256.New), "Mufasa", "Circle of Life", "http-auth@example.org", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
			"/dir/index.html", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", "SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := digestHeader(c.h, &credentials{c.user, c.password}, c.realm, c.nonce, "GET", c.uri, "auth", c.algorithm, c.opaque, 1, c.cnonce)
			got, ok := parseChallenge(hdr)
			if !ok || got.params["response"] != c.want || got.params["nc"] != "00000001" || got.params["opaque"] != c.opaque {
				t.Fatalf("header %s\nwant response %s", hdr, c.want)
			}
		})
	}
}

func TestPickChallengePrefersDigest(t *testing.T) {
	c := pickChallenge([]string{`Basic realm="cam"`, `Digest realm="cam, inc", nonce="a\"b", qop="auth,auth-int", algorithm=MD5`})
	if c == nil || c.scheme != "digest" || c.params["realm"] != "cam, inc" || c.params["nonce"] != `a"b` || c.params["qop"] != "auth,auth-int" || c.params["algorithm"] != "MD5" {
		t.Fatalf("challenge %+v", c)
	}
	if c := pickChallenge([]string{`Bearer x`, `Basic realm="r"`}); c == nil || c.scheme != "basic" {
		t.Fatalf("challenge %+v", c)
	}
	if c := pickChallenge([]string{`Negotiate`}); c != nil {
		t.Fatalf("challenge %+v", c)
	}
}
