package daemon_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edged/edged/camera/cameratest"
	"github.com/edged/edged/internal/mqtttest"
)

// healthOf reads one camera's part of /healthz.
func healthOf(t *testing.T, port int, cam string) (status string, c struct {
	State      string
	Reconnects uint64
	Stalls     uint64
	LastError  string `json:"last_error"`
}) {
	t.Helper()
	_, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	var h struct {
		Status  string
		Cameras map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("healthz %q: %v", body, err)
	}
	if err := json.Unmarshal(h.Cameras[cam], &c); err != nil {
		t.Fatalf("healthz camera %s in %q: %v", cam, body, err)
	}
	return h.Status, c
}

// edged labels an RTSP camera (GStreamer's RTSP server, H.264) with the shapes CLIP: the top
// label is the scene the server streams. Paused without closing (SIGSTOP), the camera is
// reported stalled (healthz, metrics, its MQTT availability offline) and comes back when the
// server resumes; killed and restarted with another scene, edged reconnects and labels the
// new scene, and no label of a frame captured after the restart names the old one.
func TestE2ERTSPCamera(t *testing.T) {
	m := mqtttest.StartBroker(t)
	dir := t.TempDir()
	port := mqtttest.FreePort(t)
	pngA, _ := cameratest.WritePNG(t, dir, "a.png", cameratest.One("red", "circle", "black"), 320, 240)
	pngB, _ := cameratest.WritePNG(t, dir, "b.png", cameratest.One("blue", "square", "white"), 320, 240)
	srv := cameratest.StartRTSP(t, pngA, cameratest.ServerOptions{})

	writeFile(t, dir, "labels/shapes.yaml", readRepoFile(t, "configs/labels/shapes.yaml"))
	cfg := e2eConfig(t, dir, m.URL(), port, "models:\n  clip: "+filepath.Join(repoRoot(t), "models/shapes/clip"),
		fmt.Sprintf(`  - name: door
    source: {kind: stream, url: '%s', read_timeout: 2s}
    labels: {sets: [labels/shapes.yaml], every: 300ms}
`, srv.URL))
	const labels, avail = "edged/e2e/door/labels", "edged/e2e/door/available"
	box, _ := subscriber(t, m.URL(), "", true, labels, avail)
	p := startEdged(t, dir, cfg)
	// availability waits until door's availability is want: edged publishes it when it
	// changes (and again on every connection to the broker).
	availability := func(want string) {
		t.Helper()
		deadlineWait(t, "door "+want, func() bool {
			got := box.On(avail)
			return len(got) > 0 && got[len(got)-1].Payload == want
		})
	}
	// topSince waits for n labels of frames captured after since, and returns their top labels.
	topSince := func(since time.Time, n int) []string {
		t.Helper()
		var tops []string
		deadlineWait(t, fmt.Sprintf("%d labels of frames after %s", n, since.Format("15:04:05.000")), func() bool {
			tops = nil
			for _, msg := range box.On(labels) {
				l := decode[labelsPayload](t, msg)
				ts, err := time.Parse(time.RFC3339Nano, l.Ts)
				if err != nil {
					t.Fatalf("labels ts %q: %v", l.Ts, err)
				}
				if ts.After(since) && len(l.Labels) > 0 {
					tops = append(tops, l.Labels[0].Label)
				}
			}
			return len(tops) >= n
		})
		return tops
	}
	allAre := func(what string, tops []string, want string) {
		t.Helper()
		for _, l := range tops {
			if l != want {
				t.Fatalf("%s: top labels %q, want all %q", what, tops, want)
			}
		}
	}

	start := time.Now()
	availability("online")
	allAre("the first scene", topSince(start, 5), "red circle")

	// Paused without closing.
	srv.Pause()
	availability("offline")
	status, h := healthOf(t, port, "door")
	if status != "degraded" || h.State != "stalled" && h.State != "failed" && h.State != "connecting" || h.Stalls != 1 ||
		!strings.Contains(h.LastError, "stalled: no frame for 2s") {
		t.Fatalf("healthz while paused: %s %+v", status, h)
	}
	_, metrics := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if metricValue(metrics, `edged_camera_stalls_total{camera="door"}`) != 1 || metricValue(metrics, `edged_camera_up{camera="door"}`) != 0 {
		t.Fatalf("metrics while paused:\n%s", grepLines(metrics, "edged_camera"))
	}
	srv.Resume()
	resumed := time.Now()
	availability("online")
	allAre("after resuming", topSince(resumed, 3), "red circle")

	// Killed, and back with another scene.
	// Labels of frames read before the kill may still arrive after it on a busy machine: the
	// new scene is asserted from the camera's return on.
	srv.Kill()
	availability("offline")
	cameratest.StartRTSP(t, pngB, cameratest.ServerOptions{Port: srv.Port})
	availability("online")
	allAre("after the restart", topSince(time.Now(), 5), "blue square")

	if n := p.stderr.Count(`msg="camera stalled"`); n != 1 {
		t.Errorf("%d \"camera stalled\" log lines for one stall", n)
	}
	_, h = healthOf(t, port, "door")
	t.Logf("door: %+v; log lines about it:\n%s", h, grepLines(p.stderr.String(), "camera=door"))
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	availability("offline")
}

// grepLines keeps the lines of text that hold substr.
func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
