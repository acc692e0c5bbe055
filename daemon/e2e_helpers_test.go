package daemon_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// The end-to-end tests run the real edged binary against a real mosquitto broker on a free
// loopback port, with the synthetic camera and the shapes models.

// e2eTimeout bounds every wait in these tests. It is generous: converting the shapes models
// on a cold cache and the race detector's slowdown both count against it.
const e2eTimeout = 90 * time.Second

var (
	buildOnce sync.Once
	edgedBin  string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// repoRoot is the module's root folder (the daemon package's parent).
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the source folder")
	}
	return filepath.Dir(filepath.Dir(file))
}

// edged builds the binary once per test run (skipping the test under -short).
func edged(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: builds and runs the edged binary")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "edged-e2e-")
		if buildErr != nil {
			return
		}
		edgedBin = filepath.Join(binDir, "edged")
		cmd := exec.Command("go", "build", "-o", edgedBin, "./cmd/edged")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/edged: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return edgedBin
}

// deadlineWait polls cond until it holds, failing the test at the deadline.
func deadlineWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2eTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", e2eTimeout, what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a wait for an outcome
	}
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) count(substr string) int { return strings.Count(s.String(), substr) }

// --- edged ---

// proc is a running edged.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
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
			t.Logf("edged stdout (tail):\n%s", tail(p.stdout.String(), 30))
			t.Logf("edged stderr (tail):\n%s", tail(p.stderr.String(), 60))
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
		return p.stderr.count(substr) >= n
	})
}

// httpGet fetches a URL from edged's HTTP server.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// --- mosquitto ---

// mosquitto is a broker run by a test on a free loopback port. Persistence keeps the
// sessions of persistent subscribers (and their queued messages) across a restart.
type mosquitto struct {
	t      *testing.T
	dir    string
	conf   string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

func mosquittoBinary(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/sbin/mosquitto"}
	if env := os.Getenv("MOSQUITTO"); env != "" {
		candidates = []string{env}
	} else if p, err := exec.LookPath("mosquitto"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("mosquitto not found (looked for %v) and CI is set", candidates)
	}
	t.Skipf("mosquitto not found (looked for %v): install the Debian package mosquitto", candidates)
	return ""
}

// newMosquitto writes a config for a free port with the extra lines (default: anonymous
// clients allowed); start runs it.
func newMosquitto(t *testing.T, extra string) *mosquitto {
	t.Helper()
	m := &mosquitto{t: t, dir: t.TempDir(), port: freePort(t)}
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	lines := []string{
		fmt.Sprintf("listener %d 127.0.0.1", m.port),
		"persistence true",
		"persistence_location " + m.dir + "/",
		"log_dest file " + filepath.Join(m.dir, "mosquitto.log"),
		"log_type all",
	}
	if u, err := user.Current(); err == nil { // as root, mosquitto would switch to "mosquitto"
		lines = append(lines, "user "+u.Username)
	}
	if extra == "" {
		extra = "allow_anonymous true"
	}
	lines = append(lines, extra)
	if err := os.WriteFile(m.conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(m.dir, "mosquitto.log")); err == nil {
				t.Logf("mosquitto log (tail):\n%s", tail(string(log), 30))
			}
		}
	})
	return m
}

func startMosquitto(t *testing.T) *mosquitto {
	t.Helper()
	m := newMosquitto(t, "")
	m.start()
	return m
}

func (m *mosquitto) url() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.port) }

// start runs the broker and returns once it accepts connections.
func (m *mosquitto) start() {
	m.t.Helper()
	cmd := exec.Command(mosquittoBinary(m.t), "-c", m.conf)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	m.cmd, m.exited = cmd, exited
	deadlineWait(m.t, "mosquitto to accept connections", func() bool {
		select {
		case <-exited:
			m.t.Fatalf("mosquitto exited at start (%v): %s", cmd.ProcessState, stderr.String())
		default:
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", m.port), time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

// stop ends the broker with SIGTERM (it saves its sessions) and waits for it.
func (m *mosquitto) stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(e2eTimeout):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd = nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// --- subscriber ---

type message struct {
	topic    string
	payload  string
	retained bool
}

// inbox collects what a test client receives.
type inbox struct {
	mu   sync.Mutex
	msgs []message
}

func (b *inbox) handle(_ mqtt.Client, m mqtt.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, message{topic: m.Topic(), payload: string(m.Payload()), retained: m.Retained()})
}

func (b *inbox) all() []message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]message(nil), b.msgs...)
}

// on returns the messages received on topic, in order.
func (b *inbox) on(topic string) []message {
	var out []message
	for _, m := range b.all() {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// waitFor waits for a message on topic that matches (any, when match is nil) and returns it.
func (b *inbox) waitFor(t *testing.T, topic, what string, match func(message) bool) message {
	t.Helper()
	var found message
	deadlineWait(t, what+" on "+topic, func() bool {
		for _, m := range b.on(topic) {
			if match == nil || match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

var clientSeq atomic.Int64

// subscriber connects a test client to url and subscribes (QoS 1) to the filters. A fixed id
// with clean=false makes a persistent session, which the broker keeps while it is away.
func subscriber(t *testing.T, url, id string, clean bool, filters ...string) (*inbox, mqtt.Client) {
	t.Helper()
	if id == "" {
		id = fmt.Sprintf("e2e-%d-%d", os.Getpid(), clientSeq.Add(1))
	}
	box := &inbox{}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetOrderMatters(true).
		SetDefaultPublishHandler(box.handle)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(e2eTimeout) || tok.Error() != nil {
		t.Fatalf("test client: connect to %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	if len(filters) > 0 {
		subs := map[string]byte{}
		for _, f := range filters {
			subs[f] = 1
		}
		if tok := c.SubscribeMultiple(subs, nil); !tok.WaitTimeout(e2eTimeout) || tok.Error() != nil {
			t.Fatalf("subscribe %v: %v", filters, tok.Error())
		}
	}
	return box, c
}

func publishMsg(t *testing.T, c mqtt.Client, topic, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(e2eTimeout) || tok.Error() != nil {
		t.Fatalf("publish to %s: %v", topic, tok.Error())
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
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
