package publish

import (
	"strings"
	"testing"
	"time"
)

// With Options.SearchHandler the publisher subscribes the search topic itself, also after
// reconnecting.
func TestSearchWired(t *testing.T) {
	handler, _ := referenceSearch(t)
	m := startMosquitto(t)
	p, _ := startPublisher(t, Options{Broker: m.url(), Device: "dev", QoS: 1, SearchHandler: handler, AskTimeout: 2 * time.Second})
	waitConnected(t, p)
	tp := p.Topics()
	rec, c := subscribe(t, m.url(), tp.SearchResult())
	send(t, c, tp.Search(), false, `{"query":"a blue circle","k":2,"request_id":"w1"}`)
	_, got := rec.waitFor(t, 0, "w1", byRequestID("w1"))
	if !strings.Contains(got.payload, `"hits":[{"camera":"shapes"`) {
		t.Fatalf("result %s", got.payload)
	}
	m.stop()
	m.start()
	eventually(t, "reconnect", func() bool { return p.Stats().Connects >= 2 && p.Stats().Connected })
	rec2, c2 := subscribe(t, m.url(), tp.SearchResult())
	send(t, c2, tp.Search(), false, `{"query":"red triangle","request_id":"w2"}`)
	rec2.waitFor(t, 0, "w2 after the broker restarted", byRequestID("w2"))
}
