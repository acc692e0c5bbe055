package publish

import (
	"net"
	"strings"
	"testing"

	"github.com/edged/edged/internal/mqtttest"
)

// Shutting down with clients still connected (a mosquitto_sub, a page's MQTT card, one that
// dropped its connection without a word) logs nothing without a message: the embedded
// broker's listener reports each client's end as a warning with an empty message, which is
// not a line for edged's log.
func TestShutdownWithClientsLogsNoEmptyLines(t *testing.T) {
	p, logs := startPublisher(t, Options{Broker: EmbeddedBroker, Listen: "127.0.0.1:0", Device: "bye"})
	mqtttest.Connect(t, p.BrokerURL(), mqtttest.Client{})
	// A connection that sends half a CONNECT and goes away.
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.BrokerURL(), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte{0x10, 0x20, 0x00}); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, `msg=""`) {
			t.Errorf("a line without a message: %q", line)
		}
	}
}
