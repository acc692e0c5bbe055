package publish_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/edged/edged/internal/publish"
)

// The daemon's use of a Publisher: start it (it connects in the background and keeps
// retrying), hand it results, answer questions, close it on shutdown.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := publish.New(publish.Options{
		Broker: "tcp://127.0.0.1:1883", // or publish.EmbeddedBroker
		Device: "pi-kitchen",
		QoS:    1,
		Retain: publish.Retain{Labels: true, Caption: true},
		AskHandler: func(ctx context.Context, camera, question, requestID string) (publish.Answer, error) {
			// Run VQA on the camera's latest frame; honour ctx.
			return publish.Answer{Frame: 42, Answer: "two"}, nil
		},
		HomeAssistant: publish.HomeAssistant{Enabled: true},
		Cameras:       []publish.Camera{{Name: "door", EventLabels: []string{"person"}}},
	}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		fmt.Println(err) // a bad option, named
		return
	}
	if err := p.Start(ctx); err != nil {
		fmt.Println(err) // e.g. the embedded broker's port is taken
		return
	}
	defer p.Close() // publishes what is queued, then "stopped"

	_ = p.PublishLabels("door", publish.Labels{Frame: 42, LabelSet: "people",
		Labels: []publish.Label{{Label: "person", Score: 0.91}}})
	_ = p.PublishEvent("door", publish.Event{Type: publish.EventStart, ID: "door-person-1",
		Label: "person", Score: 0.91, TopScore: 0.91, StartTs: publish.Now()})

	s := p.Stats() // for the metrics endpoint
	_ = s.Published + s.Dropped
}
