// Package mqtttest is the harness of the tests that talk MQTT: a real mosquitto broker on a
// free loopback port (started, stopped and restarted by the test), paho clients that
// subscribe and record what they receive, and the small pieces such tests wait and log with
// (polling with a deadline, a buffer a running process may write to, the tail of a log).
//
// Where mosquitto is missing a test that asks for it is skipped, unless the environment
// variable CI is set: then it fails, so that a CI machine without the broker cannot pass by
// skipping.
package mqtttest

import (
	"bytes"
	"fmt"
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

// Timeout bounds the broker's start and stop, a client's connect, subscribe and publish, and
// a Recorder's waits (unless its own Timeout is set).
const Timeout = 15 * time.Second

// Eventually polls cond until it holds, failing the test once timeout has passed.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not a wait for an outcome
	}
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Tail is the last lines of s.
func Tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(parts[max(0, len(parts)-lines):], "\n")
}

// Buffer collects what a running process or a logger writes, safe to read meanwhile.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Count is how many times substr was written so far.
func (b *Buffer) Count(substr string) int { return strings.Count(b.String(), substr) }

// Tail is the last lines written so far.
func (b *Buffer) Tail(lines int) string { return Tail(b.String(), lines) }

// --- mosquitto ---

// Binary finds mosquitto ($MOSQUITTO, /usr/sbin/mosquitto, or on PATH), or skips the test
// when it is missing and CI is unset; under CI a missing broker is a failure.
func Binary(t testing.TB) string {
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

// PasswordFile writes a mosquitto password file (with mosquitto_passwd, found beside the
// broker or on PATH) that holds one user, for a broker config's password_file line.
func PasswordFile(t testing.TB, username, password string) string {
	t.Helper()
	passwd := filepath.Join(filepath.Dir(filepath.Dir(Binary(t))), "bin", "mosquitto_passwd")
	if _, err := os.Stat(passwd); err != nil {
		if passwd, err = exec.LookPath("mosquitto_passwd"); err != nil {
			t.Fatalf("mosquitto is installed but mosquitto_passwd is not: %v", err)
		}
	}
	file := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command(passwd, "-c", "-b", file, username, password).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	return file
}

// Broker is a mosquitto run by a test on a free loopback port. Persistence keeps the
// sessions of persistent subscribers, and the messages queued for them, across a restart
// (Stop, then Start: the port stays the same).
type Broker struct {
	t      testing.TB
	bin    string
	dir    string
	conf   string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

// NewBroker writes a broker's config for a free port, with the extra lines (by default
// "allow_anonymous true"); Start runs it. The broker is stopped at the end of the test, and
// its log printed if the test failed.
func NewBroker(t testing.TB, extra string) *Broker {
	t.Helper()
	b := &Broker{t: t, bin: Binary(t), dir: t.TempDir(), port: FreePort(t)}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	lines := []string{
		fmt.Sprintf("listener %d 127.0.0.1", b.port),
		"persistence true",
		"persistence_location " + b.dir + "/",
		"log_dest file " + filepath.Join(b.dir, "mosquitto.log"),
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
	if err := os.WriteFile(b.conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(b.dir, "mosquitto.log")); err == nil {
				t.Logf("mosquitto log (tail):\n%s", Tail(string(log), 40))
			}
		}
	})
	return b
}

// StartBroker runs a broker that allows anonymous clients.
func StartBroker(t testing.TB) *Broker {
	t.Helper()
	b := NewBroker(t, "")
	b.Start()
	return b
}

// URL is the broker's address for an MQTT client (tcp://127.0.0.1:port).
func (b *Broker) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.port) }

