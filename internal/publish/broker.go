package publish

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edged/edged/internal/listenaddr"
	"github.com/edged/edged/internal/userfile"
)

// Limits of the embedded broker that the config does not change.
const (
	DefaultMaxPacketBytes = 1 << 20 // the largest MQTT packet a client may send
	DefaultMaxClients     = 64
	// maxPendingWrites bounds the messages waiting to be written to one slow subscriber;
	// more are dropped for that subscriber alone. It holds a burst of a thousand requests
	// and their replies.
	maxPendingWrites = 1024
	// maxInflight bounds the QoS 1/2 messages kept per client; receiveMaximum those a client
	// may send unacknowledged.
	maxInflight    = 256
	receiveMaximum = 64
	// A session left by a client that asked to be remembered is forgotten after a day.
	maxSessionExpiry = 24 * 60 * 60
	// Retained messages of other clients than edged: at most maxRetained topics, each at
	// most maxRetainedBytes; past that a message is delivered but not kept.
	maxRetained      = 1000
	maxRetainedBytes = 64 << 10
	// maxAuthChecks bounds the password checks running at once: each costs a bcrypt hash,
	// and a flood of connections must not take every core.
	maxAuthChecks = 2
)

// internalListener names the in-memory connection of edged's own session: the one client
// allowed its client id and its topics. It is no network listener, so no one else can use it.
const internalListener = "edged-internal"

// BrokerConfig is the security and limits of the embedded broker.
type BrokerConfig struct {
	// UsersFile holds the users allowed to connect (`edged passwd`; see users.go). Without it
	// every client connects without a password, which is refused beyond loopback unless
	// AllowAnonymous is set.
	UsersFile string
	// AllowAnonymous lets clients without a user name connect even when UsersFile is set, and
	// lets the broker listen beyond loopback without UsersFile.
	AllowAnonymous bool
	// Users are the permissions of each user; users not named here, and anonymous clients,
	// get the zero Permissions: read and write everything but edged's own topics, and ask.
	Users map[string]Permissions
	// TLSCert and TLSKey make the listener speak TLS (MQTT over TLS, usually port 8883).
	TLSCert, TLSKey string
	// MaxPacketBytes bounds one MQTT packet from a client (default 1 MiB): a larger publish
	// closes that client's connection before its body is read.
	MaxPacketBytes int
	// MaxClients bounds the clients connected at once (default 64).
	MaxClients int

	// ClientID, Topics and DiscoveryPrefix are edged's own: its session's client id, which no
	// other client may take over, and the topics only it may publish. The publisher fills them.
	ClientID        string
	Topics          Topics
	DiscoveryPrefix string
}

func (c BrokerConfig) withDefaults() BrokerConfig {
	if c.MaxPacketBytes == 0 {
		c.MaxPacketBytes = DefaultMaxPacketBytes
	}
	if c.MaxClients == 0 {
		c.MaxClients = DefaultMaxClients
	}
	return c
}

// CheckExposure refuses a broker that listens beyond loopback with no password required,
// unless anonymous clients are explicitly allowed.
func (c BrokerConfig) CheckExposure(addr string) error {
	if c.UsersFile == "" && !c.AllowAnonymous && !listenaddr.IsLoopback(addr) {
		return fmt.Errorf("%s is beyond loopback and no users file is set: anyone on the network could publish and read; "+
			"add users (`edged passwd FILE USER`, then server.users_file) or set server.allow_anonymous: true", addr)
	}
	return nil
}

// Broker is the MQTT broker edged runs in-process for `broker: embedded`, so the default
// run works on a bare machine. It keeps retained messages and sends wills, checks users and
// what each may read and write (BrokerConfig), and bounds packet sizes and clients.
type Broker struct {
	server    *mochi.Server
	addr      string
	tls       bool
	log       *slog.Logger
	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	internal map[net.Conn]bool // edged's own connections, closed with the broker
	closed   bool
}

