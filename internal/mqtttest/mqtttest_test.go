package mqtttest

import (
	"testing"
)

// A message published to a started broker reaches a subscriber; a persistent session keeps
// what was published while its client was away, across a restart of the broker.
func TestBrokerPublishReceive(t *testing.T) {
	b := StartBroker(t)
	rec, c := Subscribe(t, b.URL(), "test/+")
	Publish(t, c, "test/a", false, "one")
	Publish(t, c, "test/b", true, "two")
	if _, m := rec.WaitTopic(t, 0, "test/b"); m.Payload != "two" {
		t.Errorf("test/b: got %+v", m)
	}
	if got := rec.On("test/a"); len(got) != 1 || got[0].Payload != "one" || got[0].Retained {
		t.Errorf("test/a: got %+v", got)
	}

	// A late subscriber gets the retained message, flagged as retained.
	late, lc := Subscribe(t, b.URL(), "test/b")
	Barrier(t, late, lc)
	if m := late.WaitOn(t, "test/b", "the retained message", nil); m.Payload != "two" || !m.Retained {
		t.Errorf("late subscriber: got %+v", m)
	}

	persistent := NewRecorder()
	sub := Connect(t, b.URL(), Client{ID: "mqtttest-persistent", Persistent: true, Recorder: persistent})
	SubscribeTo(t, sub, "queued")
	sub.Disconnect(50)
	Publish(t, c, "queued", false, "while away")
	b.Stop()
	b.Start()
	Connect(t, b.URL(), Client{ID: "mqtttest-persistent", Persistent: true, Recorder: persistent})
	persistent.WaitOn(t, "queued", "the queued message", func(m Message) bool { return m.Payload == "while away" })
}

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb", 5, "a\nb"},
		{"", 3, ""},
	} {
		if got := Tail(tc.in, tc.n); got != tc.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	var b Buffer
	b.Write([]byte("x y x\n"))
	if b.Count("x") != 2 || b.Tail(1) != "x y x" {
		t.Errorf("Buffer: count %d, tail %q", b.Count("x"), b.Tail(1))
	}
}
