package publish

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/edged/edged/internal/mqtttest"
)

// waitTimeout bounds every wait for something to happen in these tests.
const waitTimeout = mqtttest.Timeout

// eventually polls cond until it holds, failing the test at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	mqtttest.Eventually(t, what, waitTimeout, cond)
}

// --- publisher ---

// startPublisher starts a publisher with test-friendly timings (unless set) and closes it at
// the end of the test, printing its log if the test failed.
func startPublisher(t *testing.T, opts Options) (*Publisher, *mqtttest.Buffer) {
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
	logs := &mqtttest.Buffer{}
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
			t.Logf("publisher log:\n%s", logs.Tail(60))
		}
	})
	return p, logs
}

func waitConnected(t *testing.T, p *Publisher) {
	t.Helper()
	eventually(t, "the publisher to connect", func() bool { return p.Stats().Connected })
}
