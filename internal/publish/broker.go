package publish

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is the MQTT broker edged runs in-process for `broker: embedded`, so the default
// run works on a bare machine. It keeps retained messages and sends wills; it has no
// authentication, so it should listen on loopback (a warning is logged otherwise).
type Broker struct {
	server    *mochi.Server
	addr      string
	closeOnce sync.Once
	closeErr  error
}

// StartBroker listens on addr (host:port; port 0 picks a free one) and serves MQTT until
// Close. The listening socket is open when it returns.
func StartBroker(addr string, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "mqtt-broker")
	server := mochi.New(&mochi.Options{
		// mochi logs every client connection at info; keep the daemon's output readable.
		Logger: slog.New(minLevel{logger.Handler(), slog.LevelWarn}),
	})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("publish: embedded broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "edged", Address: addr})
	if err := server.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("publish: embedded broker: listen on %s: %w", addr, err)
	}
	if err := server.Serve(); err != nil {
		_ = server.Close()
		return nil, fmt.Errorf("publish: embedded broker on %s: %w", addr, err)
	}
	b := &Broker{server: server, addr: tcp.Address()}
	if host, _, err := net.SplitHostPort(b.addr); err == nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			logger.Warn("embedded broker listens beyond this machine and has no authentication", "addr", b.addr)
		}
	}
	logger.Info("embedded broker listening", "addr", b.addr)
	return b, nil
}

// Addr is the address the broker listens on, with the real port when 0 was asked for.
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's address as a client connects to it: tcp://host:port.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close disconnects every client and stops listening. It is safe to call more than once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		if err := b.server.Close(); err != nil {
			b.closeErr = fmt.Errorf("publish: embedded broker on %s: close: %w", b.addr, err)
		}
	})
	return b.closeErr
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
