package publish

import (
	"strings"
	"testing"
)

// Every log line names one component: the embedded broker's lines say mqtt-broker, not
// mqtt and mqtt-broker both.
func TestLogLinesNameOneComponent(t *testing.T) {
	p, logs := startPublisher(t, Options{Broker: EmbeddedBroker, Listen: "127.0.0.1:0", Device: "logs"})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	text := logs.String()
	if !strings.Contains(text, "component=mqtt-broker") {
		t.Fatalf("no line of the embedded broker:\n%s", text)
	}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if n := strings.Count(line, " component="); n != 1 {
			t.Errorf("%d component keys in %q", n, line)
		}
		if strings.Contains(line, `msg=""`) {
			t.Errorf("a line without a message: %q", line)
		}
	}
}