// StartBroker listens on addr (host:port; port 0 picks a free one) and serves MQTT until
// Close. The listening socket is open when it returns. An error from cfg (a users file, TLS
// files, exposure without auth) is returned before anything listens.
func StartBroker(addr string, cfg BrokerConfig, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "mqtt-broker")
	cfg = cfg.withDefaults()
	if err := cfg.CheckExposure(addr); err != nil {
		return nil, fmt.Errorf("publish: embedded broker: %w", err)
	}
	if cfg.MaxPacketBytes < 0 || cfg.MaxPacketBytes > math.MaxInt32 || cfg.MaxClients < 0 {
		return nil, fmt.Errorf("publish: embedded broker: max_packet_bytes %d or max_clients %d out of range", cfg.MaxPacketBytes, cfg.MaxClients)
	}
	auth, err := newBrokerAuth(cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("publish: embedded broker: %w", err)
	}
	var tlsConfig *tls.Config
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		pair, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("publish: embedded broker: tls cert/key (%s, %s): %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	}

	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(cfg.MaxPacketBytes)
	caps.MaximumClients = int64(cfg.MaxClients) + 1 // edged's own session is one of them
	caps.MaximumClientWritesPending = maxPendingWrites
	caps.MaximumInflight = maxInflight
	caps.ReceiveMaximum = receiveMaximum
	caps.MaximumSessionExpiryInterval = maxSessionExpiry
	server := mochi.New(&mochi.Options{
		Capabilities: caps,
		// mochi logs every client connection at info and every refused packet, whole, at warn;
		// the hook logs refusals in a line each.
		Logger: slog.New(minLevel{logger.Handler(), slog.LevelError}),
	})
	auth.server = server
	if err := server.AddHook(auth, nil); err != nil {
		return nil, fmt.Errorf("publish: embedded broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "edged", Address: addr, TLSConfig: tlsConfig})
	if err := server.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("publish: embedded broker: listen on %s: %w", addr, err)
	}
	if err := server.Serve(); err != nil {
		_ = server.Close()
		return nil, fmt.Errorf("publish: embedded broker on %s: %w", addr, err)
	}
	b := &Broker{server: server, addr: tcp.Address(), tls: tlsConfig != nil, log: logger, internal: map[net.Conn]bool{}}
	switch {
	case cfg.UsersFile == "" && !listenaddr.IsLoopback(b.addr):
		logger.Warn("embedded broker listens beyond this machine and lets anyone connect (allow_anonymous)", "addr", b.addr)
	case cfg.AllowAnonymous && !listenaddr.IsLoopback(b.addr):
		logger.Warn("embedded broker lets clients without a password connect (allow_anonymous)", "addr", b.addr)
	}
	logger.Info("embedded broker listening", "addr", b.addr, "tls", b.tls, "users", len(auth.users),
		"anonymous", auth.anonymous, "max_packet_bytes", cfg.MaxPacketBytes, "max_clients", cfg.MaxClients)
	return b, nil
}

// Addr is the address the broker listens on, with the real port when 0 was asked for.
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's address as a client connects to it: tcp://host:port, or ssl:// with TLS.
func (b *Broker) URL() string {
	if b.tls {
		return "ssl://" + b.addr
	}
	return "tcp://" + b.addr
}

// Dropped counts the messages the broker did not deliver to slow subscribers: those over
// maxPendingWrites waiting to be written, and QoS 1/2 ones over maxInflight unacknowledged.
func (b *Broker) Dropped() uint64 {
	return uint64(atomic.LoadInt64(&b.server.Info.MessagesDropped) + atomic.LoadInt64(&b.server.Info.InflightDropped))
}

// dialInternal connects edged's own session through memory, not the network: the only way to
// the client id and the topics reserved for edged.
func (b *Broker) dialInternal() (net.Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("the embedded broker is closed")
	}
	ours, theirs := net.Pipe()
	b.internal[theirs] = true
	go func() {
		err := b.server.EstablishConnection(internalListener, theirs)
		b.log.Debug("edged's session ended", "err", err)
		b.mu.Lock()
		delete(b.internal, theirs)
		b.mu.Unlock()
		theirs.Close()
	}()
	return ours, nil
}

// Close disconnects every client and stops listening. It is safe to call more than once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		for c := range b.internal {
			c.Close() // not on a listener, so the server would wait for it
		}
		b.mu.Unlock()
		if err := b.server.Close(); err != nil {
			b.closeErr = fmt.Errorf("publish: embedded broker on %s: close: %w", b.addr, err)
		}
	})
	return b.closeErr
}

// brokerAuth is the broker's hook for who may connect and what each client may read and write.
type brokerAuth struct {
	mochi.HookBase
	server     *mochi.Server
	users      userfile.Users
	anonymous  bool
	perms      map[string]Permissions
	clientID   string
	owner      owner
	checks     chan struct{} // one token per password check running
	log        *slog.Logger
	retainFull atomic.Bool   // the retained-message limit was logged
	dropped    atomic.Uint64 // messages dropped for slow clients
}

