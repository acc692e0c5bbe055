package publish

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// EmbeddedBroker is the Options.Broker value that makes the publisher run its own broker.
const EmbeddedBroker = "embedded"

// DefaultListen is where the embedded broker listens unless told otherwise: this machine only.
const DefaultListen = "127.0.0.1:1883"

// Options configures a Publisher. Device is required; unset names, sizes and durations get
// their defaults (withDefaults is the one place they live), while QoS and the booleans mean
// what their zero value says. New fills the defaults and validates.
type Options struct {
	// Broker is "embedded" (the default) or a URL: tcp://host:port, ssl://host:port (also
	// tls://, mqtts://), ws:// or wss://.
	Broker string
	// Listen is where the embedded broker listens (default 127.0.0.1:1883; port 0 picks one).
	Listen string
	// Embedded is the embedded broker's users, permissions, TLS and limits.
	Embedded BrokerConfig
	// ClientID defaults to "edged-<device>".
	ClientID string
	// Username and Password authenticate to the broker; PasswordFile, when set and Password is
	// empty, is read for the password (surrounding whitespace removed).
	Username     string
	Password     string
	PasswordFile string
	// TLS names the files for an ssl:// broker.
	TLS TLSFiles
	// QoS is used for every message (0, 1 or 2). The zero value means QoS 0.
	QoS int
	// TopicPrefix is the first topic level (default "edged").
	TopicPrefix string
	// Device is the second topic level and the Home Assistant device id. Required.
	Device string
	// Retain chooses which state topics the broker keeps for late subscribers.
	Retain Retain
	// QueueSize bounds how many results wait while the broker is unreachable (default 1000);
	// QueueBytes bounds their total payload size (default 16 MiB). The oldest are dropped first.
	QueueSize  int
	QueueBytes int
	// ReplyPrefixes are topic prefixes a request's reply_to may name besides
	// <prefix>/<device>/reply/; none may cover edged's own topics.
	ReplyPrefixes []string
	// MaxAskBytes bounds the question of an ask request (default 1024 bytes).
	MaxAskBytes int
	// MaxPendingAsks bounds the ask requests being answered at once (default 16); more are
	// answered with a "busy" error.
	MaxPendingAsks int
	// AskTimeout bounds one AskHandler call (default 60s).
	AskTimeout time.Duration
	// AskHandler answers questions received on <camera>/ask. Nil: ask is not subscribed.
	AskHandler AskHandler
	// SearchHandler answers text searches received on <prefix>/<device>/search (results on
	// .../search/result; see search.go). Nil: search is not subscribed.
	SearchHandler SearchHandler
	// KeepAlive is the MQTT keepalive (default 30s).
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt (default 10s).
	ConnectTimeout time.Duration
	// PublishTimeout bounds the wait for one message to be accepted by the broker (default 10s).
	PublishTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait between connection attempts (default 1s, 60s);
	// it doubles after each failure, with jitter.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// DrainTimeout bounds how long Close waits to send queued results and finish pending asks
	// (default 5s).
	DrainTimeout time.Duration
	// HomeAssistant controls MQTT discovery.
	HomeAssistant HomeAssistant
	// Cameras are announced to Home Assistant; SetCameras replaces them later.
	Cameras []Camera
	// StateDir keeps the record of what was announced (RecordFile), so that what is gone at
	// the next start is cleared from the broker; empty keeps it in memory only.
	StateDir string
	// Model, Manufacturer and SWVersion describe the device to Home Assistant (defaults
	// "edged", "edged", "").
	Model        string
	Manufacturer string
	SWVersion    string
}

// TLSFiles names PEM files for an ssl:// broker.
type TLSFiles struct {
	CA                 string // CA certificates to trust; empty: the system pool
	Cert               string // client certificate, with Key
	Key                string
	InsecureSkipVerify bool // skip server verification; for testing only
}

// Retain chooses which result topics are published with the retain flag. Events are never
// retained (they are moments, not state); the states kept for them (LabelState,
// LabelSetState), the standing answers and the last snapshot always are.
type Retain struct {
	Labels  bool
	Caption bool
	Answer  bool
}

// HomeAssistant controls Home Assistant MQTT discovery.
type HomeAssistant struct {
	Enabled         bool
	DiscoveryPrefix string // default "homeassistant"
}

