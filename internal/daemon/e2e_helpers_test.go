package daemon_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edged/edged/internal/mqtttest"
	"github.com/edged/edged/internal/testbin"
)

// The end-to-end tests run the real edged binary against a real mosquitto broker on a free
// loopback port, with the synthetic camera and the shapes models.

// e2eTimeout bounds every wait in these tests. It is generous: converting the shapes models
// on a cold cache and the race detector's slowdown both count against it.
const e2eTimeout = 90 * time.Second

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// repoRoot is the module's root folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// edged is the binary under test (testbin: the one make test built, or one built once per
// test run), skipping the test under -short.
func edged(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: runs the edged binary")
	}
	return testbin.Edged(t)
}

// deadlineWait polls cond until it holds, failing the test at the deadline.
func deadlineWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	mqtttest.Eventually(t, what, e2eTimeout, cond)
}

// --- edged ---

// proc is a running edged.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout mqtttest.Buffer
	stderr mqtttest.Buffer
	exited chan struct{}
}

// startEdged runs `edged run -c config` from dir; it is killed at cleanup if still running.
func startEdged(t *testing.T, dir, config string, env ...string) *proc {
	t.Helper()
	p := &proc{t: t, exited: make(chan struct{})}
	p.cmd = exec.Command(edged(t), "run", "-c", config)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		if !p.done() {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("edged stdout (tail):\n%s", p.stdout.Tail(30))
			t.Logf("edged stderr (tail):\n%s", p.stderr.Tail(60))
		}
	})
	return p
}

func (p *proc) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// exitCode waits for edged to exit and returns its status.
func (p *proc) exitCode() int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(e2eTimeout):
		p.t.Fatalf("edged did not exit within %v", e2eTimeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitStderr waits until edged's log holds substr at least n times.
func (p *proc) waitStderr(substr string, n int) {
	p.t.Helper()
	deadlineWait(p.t, fmt.Sprintf("%d× %q in edged's log", n, substr), func() bool {
		if p.done() {
			p.t.Fatalf("edged exited (%v) while waiting for %q", p.cmd.ProcessState, substr)
		}
		return p.stderr.Count(substr) >= n
	})
}

// httpGet fetches a URL from edged's HTTP server.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	return httpDo(t, url, "", "", "")
}

// httpDo GETs url with an optional Host header and basic-auth user.
func httpDo(t *testing.T, url, host, user, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// --- subscriber ---

// subscriber connects a test client to url and subscribes (QoS 1) to the filters; its waits
// are bounded by e2eTimeout. A fixed id with clean=false makes a persistent session, which
// the broker keeps while it is away.
func subscriber(t *testing.T, url, id string, clean bool, filters ...string) (*mqtttest.Recorder, mqtt.Client) {
	t.Helper()
	box := mqtttest.NewRecorder()
	box.Timeout = e2eTimeout
	c := mqtttest.Connect(t, url, mqtttest.Client{ID: id, Persistent: !clean, Recorder: box})
	mqtttest.SubscribeTo(t, c, filters...)
	return box, c
}

// writeFile writes name under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// shapesSetup is what most end-to-end tests start from: a broker, the test's folder with the
// shapes label set in it (labels/shapes.yaml), and a free port for edged's HTTP server.
func shapesSetup(t *testing.T) (broker *mqtttest.Broker, dir string, httpPort int) {
	t.Helper()
	broker, dir, httpPort = mqtttest.StartBroker(t), t.TempDir(), mqtttest.FreePort(t)
	writeFile(t, dir, "labels/shapes.yaml", readRepoFile(t, "configs/labels/shapes.yaml"))
	return broker, dir, httpPort
}

// hubEnv is edged's environment for a local hub at url: its caches under dir, no token, not
// offline.
func hubEnv(url, dir string) []string {
	return []string{"HF_ENDPOINT=" + url, "HF_HUB_CACHE=" + filepath.Join(dir, "hub"), "HF_HOME=" + filepath.Join(dir, "hf"),
		"HF_TOKEN=", "HF_HUB_OFFLINE="}
}
