package camera

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/camera/cameratest"
	"github.com/edged/edged/internal/shapes"
)

// fakeCamera is an HTTP camera written for the tests: it serves a picture as a multipart
// MJPEG stream (at 25 parts a second) or as a snapshot, behind Basic or Digest
// authentication, and misbehaves on request.
type fakeCamera struct {
	t        testing.TB
	picture  []byte // JPEG, or PNG for a snapshot camera asked to serve one
	snapshot bool
	user     string // "" needs no credentials
	password string
	digest   bool
	// hangAt, when > 0, makes the first connection (MJPEG) send that many good parts, then
	// half of the next picture and nothing more; a snapshot camera hangs on that request
	// instead (without answering).
	hangAt int

	connections, parts, requests, refused atomic.Int64
	done                                  chan struct{} // closed at the test's end: hanging handlers return

	mu     sync.Mutex
	nonces map[string]bool
}

func newFakeCamera(t testing.TB, picture []byte) *fakeCamera {
	c := &fakeCamera{t: t, picture: picture, done: make(chan struct{}), nonces: map[string]bool{}}
	return c
}

// serve starts an httptest server for c on 127.0.0.1 and returns its URL.
func (c *fakeCamera) serve() string {
	srv := httptest.NewServer(c)
	c.t.Cleanup(func() {
		close(c.done)
		srv.Close()
	})
	return srv.URL
}

func (c *fakeCamera) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.requests.Add(1)
	if !c.authorized(w, r) {
		c.refused.Add(1)
		return
	}
	if c.snapshot {
		if c.hangAt > 0 && n == int64(c.hangAt) {
			c.hang(r)
			return
		}
		w.Header().Set("Content-Type", http.DetectContentType(c.picture))
		_, _ = w.Write(c.picture)
		return
	}
	conn := c.connections.Add(1)
	const boundary = "frame-boundary"
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	flusher := w.(http.Flusher)
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for i := 1; ; i++ {
		pic := c.picture
		half := conn == 1 && c.hangAt > 0 && i == c.hangAt+1
		if half {
			pic = pic[:len(pic)/2]
		}
		fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", boundary, len(c.picture))
		if _, err := w.Write(pic); err != nil {
			return
		}
		if half {
			flusher.Flush()
			c.hang(r)
			return
		}
		if _, err := w.Write([]byte("\r\n")); err != nil {
			return
		}
		flusher.Flush()
		c.parts.Add(1)
		select {
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		case <-tick.C:
		}
	}
}

// hang keeps the connection open and silent until the client gives up or the test ends.
func (c *fakeCamera) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-c.done:
	}
}

