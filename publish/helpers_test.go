package publish

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// waitTimeout bounds every wait for something to happen in these tests.
const waitTimeout = 15 * time.Second

// eventually polls cond until it holds, failing the test at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not a wait for an outcome
	}
}

// --- mosquitto ---

// mosquittoBinary finds mosquitto ($MOSQUITTO, /usr/sbin/mosquitto, or on PATH), or skips
// the test when it is missing and CI is unset; under CI a missing broker is a failure.
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
		t.Fatalf("mosquitto not found (looked for %v) and CI is set: install the Debian package mosquitto", candidates)
	}
	t.Skipf("mosquitto not found (looked for %v): install the Debian package mosquitto; with CI set this is a failure", candidates)
	return ""
}

// mosquitto is a broker process run by a test on a free loopback port, with persistence so
// a persistent subscriber's session and its queued messages survive a restart.
type mosquitto struct {
	t      *testing.T
	bin    string
	dir    string
	conf   string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

// newMosquitto writes a config (extra lines appended) for a free port; start runs it.
func newMosquitto(t *testing.T, extra string) *mosquitto {
	t.Helper()
	m := &mosquitto{t: t, bin: mosquittoBinary(t), dir: t.TempDir(), port: freePort(t)}
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	lines := []string{
		fmt.Sprintf("listener %d 127.0.0.1", m.port),
		"persistence true",
		"persistence_location " + m.dir + "/",
		"log_dest file " + filepath.Join(m.dir, "mosquitto.log"),
		"log_type all",
	}
	// Run as root, mosquitto would switch to the user "mosquitto", who cannot write here.
	if u, err := user.Current(); err == nil {
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
				t.Logf("mosquitto log:\n%s", tail(string(log), 40))
			}
		}
	})
	return m
}

// startMosquitto runs a broker that allows anonymous clients.
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
	cmd := exec.Command(m.bin, "-c", m.conf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	m.cmd, m.exited = cmd, exited
	deadline := time.Now().Add(waitTimeout)
	for {
		select {
		case <-exited:
			m.t.Fatalf("mosquitto exited at start (%v): %s", cmd.ProcessState, stderr.String())
		default:
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", m.port), time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto not accepting on port %d: %v", m.port, err)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

// stop terminates the broker cleanly (it saves its persistence file) and waits for it.
func (m *mosquitto) stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(waitTimeout):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd = nil
}

// freePort asks the kernel for a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// --- subscriber ---

// received is one message a test subscriber got.
type received struct {
	topic    string
	payload  string
	retained bool
}

// recorder collects messages and lets a test wait for one.
type recorder struct {
	mu      sync.Mutex
	msgs    []received
	changed chan struct{} // closed and replaced on every new message
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) handle(_ mqtt.Client, m mqtt.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, received{topic: m.Topic(), payload: string(m.Payload()), retained: m.Retained()})
	close(r.changed)
	r.changed = make(chan struct{})
}

// waitFor returns the index and message of the first message at index >= from that matches.
func (r *recorder) waitFor(t *testing.T, from int, what string, match func(received) bool) (int, received) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for i := from; i < len(r.msgs); i++ {
			if match(r.msgs[i]) {
				m := r.msgs[i]
				r.mu.Unlock()
				return i, m
			}
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; got %v", waitTimeout, what, r.all())
		}
	}
}

// waitTopic waits for the first message on topic at index >= from.
func (r *recorder) waitTopic(t *testing.T, from int, topic string) (int, received) {
	t.Helper()
	return r.waitFor(t, from, "a message on "+topic, func(m received) bool { return m.topic == topic })
}

func (r *recorder) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.msgs...)
}

func (r *recorder) on(topic string) []received {
	var out []received
	for _, m := range r.all() {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

var clientSeq atomic.Int64

// client connects a test MQTT client; every message it receives goes to rec (may be nil).
// clean=false with a fixed id resumes a persistent session.
func client(t *testing.T, url, id string, clean bool, rec *recorder, username, password string) mqtt.Client {
	t.Helper()
	if id == "" {
		id = fmt.Sprintf("test-%d-%d", os.Getpid(), clientSeq.Add(1))
	}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetOrderMatters(true).
		SetUsername(username).SetPassword(password)
	if rec != nil {
		o.SetDefaultPublishHandler(rec.handle)
	}
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatalf("test client %s: connect to %s: %v", id, url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// subscribe connects a clean test client subscribed (QoS 1) to the filters.
func subscribe(t *testing.T, url string, filters ...string) (*recorder, mqtt.Client) {
	t.Helper()
	rec := newRecorder()
	c := client(t, url, "", true, rec, "", "")
	subscribeFilters(t, c, filters...)
	return rec, c
}

func subscribeFilters(t *testing.T, c mqtt.Client, filters ...string) {
	t.Helper()
	subs := make(map[string]byte, len(filters))
	for _, f := range filters {
		subs[f] = 1
	}
	if tok := c.SubscribeMultiple(subs, nil); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatalf("subscribe %v: %v", filters, tok.Error())
	}
}

// send publishes from a test client and waits for the broker to take it.
func send(t *testing.T, c mqtt.Client, topic string, retained bool, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, retained, payload); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatalf("publish to %s: %v", topic, tok.Error())
	}
}

// barrier publishes a marker through the broker to the subscriber and waits for it: every
// message the broker had queued for that subscriber before it has then arrived.
func barrier(t *testing.T, rec *recorder, c mqtt.Client) {
	t.Helper()
	topic := fmt.Sprintf("test/barrier/%d", clientSeq.Add(1))
	subscribeFilters(t, c, topic)
	send(t, c, topic, false, "marker")
	rec.waitTopic(t, 0, topic)
}

// --- publisher ---

// logBuffer collects a publisher's logs for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) count(substr string) int { return strings.Count(l.String(), substr) }

// startPublisher starts a publisher with test-friendly timings (unless set) and closes it at
// the end of the test, printing its log if the test failed.
func startPublisher(t *testing.T, opts Options) (*Publisher, *logBuffer) {
	t.Helper()
	if opts.BackoffMin == 0 {
		opts.BackoffMin = 20 * time.Millisecond
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 200 * time.Millisecond
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 5 * time.Second
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := New(opts, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("publisher log:\n%s", tail(logs.String(), 60))
		}
	})
	return p, logs
}

func waitConnected(t *testing.T, p *Publisher) {
	t.Helper()
	eventually(t, "the publisher to connect", func() bool { return p.Stats().Connected })
}