// withDefaults returns a copy of o with every unset field given its default: the one place
// defaults live.
func (o Options) withDefaults() Options {
	if o.Broker == "" {
		o.Broker = EmbeddedBroker
	}
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.ClientID == "" {
		o.ClientID = "edged-" + o.Device
	}
	if o.TopicPrefix == "" {
		o.TopicPrefix = "edged"
	}
	if o.QueueSize == 0 {
		o.QueueSize = 1000
	}
	if o.QueueBytes == 0 {
		o.QueueBytes = 16 << 20
	}
	if o.MaxAskBytes == 0 {
		o.MaxAskBytes = 1024
	}
	if o.MaxPendingAsks == 0 {
		o.MaxPendingAsks = 16
	}
	if o.AskTimeout == 0 {
		o.AskTimeout = 60 * time.Second
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = 30 * time.Second
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.PublishTimeout == 0 {
		o.PublishTimeout = 10 * time.Second
	}
	if o.BackoffMin == 0 {
		o.BackoffMin = time.Second
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = 60 * time.Second
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 5 * time.Second
	}
	if o.HomeAssistant.DiscoveryPrefix == "" {
		o.HomeAssistant.DiscoveryPrefix = "homeassistant"
	}
	if o.Model == "" {
		o.Model = "edged"
	}
	if o.Manufacturer == "" {
		o.Manufacturer = "edged"
	}
	return o
}

// brokerPorts are the URL schemes paho can dial, with the port each uses when the URL names
// none: MQTT's 1883, MQTT over TLS's 8883; websockets take their URL as it is.
var brokerPorts = map[string]string{
	"tcp": "1883", "mqtt": "1883", "ssl": "8883", "tls": "8883", "mqtts": "8883", "tcps": "8883", "ws": "", "wss": "",
}

// BrokerAddress checks the URL of an external broker and returns it as paho dials it, with
// the scheme's port when it names none (mqtt://192.168.1.5 is mqtt://192.168.1.5:1883).
func BrokerAddress(broker string) (string, error) {
	if !strings.Contains(broker, "://") {
		return "", fmt.Errorf("%q names no scheme: write it as mqtt://%s (or ssl://, ws://, wss://)", broker, broker)
	}
	u, err := url.Parse(broker)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL such as mqtt://host:1883: %v", broker, err)
	}
	port, ok := brokerPorts[u.Scheme]
	switch {
	case !ok:
		return "", fmt.Errorf("%q: scheme %q is not one of mqtt, tcp, ssl (tls, mqtts), ws, wss", broker, u.Scheme)
	case u.Hostname() == "":
		return "", fmt.Errorf("%q names no host", broker)
	case u.User != nil:
		return "", fmt.Errorf("%q holds credentials: give them as mqtt.username and mqtt.password_file", broker)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", broker, p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("%q: the port after ':' is missing", broker)
	}
	if port == "" { // websockets: the URL is the websocket's
		return broker, nil
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q: an MQTT broker's URL has no path or query (scheme://host:port)", broker)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	u.Path = ""
	return u.String(), nil
}

// Check validates o as New would, without reading any file.
func (o Options) Check() error {
	d := o.withDefaults()
	return d.validate()
}

// validate checks options that already have their defaults; every message names the field.
func (o *Options) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("publish: option %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if err := checkTopicLevel(o.Device); err != nil {
		bad("device", "%v", err)
	}
	if o.TopicPrefix != "" {
		if err := checkTopicName(o.TopicPrefix); err != nil {
			bad("topic_prefix", "%v", err)
		}
	}
	if err := checkTopicName(o.HomeAssistant.DiscoveryPrefix); err != nil {
		bad("home_assistant.discovery_prefix", "%v", err)
	}
	if o.Broker != EmbeddedBroker {
		if _, err := BrokerAddress(o.Broker); err != nil {
			bad("broker", "%v", err)
		}
	}
	own := owner{topics: Topics{Prefix: o.TopicPrefix, Device: o.Device}, discoveryPrefix: o.HomeAssistant.DiscoveryPrefix, objectID: objectID(o.Device)}
	for _, prefix := range o.ReplyPrefixes {
		if err := checkReplyPrefix(own, prefix); err != nil {
			bad("reply_prefixes", "%q %v", prefix, err)
		}
	}
	if o.QoS < 0 || o.QoS > 2 {
		bad("qos", "%d is not 0, 1 or 2", o.QoS)
	}
	if (o.TLS.Cert == "") != (o.TLS.Key == "") {
		bad("tls", "cert and key must be given together (cert %q, key %q)", o.TLS.Cert, o.TLS.Key)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"queue_size", o.QueueSize}, {"queue_bytes", o.QueueBytes}, {"max_ask_bytes", o.MaxAskBytes}, {"max_pending_asks", o.MaxPendingAsks}} {
		if f.v < 0 {
			bad(f.name, "%d is negative", f.v)
		}
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"ask_timeout", o.AskTimeout}, {"keepalive", o.KeepAlive}, {"connect_timeout", o.ConnectTimeout},
		{"publish_timeout", o.PublishTimeout}, {"backoff_min", o.BackoffMin}, {"backoff_max", o.BackoffMax},
		{"drain_timeout", o.DrainTimeout},
	} {
		if f.d < 0 {
			bad(f.name, "%v is negative", f.d)
		}
	}
	if o.BackoffMax < o.BackoffMin {
		bad("backoff_max", "%v is below backoff_min %v", o.BackoffMax, o.BackoffMin)
	}
	for _, c := range o.Cameras {
		if err := c.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkReplyPrefix accepts a topic prefix for replies that leaves edged's own topics alone.
func checkReplyPrefix(own owner, prefix string) error {
	if err := checkTopicName(prefix); err != nil {
		return err
	}
	if strings.HasSuffix(prefix, "/") || strings.HasPrefix(prefix, "/") || strings.Contains(prefix, "//") {
		return errors.New("has an empty topic level")
	}
	for _, space := range []string{own.topics.Prefix + "/" + own.topics.Device, own.discoveryPrefix} {
		if prefix == space || strings.HasPrefix(prefix, space+"/") || strings.HasPrefix(space, prefix+"/") {
			return fmt.Errorf("covers edged's own topics (%s/...)", space)
		}
	}
	return nil
}

// password returns the configured password, reading PasswordFile when needed.
func (o *Options) password() (string, error) {
	if o.Password != "" || o.PasswordFile == "" {
		return o.Password, nil
	}
	data, err := os.ReadFile(o.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("publish: option password_file: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// tlsConfig builds the client TLS configuration from the named files, or nil when none are
// named and verification is not relaxed (paho then uses Go's defaults).
func (o *Options) tlsConfig() (*tls.Config, error) {
	t := o.TLS
	if t.CA == "" && t.Cert == "" && !t.InsecureSkipVerify {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("publish: option tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("publish: option tls.ca: %s holds no PEM certificate", t.CA)
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("publish: option tls.cert/tls.key (%s, %s): %w", t.Cert, t.Key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