// authorized checks the request's credentials, and challenges it when they are missing or
// wrong. Digest is checked as RFC 7616 computes it (MD5, qop=auth), written out here apart
// from the package's own code.
func (c *fakeCamera) authorized(w http.ResponseWriter, r *http.Request) bool {
	if c.user == "" {
		return true
	}
	const realm = "fake camera"
	if !c.digest {
		if u, p, ok := r.BasicAuth(); ok && u == c.user && p == c.password {
			return true
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return false
	}
	if a, ok := parseChallenge(r.Header.Get("Authorization")); ok && a.scheme == "digest" {
		p := a.params
		md := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
		ha1 := md(c.user + ":" + realm + ":" + c.password)
		ha2 := md(r.Method + ":" + p["uri"])
		want := md(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
		c.mu.Lock()
		known := c.nonces[p["nonce"]]
		c.mu.Unlock()
		if known && p["username"] == c.user && p["uri"] == r.URL.RequestURI() && p["qop"] == "auth" && p["response"] == want {
			return true
		}
	}
	nonce := fmt.Sprintf("n%d", time.Now().UnixNano())
	c.mu.Lock()
	c.nonces[nonce] = true
	c.mu.Unlock()
	w.Header().Add("WWW-Authenticate", `Basic realm="`+realm+`"`)
	w.Header().Add("WWW-Authenticate", fmt.Sprintf(`Digest realm="%s", qop="auth,auth-int", nonce="%s", opaque="o1"`, realm, nonce))
	http.Error(w, "unauthorized", http.StatusUnauthorized)
	return false
}

// encodeJPEG and encodePNG give a picture's bytes as a camera would send them.
func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// scene renders a single-object scene at 320×240.
func scene(t testing.TB, color, shape, bg string) *image.RGBA {
	t.Helper()
	img, err := shapes.Render(cameratest.One(color, shape, bg), 320, 240, shapes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// An MJPEG stream behind Digest authentication: frames show the picture; parts between
// deliveries are read past, not delivered.
func TestMJPEGDigest(t *testing.T) {
	pic := scene(t, "yellow", "circle", "gray")
	cam := newFakeCamera(t, encodeJPEG(t, pic))
	cam.user, cam.password, cam.digest = "viewer", "s3cret-digest", true
	url := strings.Replace(cam.serve(), "http://", "http://viewer:s3cret-digest@", 1) + "/video.mjpg"
	logs := recordLogs(t)
	src := start(t, mustNew(t, Spec{Name: "esp", Kind: KindMJPEG, URL: url, FPS: 4}, Options{Logger: slog.New(logs)}))
	for range 3 {
		f := nextShowing(t, src, pic, time.Time{}, 20*time.Second)
		if f.Index != -1 {
			t.Fatalf("index %d", f.Index)
		}
		f.Release()
	}
	waitFor(t, 20*time.Second, "50 parts sent", func() bool { return cam.parts.Load() >= 50 })
	st := src.Stats()
	if st.State != StateStreaming || st.Errors != 0 || st.Captured*2 > uint64(cam.parts.Load()) {
		t.Fatalf("stats %+v after %d parts: want streaming, no errors, fewer than half the parts delivered", st, cam.parts.Load())
	}
	if cam.connections.Load() != 1 {
		t.Fatalf("%d connections, want 1", cam.connections.Load())
	}
	checkNoSecret(t, logs, st, "s3cret-digest")
}

// A camera that sends half a JPEG and then nothing, without closing: the stall is reported
// after read_timeout, the half picture is never delivered, and the source reconnects.
func TestMJPEGHalfPictureThenHang(t *testing.T) {
	pic := scene(t, "red", "square", "white")
	cam := newFakeCamera(t, encodeJPEG(t, pic))
	cam.hangAt = 5
	logs := recordLogs(t)
	src := start(t, mustNew(t, Spec{Name: "esp", Kind: KindMJPEG, URL: cam.serve() + "/stream", ReadTimeout: time.Second},
		Options{Logger: slog.New(logs), Backoff: Backoff{Initial: 100 * time.Millisecond}}))
	waitState(t, src, StateStalled, 20*time.Second)
	st := src.Stats()
	if st.Stalls != 1 || !strings.Contains(st.LastError.Error(), "stalled: no frame for 1s") || st.Since.Sub(st.LastFrameAt) < time.Second {
		t.Fatalf("stats %+v: want one stall, reported no sooner than read_timeout after the last frame", st)
	}
	waitState(t, src, StateStreaming, 20*time.Second)
	if cam.connections.Load() < 2 {
		t.Fatalf("streaming again over %d connections", cam.connections.Load())
	}
	// Every frame delivered, before and after, is the whole picture.
	for range 3 {
		nextShowing(t, src, pic, time.Now().Add(time.Hour), 10*time.Second).Release()
	}
	if n := len(logs.values("camera stalled", "err")); n != 1 {
		t.Fatalf("%d stall lines", n)
	}
}

// Wrong credentials (Basic): a clear error, retried without a log line per attempt, and
// the password never shown. The right ones from a password file are accepted.
func TestMJPEGCredentials(t *testing.T) {
	pic := scene(t, "green", "square", "black")
	cam := newFakeCamera(t, encodeJPEG(t, pic))
	cam.user, cam.password = "viewer", "right-pass"
	url := cam.serve() + "/video"

	logs := recordLogs(t)
	wrong := start(t, mustNew(t, Spec{Name: "wrong", Kind: KindMJPEG, URL: strings.Replace(url, "http://", "http://viewer:wrong-pass@", 1)},
		Options{Logger: slog.New(logs), Backoff: fastRetry}))
	waitFor(t, 10*time.Second, "three attempts", func() bool { return wrong.Stats().Reconnects >= 3 })
	st := wrong.Stats()
	if st.State != StateFailed && st.State != StateConnecting || st.Captured != 0 ||
		!strings.Contains(st.LastError.Error(), "the camera refused the credentials (HTTP 401 Unauthorized)") {
		t.Fatalf("stats %+v", st)
	}
	if n := len(logs.values("camera failed", "err")); n != 1 {
		t.Fatalf("%d failure lines for one outage", n)
	}
	checkNoSecret(t, logs, st, "wrong-pass")

	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte("right-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	right := start(t, mustNew(t, Spec{Name: "right", Kind: KindMJPEG, URL: url, Username: "viewer", PasswordFile: pwFile}, Options{}))
	nextShowing(t, right, pic, time.Time{}, 20*time.Second).Release()

	none := start(t, mustNew(t, Spec{Name: "none", Kind: KindMJPEG, URL: url}, Options{Backoff: fastRetry}))
	waitFor(t, 10*time.Second, "a failure", func() bool { return none.Stats().LastError != nil })
	if err := none.Stats().LastError.Error(); !strings.Contains(err, "the camera needs credentials") {
		t.Fatalf("without credentials: %s", err)
	}
}

// A URL that answers with one picture is not an MJPEG stream, and the error says so.
func TestMJPEGRefusesASinglePicture(t *testing.T) {
	cam := newFakeCamera(t, encodeJPEG(t, scene(t, "red", "circle", "black")))
	cam.snapshot = true
	src := start(t, mustNew(t, Spec{Name: "x", Kind: KindMJPEG, URL: cam.serve() + "/snap.jpg"}, Options{Backoff: fastRetry}))
	waitFor(t, 10*time.Second, "a failure", func() bool { return src.Stats().LastError != nil })
	if err := src.Stats().LastError.Error(); !strings.Contains(err, `not an MJPEG stream: Content-Type "image/jpeg"`) || !strings.Contains(err, "snapshot") {
		t.Fatalf("error %q", err)
	}
}

// A snapshot URL (PNG) is fetched at the camera's rate, behind Digest; a request that is
// never answered is a stall, and the source goes on after it.
func TestSnapshot(t *testing.T) {
	pic := scene(t, "purple", "triangle", "gray")
	cam := newFakeCamera(t, encodePNG(t, pic))
	cam.snapshot, cam.hangAt = true, 6
	cam.user, cam.password, cam.digest = "viewer", "snap-pass", true
	logs := recordLogs(t)
	src := start(t, mustNew(t, Spec{Name: "snap", Kind: KindSnapshot, URL: strings.Replace(cam.serve(), "http://", "http://viewer:snap-pass@", 1) + "/snap.png",
		FPS: 10, ReadTimeout: time.Second}, Options{Logger: slog.New(logs), Backoff: Backoff{Initial: 100 * time.Millisecond}}))
	nextShowing(t, src, pic, time.Time{}, 20*time.Second).Release()
	waitState(t, src, StateStalled, 20*time.Second)
	if err := src.Stats().LastError.Error(); !strings.Contains(err, "stalled: no answer within 1s (read_timeout)") {
		t.Fatalf("error %q", err)
	}
	waitState(t, src, StateStreaming, 20*time.Second)
	nextShowing(t, src, pic, time.Now().Add(time.Hour), 10*time.Second).Release()
	// Digest: a challenge once, then the same nonce answered again with a counter.
	if r := cam.refused.Load(); r > 2 {
		t.Fatalf("%d requests refused for %d made: the challenge is not remembered", r, cam.requests.Load())
	}
	checkNoSecret(t, logs, src.Stats(), "snap-pass")
}

func TestSnapshotNotFound(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	src := start(t, mustNew(t, Spec{Name: "snap", Kind: KindSnapshot, URL: srv.URL + "/nope.jpg"}, Options{Backoff: fastRetry}))
	waitFor(t, 10*time.Second, "a failure", func() bool { return src.Stats().LastError != nil })
	want := `camera "snap": fetch ` + srv.URL + `/nope.jpg: no stream at this path: check the URL's path (HTTP 404 Not Found)`
	if err := src.Stats().LastError.Error(); err != want {
		t.Fatalf("error %q\nwant  %q", err, want)
	}
}
