package daemon

import (
	"context"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/camera"
	"github.com/edged/edged/camera/cameratest"
)

// A camera that stops answering: its newest frame is not asked about, nor looked at by the
// schedule, once it is older than max_frame_age; the camera is reported stalled.
func TestStaleFramesAreNotCurrent(t *testing.T) {
	_, pic := cameratest.WritePNG(t, t.TempDir(), "a.png", cameratest.One("red", "circle", "black"), 64, 48)
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) > 2 { // then it hangs, as a camera that stopped
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_ = png.Encode(w, pic)
	}))
	defer srv.Close()
	defer srv.CloseClientConnections() // before Close: the hanging handler must return
	td := newTestDir(t)
	cfg := td.config(`  - name: cam
    source: {kind: snapshot, url: '` + srv.URL + `/snap.png', fps: 10, read_timeout: 300ms, max_frame_age: 500ms}
    questions: {every: 1500ms, ask: ['how many?']}
`)
	answerer := newTestAnswerer()
	r := startDaemon(t, cfg, &Models{Answerer: answerer}, Options{})
	eventually(t, "the camera to stall", func() bool {
		st := r.d.cameraStats()["cam"].State
		return st == camera.StateStalled || st == camera.StateFailed
	})
	eventually(t, "a questions tick skipped as stale", func() bool { return r.metric("skipped", "cam", "questions", skipStale) >= 1 })
	if n := r.rec.count(KindAnswer); n != 0 {
		t.Fatalf("%d answers about a frame older than max_frame_age", n)
	}
	_, err := r.d.ask(context.Background(), "cam", "how many?", "")
	if err == nil || !strings.Contains(err.Error(), `camera "cam" has no current frame: the newest is`) || !strings.Contains(err.Error(), "over max_frame_age 500ms") {
		t.Fatalf("ask about a stale frame: %v", err)
	}
}

// A camera's frame rate follows its schedule unless given, and its max_frame_age follows
// read_timeout and the frame rate.
func TestLiveSourceDefaults(t *testing.T) {
	cases := []struct {
		source, schedule string
		fps              float64
		maxAge           time.Duration
	}{
		{"{kind: mjpeg, url: 'http://cam/stream'}", "labels: {sets: [s.yaml], every: 1s}\n    caption: {every: 10s}", 1, 6 * time.Second},
		{"{kind: mjpeg, url: 'http://cam/stream'}", "labels: {sets: [s.yaml], every: 100ms}", 5, 5200 * time.Millisecond},
		{"{kind: mjpeg, url: 'http://cam/stream', read_timeout: 2s}", "questions: {every: 1m, ask: [x]}", 0.2, 7 * time.Second},
		{"{kind: stream, url: 'rtsp://cam/s'}", "", 1, 6 * time.Second},
		{"{kind: stream, url: 'rtsp://cam/s', fps: 2, max_frame_age: 3s}", "labels: {sets: [s.yaml], every: 1s}", 2, 3 * time.Second},
		{"{kind: synthetic}", "labels: {sets: [s.yaml], every: 1s}", 5, 0},
	}
	for _, c := range cases {
		td := newTestDir(t)
		td.write("s.yaml", "name: s\nlabels: [x]\n")
		td.write("config.yaml", "device: d\nmodels: {clip: models/clip, blip_caption: models/blip_caption, blip_vqa: models/blip_vqa}\n"+
			"cameras:\n  - name: c\n    source: "+c.source+"\n    "+c.schedule+"\n")
		cfg, err := LoadConfig(td.path("config.yaml"))
		if err != nil {
			t.Fatalf("%s: %v", c.source, err)
		}
		s := cfg.Cameras[0].Source
		if s.FPS != c.fps || s.MaxFrameAge != c.maxAge {
			t.Errorf("%s with %q: fps %v, max_frame_age %v; want %v, %v", c.source, c.schedule, s.FPS, s.MaxFrameAge, c.fps, c.maxAge)
		}
	}
}