// Start runs the broker and returns once it accepts connections.
func (b *Broker) Start() {
	b.t.Helper()
	cmd := exec.Command(b.bin, "-c", b.conf)
	stderr := &Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b.cmd, b.exited = cmd, exited
	Eventually(b.t, "mosquitto to accept connections", Timeout, func() bool {
		select {
		case <-exited:
			b.t.Fatalf("mosquitto exited at start (%v): %s", cmd.ProcessState, stderr.String())
		default:
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

// Stop ends the broker with SIGTERM (it saves its sessions) and waits for it; it does
// nothing when the broker is not running.
func (b *Broker) Stop() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(Timeout):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
	b.cmd = nil
}

// --- clients ---

// Message is one message a test client received.
type Message struct {
	Topic    string
	Payload  string
	Retained bool
}

// Recorder collects the messages a test client receives and lets a test wait for one.
type Recorder struct {
	// Timeout bounds each wait; zero means the package's Timeout.
	Timeout time.Duration

	mu      sync.Mutex
	msgs    []Message
	changed chan struct{} // closed and replaced on every new message
}

// NewRecorder is an empty Recorder; its Handle is a client's message handler.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{})} }

// Handle records a message (an mqtt.MessageHandler).
func (r *Recorder) Handle(_ mqtt.Client, m mqtt.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, Message{Topic: m.Topic(), Payload: string(m.Payload()), Retained: m.Retained()})
	close(r.changed)
	r.changed = make(chan struct{})
}

// WaitFor returns the index and message of the first message at index >= from that matches,
// waiting for it if need be. match may call the Recorder's methods.
func (r *Recorder) WaitFor(t testing.TB, from int, what string, match func(Message) bool) (int, Message) {
	t.Helper()
	timeout := r.Timeout
	if timeout == 0 {
		timeout = Timeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		msgs, changed := r.msgs, r.changed
		r.mu.Unlock()
		// match runs unlocked: it may itself look at the Recorder.
		for i := from; i < len(msgs); i++ {
			if match(msgs[i]) {
				return i, msgs[i]
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; got %v", timeout, what, r.All())
		}
	}
}

// WaitTopic waits for the first message on topic at index >= from.
func (r *Recorder) WaitTopic(t testing.TB, from int, topic string) (int, Message) {
	t.Helper()
	return r.WaitFor(t, from, "a message on "+topic, func(m Message) bool { return m.Topic == topic })
}

// WaitOn waits for the first message on topic that matches (any, when match is nil).
func (r *Recorder) WaitOn(t testing.TB, topic, what string, match func(Message) bool) Message {
	t.Helper()
	_, m := r.WaitFor(t, 0, what+" on "+topic, func(m Message) bool {
		return m.Topic == topic && (match == nil || match(m))
	})
	return m
}

// All is every message received so far, in order.
func (r *Recorder) All() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// On is the messages received on topic so far, in order.
func (r *Recorder) On(topic string) []Message {
	var out []Message
	for _, m := range r.All() {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// Client says how Connect connects a test client.
type Client struct {
	// ID is the client id; empty means a fresh one. A fixed ID with Persistent resumes the
	// session the broker kept for it.
	ID string
	// Persistent asks for a persistent session (clean session false): the broker keeps the
	// client's subscriptions and queues its QoS 1 messages while it is away.
	Persistent bool
	// Recorder, when set, receives every message the client gets.
	Recorder           *Recorder
	Username, Password string
}

var clientSeq atomic.Int64

// Connect connects a test client to url; it is disconnected at the end of the test.
func Connect(t testing.TB, url string, c Client) mqtt.Client {
	t.Helper()
	if c.ID == "" {
		c.ID = fmt.Sprintf("test-%d-%d", os.Getpid(), clientSeq.Add(1))
	}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(c.ID).SetCleanSession(!c.Persistent).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetOrderMatters(true).
		SetUsername(c.Username).SetPassword(c.Password)
	if c.Recorder != nil {
		o.SetDefaultPublishHandler(c.Recorder.Handle)
	}
	client := mqtt.NewClient(o)
	if tok := client.Connect(); !tok.WaitTimeout(Timeout) || tok.Error() != nil {
		t.Fatalf("test client %s: connect to %s: %v", c.ID, url, tok.Error())
	}
	t.Cleanup(func() { client.Disconnect(50) })
	return client
}

// Subscribe connects a test client with a fresh id and a clean session, subscribed (QoS 1)
// to the filters, and returns what records its messages.
func Subscribe(t testing.TB, url string, filters ...string) (*Recorder, mqtt.Client) {
	t.Helper()
	rec := NewRecorder()
	c := Connect(t, url, Client{Recorder: rec})
	SubscribeTo(t, c, filters...)
	return rec, c
}

// SubscribeTo subscribes a connected client (QoS 1) to the filters; none is a no-op.
func SubscribeTo(t testing.TB, c mqtt.Client, filters ...string) {
	t.Helper()
	if len(filters) == 0 {
		return
	}
	subs := make(map[string]byte, len(filters))
	for _, f := range filters {
		subs[f] = 1
	}
	if tok := c.SubscribeMultiple(subs, nil); !tok.WaitTimeout(Timeout) || tok.Error() != nil {
		t.Fatalf("subscribe %v: %v", filters, tok.Error())
	}
}

// Publish publishes at QoS 1 from a test client and waits for the broker to take it.
func Publish(t testing.TB, c mqtt.Client, topic string, retained bool, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, retained, payload); !tok.WaitTimeout(Timeout) || tok.Error() != nil {
		t.Fatalf("publish to %s: %v", topic, tok.Error())
	}
}

// Barrier publishes a marker through the broker to the client and waits for it: every
// message the broker had queued for that client before it has then arrived at rec.
func Barrier(t testing.TB, rec *Recorder, c mqtt.Client) {
	t.Helper()
	topic := fmt.Sprintf("test/barrier/%d", clientSeq.Add(1))
	SubscribeTo(t, c, topic)
	Publish(t, c, topic, false, "marker")
	rec.WaitTopic(t, 0, topic)
}
