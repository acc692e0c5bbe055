package publish

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/edged/edged/internal/mqtttest"
)

// retained is what a subscriber that connects now gets for filters: the broker's retained
// messages (as Home Assistant gets them when it restarts), by topic.
func retained(t *testing.T, url string, filters ...string) map[string]string {
	t.Helper()
	rec, c := mqtttest.Subscribe(t, url, filters...)
	mqtttest.Barrier(t, rec, c)
	out := map[string]string{}
	for _, m := range rec.All() {
		if m.Retained {
			out[m.Topic] = m.Payload
		}
	}
	return out
}

func field(t *testing.T, payload, name string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		t.Fatalf("%q: %v", payload, err)
	}
	return m[name]
}

// Home Assistant's entities read retained states, each on its own topic: a label's state
// changes only with its events, a set's present labels with them, a standing question's
// answer only with it; a restarted Home Assistant reads them all at once. An earlier run
// that crashed with a label ON is put right (every label starts OFF), and what it announced
// that this run does not (a label, a standing question; the configs edged made before it
// kept a record) is cleared from the broker.
func TestRetainedStatesAndOrphans(t *testing.T) {
	m := mqtttest.StartBroker(t)
	dir := t.TempDir()
	ha := HomeAssistant{Enabled: true}
	cams := []Camera{{Name: "cam", LabelSets: []string{"people"}, EventLabels: []string{"person", "car"},
		Questions: []string{"is the door open?", "how many people?"}, Snapshots: true}}
	topics := Topics{Prefix: "edged", Device: "dev"}
	personState, carState := topics.LabelState("cam", "person"), topics.LabelState("cam", "car")
	peopleState := topics.LabelSetState("cam", "people")
	door, many := topics.StandingAnswer("cam", "is the door open?"), topics.StandingAnswer("cam", "how many people?")
	carConfig := "homeassistant/binary_sensor/dev_cam_event_car/config"
	manyConfig := "homeassistant/sensor/dev_cam_answer_" + objectID("how many people?") + "/config"

	// What an edged before this one left: a label ON (it crashed) and its top-label sensor.
	_, c := mqtttest.Subscribe(t, m.URL())
	mqtttest.Publish(t, c, personState, true, `{"state":"ON","label":"person"}`)
	legacy := "homeassistant/sensor/dev_cam_label/config"
	mqtttest.Publish(t, c, legacy, true, `{"name":"cam label"}`)

	p, _ := startPublisher(t, Options{Broker: m.URL(), Device: "dev", QoS: 1, HomeAssistant: ha, Cameras: cams, StateDir: dir})
	waitConnected(t, p)
	var now map[string]string
	eventually(t, "every label OFF, nothing present, the old sensor gone", func() bool {
		now = retained(t, m.URL(), "edged/dev/cam/#", "homeassistant/#")
		return now[personState] != "" && field(t, now[personState], "state") == "OFF" && now[carState] != "" &&
			now[peopleState] != "" && now[legacy] == "" && now[carConfig] != ""
	})
	if got := field(t, now[peopleState], "labels"); got == nil || len(got.([]any)) != 0 {
		t.Errorf("people present at start: %s", now[peopleState])
	}

	// An event starts: its label is ON, its set has it; the other label is untouched.
	start := Timestamp(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	if err := p.PublishEvent("cam", Event{Type: EventStart, ID: "e1", Label: "person", LabelSet: "people", Score: 0.9, TopScore: 0.9, StartTs: start}); err != nil {
		t.Fatal(err)
	}
	for q, a := range map[string]string{"is the door open?": "yes", "how many people?": "two"} {
		if err := p.PublishAnswer("cam", Answer{Question: q, Answer: a}); err != nil {
			t.Fatal(err)
		}
	}
	// An ask of the same question is not the standing question's answer.
	if err := p.PublishAnswer("cam", Answer{Question: "is the door open?", Answer: "no", RequestID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if err := p.PublishSnapshot("cam", []byte("\xff\xd8jpeg")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the states after the event and the answers", func() bool {
		now = retained(t, m.URL(), "edged/dev/cam/#")
		return now[personState] != "" && field(t, now[personState], "state") == "ON" && now[many] != "" && now[door] != "" &&
			now[topics.Snapshot("cam")] != ""
	})
	if field(t, now[personState], "event_id") != "e1" || field(t, now[personState], "since") != start.String() ||
		field(t, now[personState], "label_set") != "people" || field(t, now[carState], "state") != "OFF" {
		t.Errorf("person %s, car %s", now[personState], now[carState])
	}
	if got, _ := field(t, now[peopleState], "labels").([]any); !slices.Equal(got, []any{"person"}) {
		t.Errorf("people present: %s", now[peopleState])
	}
	if field(t, now[door], "answer") != "yes" || field(t, now[many], "answer") != "two" || field(t, now[door], "question") != "is the door open?" {
		t.Errorf("standing answers: %s, %s", now[door], now[many])
	}
	if now[topics.Snapshot("cam")] != "\xff\xd8jpeg" {
		t.Errorf("the last snapshot is not kept: %q", now[topics.Snapshot("cam")])
	}
	if err := p.Close(); err != nil { // the person's event never ends: as if edged crashed
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, RecordFile))
	if err != nil || !json.Valid(data) {
		t.Fatalf("record of what was announced: %v %s", err, data)
	}

	// The next run has no car and one standing question: their entities and states go; the
	// person starts OFF.
	less := []Camera{{Name: "cam", LabelSets: []string{"people"}, EventLabels: []string{"person"}, Questions: []string{"is the door open?"}, Snapshots: true}}
	p2, _ := startPublisher(t, Options{Broker: m.URL(), Device: "dev", QoS: 1, HomeAssistant: ha, Cameras: less, StateDir: dir})
	waitConnected(t, p2)
	eventually(t, "the removed label's and question's states and entities cleared, the person OFF", func() bool {
		now = retained(t, m.URL(), "edged/dev/cam/#", "homeassistant/#")
		return now[carState] == "" && now[many] == "" && now[carConfig] == "" && now[manyConfig] == "" &&
			now[personState] != "" && field(t, now[personState], "state") == "OFF"
	})
	if now[door] == "" {
		t.Errorf("the kept question's answer was cleared")
	}

	// A reload that drops the snapshot and the question clears them at once.
	if err := p2.SetCameras([]Camera{{Name: "cam", LabelSets: []string{"people"}, EventLabels: []string{"person"}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the dropped question's answer and snapshot cleared", func() bool {
		now = retained(t, m.URL(), "edged/dev/cam/#")
		return now[door] == "" && now[topics.Snapshot("cam")] == "" && now[personState] != ""
	})
}
