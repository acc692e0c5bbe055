package camera

import (
	"bytes"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/camera/cameratest"
)

// pictureTolerance is how far (mean absolute difference over R, G and B, in 8-bit levels) a
// frame that went through H.264 or JPEG may be from the picture the server encoded.
// Measured: about 1 for these flat scenes at 320×240; a frame of another scene is 40 or more
// away.
const pictureTolerance = 6

// waitState waits until src is in state st.
func waitState(t testing.TB, src Source, st State, within time.Duration) {
	t.Helper()
	waitFor(t, within, "state "+string(st), func() bool { return src.Stats().State == st })
}

// nextShowing receives frames until one of them is of want's size and within tolerance of
// it, failing after within; frames that show something else fail the test unless they were
// captured before after.
func nextShowing(t testing.TB, src Source, want *image.RGBA, after time.Time, within time.Duration) *Frame {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		f := next(t, src, time.Until(deadline))
		d := cameratest.MeanDiff(f.Image, want)
		if d >= 0 && d <= pictureTolerance {
			return f
		}
		if !f.Time.Before(after) {
			t.Fatalf("frame %d (captured %v after the change) is %v from the scene (size %v)", f.Seq, f.Time.Sub(after), d, f.Image.Rect)
		}
		f.Release()
	}
}

// checkNoSecret fails if a log line or the last error shows secret.
func checkNoSecret(t testing.TB, logs *logRecorder, st Stats, secret string) {
	t.Helper()
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, r := range logs.records {
		var buf bytes.Buffer
		buf.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool { buf.WriteString(" " + a.String()); return true })
		if strings.Contains(buf.String(), secret) {
			t.Fatalf("a log line shows the password: %s", buf.String())
		}
	}
	if st.LastError != nil && strings.Contains(st.LastError.Error(), secret) {
		t.Fatalf("the last error shows the password: %v", st.LastError)
	}
}

// An RTSP stream from GStreamer's RTSP server: frames show the scene it encodes; paused
// without closing (SIGSTOP), the source reports the stall after read_timeout, once, and
// delivers nothing stale meanwhile; resumed, it streams again; killed and started again
// with another scene, it reconnects and shows the new scene.
func TestRTSPStallsAndReconnects(t *testing.T) {
	dir := t.TempDir()
	pngA, sceneA := cameratest.WritePNG(t, dir, "a.png", cameratest.One("red", "circle", "black"), 320, 240)
	pngB, sceneB := cameratest.WritePNG(t, dir, "b.png", cameratest.One("blue", "square", "white"), 320, 240)
	if d := cameratest.MeanDiff(sceneA, sceneB); d < 5*pictureTolerance {
		t.Fatalf("the two scenes are only %v apart; the test could not tell them apart", d)
	}
	srv := cameratest.StartRTSP(t, pngA, cameratest.ServerOptions{})

	logs := recordLogs(t)
	const readTimeout = 1500 * time.Millisecond
	began := time.Now()
	src := start(t, mustNew(t, Spec{Name: "door", Kind: KindStream, URL: srv.URL, FPS: 5, ReadTimeout: readTimeout},
		Options{Logger: slog.New(logs), Backoff: Backoff{Initial: 200 * time.Millisecond, Max: time.Second}}))
	f := nextShowing(t, src, sceneA, time.Time{}, 30*time.Second)
	if f.Index != -1 || f.Time.Before(began) || f.Time.After(time.Now()) {
		t.Fatalf("frame index %d captured at %v (source started %v)", f.Index, f.Time, began)
	}
	f.Release()
	waitState(t, src, StateStreaming, time.Second)

	// Paused: the stall is reported, and nothing is delivered until the server resumes.
	srv.Pause()
	paused := time.Now()
	waitState(t, src, StateStalled, 30*time.Second)
	st := src.Stats()
	t.Logf("stall reported %v after SIGSTOP (read_timeout %v)", st.Since.Sub(paused).Round(time.Millisecond), readTimeout)
	if st.Since.Sub(st.LastFrameAt) < readTimeout || st.Stalls != 1 {
		t.Fatalf("stall at %v, last frame at %v, stalls %d: want one stall, no sooner than read_timeout after the last frame", st.Since, st.LastFrameAt, st.Stalls)
	}
	if !strings.Contains(st.LastError.Error(), "stalled: no frame for 1.5s") {
		t.Fatalf("last error %q, want the stall", st.LastError)
	}
	// Drain what was delivered before the stall; after it nothing may come while paused.
	select {
	case f := <-src.Frames():
		if f.Time.After(st.Since) {
			t.Fatalf("frame %d captured after the stall was reported", f.Seq)
		}
		f.Release()
	default:
	}
	srv.Resume()
	resumed := time.Now()
	f = nextShowing(t, src, sceneA, time.Time{}, 30*time.Second)
	if f.Time.Before(resumed) {
		t.Fatalf("after resuming, frame %d was captured %v before the server resumed", f.Seq, resumed.Sub(f.Time))
	}
	f.Release()
	waitState(t, src, StateStreaming, time.Second)
	if n := len(logs.values("camera stalled", "err")); n != 1 {
		t.Fatalf("%d \"camera stalled\" lines for one stall", n)
	}

	// Killed and back with another scene on the same port.
	srv.Kill()
	killed := time.Now()
	waitFor(t, 30*time.Second, "the source to notice", func() bool { s := src.Stats().State; return s == StateFailed || s == StateStalled })
	before := src.Stats().Reconnects
	srv2 := cameratest.StartRTSP(t, pngB, cameratest.ServerOptions{Port: srv.Port})
	f = nextShowing(t, src, sceneB, killed, 60*time.Second)
	f.Release()
	st = src.Stats()
	if st.State != StateStreaming || st.Reconnects <= before {
		t.Fatalf("after the restart: %+v", st)
	}
	t.Logf("stats: %+v; server stderr: %q", st, srv2.Stderr())
}

