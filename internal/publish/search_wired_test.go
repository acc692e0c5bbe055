package publish

import (
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/internal/mqtttest"
)

// With Options.SearchHandler the publisher subscribes the search topic itself, also after
// reconnecting.
func TestSearchWired(t *testing.T) {
	handler, _ := referenceSearch(t)
	m := mqtttest.StartBroker(t)
	p, _ := startPublisher(t, Options{Broker: m.URL(), Device: "dev", QoS: 1, SearchHandler: handler, AskTimeout: 2 * time.Second})
	waitConnected(t, p)
	tp := p.Topics()
	rec, c := mqtttest.Subscribe(t, m.URL(), tp.SearchResult())
	mqtttest.Publish(t, c, tp.Search(), false, `{"query":"a blue circle","k":2,"request_id":"w1"}`)
	_, got := rec.WaitFor(t, 0, "w1", byRequestID("w1"))
	if !strings.Contains(got.Payload, `"hits":[{"camera":"shapes"`) {
		t.Fatalf("result %s", got.Payload)
	}
	m.Stop()
	m.Start()
	eventually(t, "reconnect", func() bool { return p.Stats().Connects >= 2 && p.Stats().Connected })
	rec2, c2 := mqtttest.Subscribe(t, m.URL(), tp.SearchResult())
	mqtttest.Publish(t, c2, tp.Search(), false, `{"query":"red triangle","request_id":"w2"}`)
	rec2.WaitFor(t, 0, "w2 after the broker restarted", byRequestID("w2"))
}
