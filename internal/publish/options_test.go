package publish

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOptionsDefaults(t *testing.T) {
	o := Options{Device: "pi"}.withDefaults()
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"broker", o.Broker, EmbeddedBroker},
		{"listen", o.Listen, "127.0.0.1:1883"},
		{"client id", o.ClientID, "edged-pi"},
		{"topic prefix", o.TopicPrefix, "edged"},
		{"queue size", o.QueueSize, 1000},
		{"max ask bytes", o.MaxAskBytes, 1024},
		{"keepalive", o.KeepAlive, 30 * time.Second},
		{"backoff", [2]time.Duration{o.BackoffMin, o.BackoffMax}, [2]time.Duration{time.Second, time.Minute}},
		{"discovery prefix", o.HomeAssistant.DiscoveryPrefix, "homeassistant"},
		{"qos", o.QoS, 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	set := Options{Device: "pi", ClientID: "mine", QueueSize: 5, BackoffMin: time.Millisecond}.withDefaults()
	if set.ClientID != "mine" || set.QueueSize != 5 || set.BackoffMin != time.Millisecond {
		t.Errorf("defaults overwrote set values: %+v", set)
	}
}

func TestOptionsInvalid(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no device", Options{}, "option device: is empty"},
		{"device with slash", Options{Device: "a/b"}, "option device: \"a/b\" contains '/'"},
		{"device with wildcard", Options{Device: "a+"}, "option device: \"a+\" contains an MQTT wildcard"},
		{"prefix wildcard", Options{Device: "d", TopicPrefix: "edged/#"}, "option topic_prefix"},
		{"bad scheme", Options{Device: "d", Broker: "http://localhost:1883"}, `scheme "http" is not one of`},
		{"no host", Options{Device: "d", Broker: "tcp://"}, "names no host"},
		{"qos", Options{Device: "d", QoS: 3}, "option qos: 3 is not 0, 1 or 2"},
		{"cert without key", Options{Device: "d", TLS: TLSFiles{Cert: "c.pem"}}, "cert and key must be given together"},
		{"negative queue", Options{Device: "d", QueueSize: -1}, "option queue_size: -1 is negative"},
		{"backoff order", Options{Device: "d", BackoffMin: time.Minute, BackoffMax: time.Second}, "option backoff_max"},
		{"camera name", Options{Device: "d", Cameras: []Camera{{Name: "front/door"}}}, "camera name \"front/door\" contains '/'"},
		{"missing ca file", Options{Device: "d", TLS: TLSFiles{CA: filepath.Join(dir, "nope.pem")}}, "option tls.ca: open " + dir},
		{"ca not pem", Options{Device: "d", TLS: TLSFiles{CA: notPEM}}, notPEM + " holds no PEM certificate"},
		{"missing cert files", Options{Device: "d", TLS: TLSFiles{Cert: filepath.Join(dir, "c.pem"), Key: filepath.Join(dir, "k.pem")}}, "option tls.cert/tls.key"},
		{"reply prefix over the device", Options{Device: "d", ReplyPrefixes: []string{"edged"}}, `option reply_prefixes: "edged" covers edged's own topics (edged/d/...)`},
		{"reply prefix inside the device", Options{Device: "d", ReplyPrefixes: []string{"edged/d/cam"}}, "covers edged's own topics"},
		{"reply prefix in discovery", Options{Device: "d", ReplyPrefixes: []string{"homeassistant/sensor"}}, "covers edged's own topics (homeassistant/...)"},
		{"reply prefix wildcard", Options{Device: "d", ReplyPrefixes: []string{"app/#"}}, "contains an MQTT wildcard"},
		{"reply prefix trailing slash", Options{Device: "d", ReplyPrefixes: []string{"app/"}}, "has an empty topic level"},
		{"missing password file", Options{Device: "d", PasswordFile: filepath.Join(dir, "pw")}, "option password_file: open " + dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.opts, nil)
			if err == nil {
				t.Fatalf("New accepted %+v", tt.opts)
			}
			if p != nil {
				t.Error("New returned a publisher with an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestPasswordFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Device: "d", Username: "u", PasswordFile: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.password != "s3cret" {
		t.Errorf("password %q, want the file's content without the newline", p.password)
	}
}

func TestPublishRejectsBadInput(t *testing.T) {
	p, err := New(Options{Device: "d"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"camera with slash", p.PublishLabels("a/b", Labels{}), `labels: camera name "a/b" contains '/'`},
		{"empty camera", p.PublishCaption("", Caption{}), "caption: camera name is empty"},
		{"event type", p.PublishEvent("cam", Event{Type: "begin"}), `event for camera "cam": type "begin" is not "start" or "end"`},
		{"empty snapshot", p.PublishSnapshot("cam", nil), `snapshot for camera "cam" is empty`},
		{"NaN score", p.PublishLabels("cam", Labels{Labels: []Label{{Label: "x", Score: nan()}}}), `labels for camera "cam": json: unsupported value: NaN`},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, tt.err, tt.want)
		}
	}
	if n := p.Stats().Queued; n != 0 {
		t.Errorf("bad input queued %d messages", n)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.PublishCaption("cam", Caption{Caption: "late"}); err != ErrClosed {
		t.Errorf("publish after Close: %v, want ErrClosed", err)
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestBackoffGrowsToMax(t *testing.T) {
	p, err := New(Options{Device: "d", BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		failures int
		base     time.Duration
	}{{0, 100 * time.Millisecond}, {1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {50, time.Second}} {
		d := p.backoff(c.failures)
		lo, hi := time.Duration(float64(c.base)*0.8), time.Duration(float64(c.base)*1.2)
		if d < lo || d > hi {
			t.Errorf("backoff after %d failures = %v, want within [%v, %v]", c.failures, d, lo, hi)
		}
	}
}

// An external broker's URL gets its scheme's port when it names none, and a malformed one is
// refused before anything starts, saying what is wrong.
func TestBrokerAddress(t *testing.T) {
	for in, want := range map[string]string{
		"mqtt://192.168.1.5":             "mqtt://192.168.1.5:1883",
		"tcp://broker.lan":               "tcp://broker.lan:1883",
		"ssl://broker.lan":               "ssl://broker.lan:8883",
		"mqtts://broker.lan/":            "mqtts://broker.lan:8883",
		"mqtt://[::1]":                   "mqtt://[::1]:1883",
		"tcp://127.0.0.1:1884":           "tcp://127.0.0.1:1884",
		"wss://ha.lan/mqtt":              "wss://ha.lan/mqtt",
		"ws://127.0.0.1:9001/mqtt":       "ws://127.0.0.1:9001/mqtt",
		"homeassistant.local":            "names no scheme",
		"192.168.1.5:1883":               "names no scheme",
		"http://broker.lan":              `scheme "http" is not one of`,
		"mqtt://":                        "names no host",
		"mqtt://broker.lan:99999":        `port "99999"`,
		"mqtt://broker.lan:":             "the port after ':' is missing",
		"mqtt://edged:secret@broker.lan": "holds credentials",
		"mqtt://broker.lan/topic":        "has no path",
	} {
		got, err := BrokerAddress(in)
		if strings.Contains(want, "://") {
			if err != nil || got != want {
				t.Errorf("BrokerAddress(%q) = %q, %v; want %q", in, got, err, want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("BrokerAddress(%q) = %q, %v; want an error saying %q", in, got, err, want)
		}
	}
	p, err := New(Options{Broker: "mqtt://192.168.1.5", Device: "d"}, nil)
	if err != nil || p.BrokerURL() != "mqtt://192.168.1.5:1883" {
		t.Errorf("a publisher for mqtt://192.168.1.5 dials %q (%v)", p.BrokerURL(), err)
	}
	if _, err := New(Options{Broker: "mqtt://192.168.1.5:x", Device: "d"}, nil); err == nil || !strings.Contains(err.Error(), "option broker") {
		t.Errorf("a malformed broker was accepted: %v", err)
	}
}
