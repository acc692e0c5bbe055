package daemon_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edged/edged/internal/mqtttest"
)

// e2eConfig writes a config for the edged under test: device "e2e", the given broker and
// HTTP port, and the cameras (YAML list items). It returns the config's path.
func e2eConfig(t *testing.T, dir, broker string, httpPort int, extra, cameras string) string {
	t.Helper()
	return writeFile(t, dir, "edged.yaml", fmt.Sprintf(`device: e2e
http: 127.0.0.1:%d
cache_dir: %s
mqtt:
  broker: %s
  qos: 1
%s
cameras:
%s`, httpPort, filepath.Join(dir, "cache"), broker, extra, cameras))
}

const syntheticCamera = `  - name: demo
    source: {kind: synthetic, fps: 10, scene_every: 500ms, seed: 7}
`

// A subscriber sees `online` while edged runs; SIGTERM makes it `stopped`, with exit 0.
func TestE2EOnlineThenStoppedOnSIGTERM(t *testing.T) {
	m := mqtttest.StartBroker(t)
	dir := t.TempDir()
	port := mqtttest.FreePort(t)
	cfg := e2eConfig(t, dir, m.URL(), port, "", syntheticCamera)
	box, _ := subscriber(t, m.URL(), "", true, "edged/e2e/available")
	p := startEdged(t, dir, cfg)

	box.WaitOn(t, "edged/e2e/available", "online", func(m mqtttest.Message) bool { return m.Payload == "online" })
	deadlineWait(t, "/healthz to say ok", func() bool {
		code, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		return code == 200 && strings.Contains(body, `"status": "ok"`)
	})
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	box.WaitOn(t, "edged/e2e/available", "stopped", func(m mqtttest.Message) bool { return m.Payload == "stopped" })
	if got := box.On("edged/e2e/available"); got[len(got)-1].Payload != "stopped" {
		t.Errorf("availability ended with %q", got[len(got)-1].Payload)
	}
}

// kill -9 leaves the broker to deliver edged's last will: `offline`.
func TestE2EKill9DeliversOffline(t *testing.T) {
	m := mqtttest.StartBroker(t)
	dir := t.TempDir()
	cfg := e2eConfig(t, dir, m.URL(), mqtttest.FreePort(t), "", syntheticCamera)
	box, _ := subscriber(t, m.URL(), "", true, "edged/e2e/available")
	p := startEdged(t, dir, cfg)
	box.WaitOn(t, "edged/e2e/available", "online", func(m mqtttest.Message) bool { return m.Payload == "online" })
	p.signal(syscall.SIGKILL)
	p.exitCode()
	box.WaitOn(t, "edged/e2e/available", "offline (the last will)", func(m mqtttest.Message) bool { return m.Payload == "offline" })
}

// A wrong config field stops edged with status 2 and one line naming file, line and field,
// before it starts anything (no log lines, no output).
func TestE2EBadConfigExits2(t *testing.T) {
	cases := []struct{ name, config, labels, want string }{
		{"bad delegate", "device: d\nruntime:\n  delegate: tpu\ncameras:\n  - name: c\n    source: {kind: synthetic}\n", "",
			`edged.yaml:3: runtime.delegate: "tpu" is not one of xnnpack, none, gpu, external`},
		{"unknown key", "device: d\ncameras:\n  - name: c\n    source: {kind: synthetic}\n    captoin: {every: 5s}\n", "",
			"edged.yaml:5: cameras[0].captoin: unknown key"},
		{"bad label set", "device: d\nmodels: {clip: m}\ncameras:\n  - name: c\n    source: {kind: synthetic}\n    labels:\n      sets: [l.yaml]\n      every: 1s\n",
			"name: l\nlabels: [a, a]\n", `edged.yaml:7: cameras[0].labels.sets[0]: label set l.yaml:2: labels[1]: label "a" is given already (labels[0], line 2)`},
		{"bad source", "device: d\ncameras:\n  - name: c\n    source: {kind: stream, url: 'not a url'}\n", "",
			`edged.yaml:4: cameras[0].source.url`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "m"), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, "edged.yaml", c.config)
			if c.labels != "" {
				writeFile(t, dir, "l.yaml", c.labels)
			}
			p := startEdged(t, dir, "edged.yaml")
			if code := p.exitCode(); code != 2 {
				t.Fatalf("exit status %d, want 2", code)
			}
			stderr := p.stderr.String()
			if !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 || p.stdout.String() != "" {
				t.Errorf("stderr %q (stdout %q): want one line containing %q", stderr, p.stdout.String(), c.want)
			}
		})
	}
}

// A camera that cannot be reached is reported and retried with backoff; the daemon and its
// other cameras keep running, and /healthz says what is wrong.
func TestE2EUnreachableCameraIsRetried(t *testing.T) {
	m := mqtttest.StartBroker(t)
	dir := t.TempDir()
	port := mqtttest.FreePort(t)
	closed := mqtttest.FreePort(t) // nothing listens here
	cfg := e2eConfig(t, dir, m.URL(), port, "", syntheticCamera+fmt.Sprintf(`  - name: door
    source: {kind: stream, url: 'http://127.0.0.1:%d/video.mjpg'}
`, closed))
	box, _ := subscriber(t, m.URL(), "", true, "edged/e2e/+/available")
	p := startEdged(t, dir, cfg)
	p.waitStderr(`camera failed" component=camera camera=door`, 1)
	deadlineWait(t, "three reconnects", func() bool { _, h := healthOf(t, port, "door"); return h.Reconnects >= 3 })
	// One log line for the outage, however many attempts.
	if n := p.stderr.Count(`camera=door`); n != 1 {
		t.Errorf("%d log lines about camera door, want 1:\n%s", n, grepLines(p.stderr.String(), "camera=door"))
	}
	box.WaitOn(t, "edged/e2e/demo/available", "demo online", func(m mqtttest.Message) bool { return m.Payload == "online" })
	for _, m := range box.On("edged/e2e/door/available") {
		if m.Payload != "offline" {
			t.Errorf("door's availability said %q", m.Payload)
		}
	}
	code, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	var h struct {
		Status   string
		Problems []string
		Cameras  map[string]struct {
			State     string
			LastError string `json:"last_error"`
		}
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("healthz %q: %v", body, err)
	}
	if code != 503 || h.Status != "degraded" || !strings.Contains(strings.Join(h.Problems, "; "), "camera door") ||
		!strings.Contains(h.Cameras["door"].LastError, "127.0.0.1") {
		t.Errorf("healthz %d %s: want 503, degraded, naming camera door and its error", code, body)
	}
	deadlineWait(t, "the synthetic camera to run meanwhile", func() bool {
		_, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		return strings.Contains(body, `"state": "streaming"`)
	})
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

// A broker that refuses edged's credentials: a clear message, retried, and edged keeps
// running (and still stops cleanly).
func TestE2ERefusedCredentialsAreRetried(t *testing.T) {
	pwFile := mqtttest.PasswordFile(t, "edged", "right")
	m := mqtttest.NewBroker(t, "allow_anonymous false\npassword_file "+pwFile)
	m.Start()
	dir := t.TempDir()
	port := mqtttest.FreePort(t)
	cfg := e2eConfig(t, dir, m.URL(), port, "  username: edged\n  password: wrong\n", syntheticCamera)
	p := startEdged(t, dir, cfg)
	p.waitStderr("refused the credentials", 2)
	_, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	if !strings.Contains(body, `"connected": false`) || !strings.Contains(body, "username and password") {
		t.Errorf("healthz %s: want disconnected with the credentials error", body)
	}
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}