func newBrokerAuth(cfg BrokerConfig, log *slog.Logger) (*brokerAuth, error) {
	a := &brokerAuth{
		anonymous: cfg.UsersFile == "" || cfg.AllowAnonymous,
		perms:     cfg.Users,
		clientID:  cfg.ClientID,
		owner:     owner{topics: cfg.Topics, discoveryPrefix: cfg.DiscoveryPrefix, objectID: objectID(cfg.Topics.Device)},
		checks:    make(chan struct{}, maxAuthChecks),
		log:       log,
	}
	for name, p := range cfg.Users {
		for _, f := range append(slices.Clone(p.Read), p.Write...) {
			if err := CheckFilter(f); err != nil {
				return nil, fmt.Errorf("user %q: filter %v", name, err)
			}
		}
	}
	if cfg.UsersFile != "" {
		users, err := userfile.Read(cfg.UsersFile)
		if err != nil {
			return nil, fmt.Errorf("users file: %w", err)
		}
		a.users = users
	}
	return a, nil
}

func (a *brokerAuth) ID() string { return "edged-auth" }

func (a *brokerAuth) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck || b == mochi.OnPublish || b == mochi.OnPublishDropped
}

// OnPublishDropped counts and logs (the first of each run of) messages a slow client missed
// because maxPendingWrites were waiting for it.
func (a *brokerAuth) OnPublishDropped(cl *mochi.Client, pk packets.Packet) {
	if n := a.dropped.Add(1); n&(n-1) == 0 { // the 1st, 2nd, 4th, 8th...
		a.log.Warn("a client is too slow: dropped messages it subscribed to", "client", cl.ID, "topic", pk.TopicName,
			"dropped_so_far", n, "pending_max", maxPendingWrites)
	}
}

// OnConnectAuthenticate admits edged's own session, users with their password, and
// anonymous clients when allowed; it refuses edged's client id to anyone else (a client with
// the same id would take its session over) and a will on a topic the client may not write.
func (a *brokerAuth) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	if cl.Net.Listener == internalListener {
		return true
	}
	refuse := func(why string) bool {
		a.log.Warn("refused an MQTT client", "client", cl.ID, "remote", cl.Net.Remote, "user", string(pk.Connect.Username), "why", why)
		return false
	}
	if a.clientID != "" && cl.ID == a.clientID {
		return refuse("its client id is edged's own")
	}
	user := string(pk.Connect.Username)
	switch {
	case a.users == nil:
		// No users file: every client is anonymous (loopback, or allow_anonymous).
	case user == "" && !pk.Connect.PasswordFlag:
		if !a.anonymous {
			return refuse("no user name, and anonymous clients are not allowed")
		}
	default:
		a.checks <- struct{}{}
		ok := a.users.Check(user, string(pk.Connect.Password))
		<-a.checks
		if !ok {
			return refuse("wrong user name or password")
		}
	}
	if pk.Connect.WillFlag && !a.owner.mayWrite(a.permissions(cl), pk.Connect.WillTopic) {
		return refuse(fmt.Sprintf("its will's topic %q is not one it may publish to", pk.Connect.WillTopic))
	}
	return true
}

// permissions are a connected client's: its user's, or the defaults.
func (a *brokerAuth) permissions(cl *mochi.Client) Permissions {
	if a.users == nil {
		return Permissions{}
	}
	return a.perms[string(cl.Properties.Username)]
}

// OnACLCheck decides a publish (write) to a topic, or a subscription to a filter and each
// delivery of a message to it (read).
func (a *brokerAuth) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	if cl.Net.Listener == internalListener {
		return true
	}
	p := a.permissions(cl)
	if write {
		if !a.owner.mayWrite(p, topic) {
			a.log.Warn("refused a publish", "client", cl.ID, "user", string(cl.Properties.Username), "topic", topic)
			return false
		}
		return true
	}
	return p.mayRead(topic)
}

// OnPublish keeps retained messages of other clients within bounds: past them a message is
// still delivered, but not kept.
func (a *brokerAuth) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Listener == internalListener || !pk.FixedHeader.Retain || len(pk.Payload) == 0 {
		return pk, nil
	}
	_, exists := a.server.Topics.Retained.Get(pk.TopicName)
	if len(pk.Payload) > maxRetainedBytes || !exists && a.server.Topics.Retained.Len() >= maxRetained {
		if !a.retainFull.Swap(true) {
			a.log.Warn("not retaining a message: over the limits of retained messages", "client", cl.ID, "topic", pk.TopicName,
				"bytes", len(pk.Payload), "max_bytes", maxRetainedBytes, "max_topics", maxRetained)
		}
		pk.FixedHeader.Retain = false
	}
	return pk, nil
}

// minLevel is a slog.Handler that drops records below a level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

// Enabled drops records below the level.
func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

// WithAttrs keeps the level filter on derived handlers.
func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.level}
}

// WithGroup keeps the level filter on derived handlers.
func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}