func TestRTSPOverUDP(t *testing.T) {
	dir := t.TempDir()
	png, scene := cameratest.WritePNG(t, dir, "a.png", cameratest.One("green", "triangle", "gray"), 320, 240)
	srv := cameratest.StartRTSP(t, png, cameratest.ServerOptions{})
	src := start(t, mustNew(t, Spec{Name: "udp", Kind: KindStream, URL: srv.URL, Transport: TransportUDP, FPS: 5}, Options{}))
	nextShowing(t, src, scene, time.Time{}, 30*time.Second).Release()
}

// Credentials for an RTSP camera: in the URL (Digest), or a user name and a password file
// (Basic); wrong ones get an error that says so, without the password.
func TestRTSPCredentials(t *testing.T) {
	dir := t.TempDir()
	png, scene := cameratest.WritePNG(t, dir, "a.png", cameratest.One("yellow", "square", "black"), 320, 240)
	digest := cameratest.StartRTSP(t, png, cameratest.ServerOptions{User: "viewer", Password: "rtsp-digest-pw", Digest: true})
	basic := cameratest.StartRTSP(t, png, cameratest.ServerOptions{User: "viewer", Password: "rtsp-basic-pw"})
	withUser := func(url, userinfo string) string { return strings.Replace(url, "rtsp://", "rtsp://"+userinfo+"@", 1) }

	inURL := start(t, mustNew(t, Spec{Name: "digest", Kind: KindStream, URL: withUser(digest.URL, "viewer:rtsp-digest-pw"), FPS: 5}, Options{}))
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte("rtsp-basic-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := start(t, mustNew(t, Spec{Name: "basic", Kind: KindStream, URL: basic.URL, Username: "viewer", PasswordFile: pwFile, FPS: 5}, Options{}))
	nextShowing(t, inURL, scene, time.Time{}, 30*time.Second).Release()
	nextShowing(t, fromFile, scene, time.Time{}, 30*time.Second).Release()

	logs := recordLogs(t)
	wrong := start(t, mustNew(t, Spec{Name: "wrong", Kind: KindStream, URL: withUser(digest.URL, "viewer:not-the-pw")},
		Options{Logger: slog.New(logs), Backoff: Backoff{Initial: 100 * time.Millisecond}}))
	waitFor(t, 30*time.Second, "a failure", func() bool { return wrong.Stats().LastError != nil })
	st := wrong.Stats()
	want := `camera "wrong": open rtsp://viewer:xxxxx@127.0.0.1:` + fmt.Sprint(digest.Port) + `/scene: the camera refused the credentials (RTSP 401 Unauthorized)`
	if st.LastError.Error() != want || st.Captured != 0 {
		t.Fatalf("stats %+v\nwant the error %q", st, want)
	}
	checkNoSecret(t, logs, st, "not-the-pw")

	none := start(t, mustNew(t, Spec{Name: "none", Kind: KindStream, URL: basic.URL}, Options{Backoff: Backoff{Initial: 100 * time.Millisecond}}))
	waitFor(t, 30*time.Second, "a failure", func() bool { return none.Stats().LastError != nil })
	if err := none.Stats().LastError.Error(); !strings.Contains(err, "the camera needs credentials") {
		t.Fatalf("without credentials: %s", err)
	}
	missing := start(t, mustNew(t, Spec{Name: "path", Kind: KindStream, URL: strings.Replace(withUser(basic.URL, "viewer:rtsp-basic-pw"), "/scene", "/nope", 1)},
		Options{Backoff: Backoff{Initial: 100 * time.Millisecond}}))
	waitFor(t, 30*time.Second, "a failure", func() bool { return missing.Stats().LastError != nil })
	if err := missing.Stats().LastError.Error(); !strings.Contains(err, "no stream at this path") {
		t.Fatalf("wrong path: %s", err)
	}
}

// rtsps: RTSP over TLS (the camera's certificate is self-signed, and not checked).
func TestRTSPS(t *testing.T) {
	dir := t.TempDir()
	png, scene := cameratest.WritePNG(t, dir, "a.png", cameratest.One("red", "triangle", "white"), 320, 240)
	cert, key := cameratest.SelfSignedCert(t, dir)
	srv := cameratest.StartRTSP(t, png, cameratest.ServerOptions{TLSCert: cert, TLSKey: key})
	if !strings.HasPrefix(srv.URL, "rtsps://") {
		t.Fatalf("server at %s", srv.URL)
	}
	src := start(t, mustNew(t, Spec{Name: "tls", Kind: KindStream, URL: srv.URL, FPS: 5}, Options{}))
	nextShowing(t, src, scene, time.Time{}, 30*time.Second).Release()
}

// A GStreamer pipeline (here reading the RTSP server, as a Pi camera's libcamerasrc would be
// read) delivers its frames through OpenCV's GStreamer backend, and recovers from a stall.
func TestGStreamerPipeline(t *testing.T) {
	dir := t.TempDir()
	png, scene := cameratest.WritePNG(t, dir, "a.png", cameratest.One("blue", "circle", "white"), 320, 240)
	srv := cameratest.StartRTSP(t, png, cameratest.ServerOptions{})
	pipeline := "rtspsrc location=" + srv.URL + " protocols=tcp latency=0 ! rtph264depay ! avdec_h264 ! videoconvert ! appsink"
	src := start(t, mustNew(t, Spec{Name: "gst", Kind: KindGStreamer, Pipeline: pipeline, FPS: 5, ReadTimeout: time.Second},
		Options{Backoff: Backoff{Initial: 100 * time.Millisecond}}))
	nextShowing(t, src, scene, time.Time{}, 30*time.Second).Release()

	// OpenCV's GStreamer backend has no read timeout: the watchdog catches the stall, leaves
	// the blocked read behind, and a new pipeline streams once the server resumes.
	srv.Pause()
	waitState(t, src, StateStalled, 30*time.Second)
	srv.Resume()
	resumed := time.Now()
	f := nextShowing(t, src, scene, time.Time{}, 30*time.Second)
	if f.Time.Before(resumed) {
		t.Fatalf("frame %d captured before the server resumed", f.Seq)
	}
	f.Release()
}
