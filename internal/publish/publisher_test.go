package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edged/edged/internal/mqtttest"
)

// helperBrokerEnv makes the test binary run a bare publisher instead of the tests (see
// TestMain): the last-will tests kill that process with SIGKILL.
const (
	helperBrokerEnv = "EDGED_PUBLISH_HELPER_BROKER"
	helperDeviceEnv = "EDGED_PUBLISH_HELPER_DEVICE"
)

func TestMain(m *testing.M) {
	if broker := os.Getenv(helperBrokerEnv); broker != "" {
		runHelperPublisher(broker, os.Getenv(helperDeviceEnv))
		return
	}
	os.Exit(m.Run())
}

// runHelperPublisher connects a publisher and waits to be killed; it gives up after a minute
// so an orphan never lingers.
func runHelperPublisher(broker, device string) {
	p, err := New(Options{Broker: broker, Device: device, QoS: 1, BackoffMin: 20 * time.Millisecond},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		err = p.Start(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper publisher:", err)
		os.Exit(3)
	}
	time.Sleep(time.Minute)
	os.Exit(4)
}

// startHelperPublisher runs a publisher in a child process of the test binary.
func startHelperPublisher(t *testing.T, broker, device string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperBrokerEnv+"="+broker, helperDeviceEnv+"="+device)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// assertWillOnKill runs a publisher in a child process, waits for its `online`, kills it with
// SIGKILL, and expects the broker to deliver the last will `offline`.
func assertWillOnKill(t *testing.T, brokerURL string) {
	t.Helper()
	topic := Topics{Prefix: "edged", Device: "crashy"}.Available()
	rec, _ := mqtttest.Subscribe(t, brokerURL, topic)
	cmd := startHelperPublisher(t, brokerURL, "crashy")
	i, _ := rec.WaitFor(t, 0, "online from the child publisher", func(m mqtttest.Message) bool { return m.Payload == "online" })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	rec.WaitFor(t, i+1, "the last will offline", func(m mqtttest.Message) bool { return m.Payload == "offline" })
}

func TestAvailabilityOnlineThenStopped(t *testing.T) {
	m := mqtttest.StartBroker(t)
	p, _ := startPublisher(t, Options{Broker: m.URL(), Device: "dev1", QoS: 1})
	waitConnected(t, p)
	topic := p.Topics().Available()

	// Subscribing after the connection: only a retained message can arrive.
	rec, _ := mqtttest.Subscribe(t, m.URL(), topic)
	_, got := rec.WaitTopic(t, 0, topic)
	if got.Payload != "online" || !got.Retained {
		t.Fatalf("availability = %+v, want retained online", got)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	rec.WaitFor(t, 0, "stopped", func(m mqtttest.Message) bool { return m.Payload == "stopped" })
	if p.Stats().Connected {
		t.Error("still connected after Close")
	}
	later, _ := mqtttest.Subscribe(t, m.URL(), topic)
	if _, got := later.WaitTopic(t, 0, topic); got.Payload != "stopped" || !got.Retained {
		t.Errorf("after Close a new subscriber gets %+v, want retained stopped", got)
	}
}

func TestCancelledContextDrainsThenStops(t *testing.T) {
	m := mqtttest.StartBroker(t)
	rec, _ := mqtttest.Subscribe(t, m.URL(), "edged/dev8/#")
	p, err := New(Options{Broker: m.URL(), Device: "dev8", QoS: 1, BackoffMin: 20 * time.Millisecond},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err == nil || !strings.Contains(err.Error(), "Start called twice") {
		t.Errorf("second Start: %v", err)
	}
	waitConnected(t, p)
	for frame := 1; frame <= 20; frame++ {
		if err := p.PublishLabels("cam", Labels{Frame: uint64(frame)}); err != nil {
			t.Fatal(err)
		}
	}
	cancel() // what the daemon's SIGTERM does
	i, _ := rec.WaitFor(t, 0, "stopped", func(m mqtttest.Message) bool { return m.Payload == "stopped" })
	var before []mqtttest.Message
	for _, m := range rec.All()[:i] {
		if m.Topic == p.Topics().Labels("cam") {
			before = append(before, m)
		}
	}
	if got := labelsFrames(t, before); len(got) != 20 || got[0] != 1 || got[19] != 20 {
		t.Errorf("frames before stopped = %v, want 1..20 (the queue is drained first)", got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.PublishLabels("cam", Labels{}); !errors.Is(err, ErrClosed) {
		t.Errorf("publish after shutdown: %v, want ErrClosed", err)
	}

	closed, err := New(Options{Broker: m.URL(), Device: "dev9"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if err := closed.Start(context.Background()); err == nil {
		t.Error("Start after Close succeeded")
	}
}

func TestLastWillOfflineWhenKilled(t *testing.T) {
	m := mqtttest.StartBroker(t)
	assertWillOnKill(t, m.URL())
}

var tsPattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// decodeFields decodes a JSON object and checks it has exactly the given fields.
func decodeFields(t *testing.T, topic, payload string, fields ...string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal([]byte(payload), &obj); err != nil {
		t.Fatalf("%s: payload %q is not a JSON object: %v", topic, payload, err)
	}
	got := slices.Sorted(maps.Keys(obj))
	want := slices.Sorted(slices.Values(fields))
	if !slices.Equal(got, want) {
		t.Errorf("%s: fields %v, want %v", topic, got, want)
	}
	return obj
}

func TestEveryPayloadArrivesOnItsTopic(t *testing.T) {
	m := mqtttest.StartBroker(t)
	p, _ := startPublisher(t, Options{Broker: m.URL(), Device: "dev2", QoS: 1, Retain: Retain{Labels: true}})
	tp := p.Topics()
	rec, _ := mqtttest.Subscribe(t, m.URL(), "edged/dev2/cam/+")
	waitConnected(t, p)

	start := time.Date(2024, 5, 1, 12, 0, 0, 250_000_000, time.UTC)
	jpeg := []byte{0xff, 0xd8, 0xff, 0xe0, 0, 1, 2, 0xff, 0xd9}
	for _, err := range []error{
		p.PublishLabels("cam", Labels{Frame: 3, LabelSet: "shapes", Labels: []Label{{Label: "circle", Score: 0.75}, {Label: "square", Score: 0.25}}}),
		p.PublishEvent("cam", Event{Type: EventStart, ID: "e1", Label: "circle", Score: 0.75, TopScore: 0.75, StartTs: Timestamp(start)}),
		p.PublishEvent("cam", Event{Type: EventEnd, ID: "e1", Label: "circle", Score: 0.2, TopScore: 0.9, StartTs: Timestamp(start), EndTs: Timestamp(start.Add(time.Second))}),
		p.PublishCaption("cam", Caption{Frame: 4, Caption: "a red circle", LatencyMs: 120.5}),
		p.PublishAnswer("cam", Answer{Frame: 5, Question: "how many shapes?", Answer: "one"}),
		p.PublishSnapshot("cam", jpeg),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}

	_, lm := rec.WaitTopic(t, 0, tp.Labels("cam"))
	labels := decodeFields(t, lm.Topic, lm.Payload, "ts", "frame", "label_set", "labels")
	if !tsPattern.MatchString(fmt.Sprint(labels["ts"])) || labels["frame"] != 3.0 || labels["label_set"] != "shapes" {
		t.Errorf("labels = %v", labels)
	}
	first, _ := labels["labels"].([]any)
	if len(first) != 2 || fmt.Sprint(first[0]) != "map[label:circle score:0.75]" {
		t.Errorf("labels list = %v", labels["labels"])
	}

	i, em := rec.WaitTopic(t, 0, tp.Events("cam"))
	ev := decodeFields(t, em.Topic, em.Payload, "type", "id", "label", "score", "top_score", "start_ts", "end_ts")
	if ev["type"] != "start" || ev["start_ts"] != "2024-05-01T12:00:00.250Z" || ev["end_ts"] != nil {
		t.Errorf("start event = %v", ev)
	}
	_, em = rec.WaitTopic(t, i+1, tp.Events("cam"))
	ev = decodeFields(t, em.Topic, em.Payload, "type", "id", "label", "score", "top_score", "start_ts", "end_ts")
	if ev["type"] != "end" || ev["end_ts"] != "2024-05-01T12:00:01.250Z" || ev["top_score"] != 0.9 {
		t.Errorf("end event = %v", ev)
	}

	_, cm := rec.WaitTopic(t, 0, tp.Caption("cam"))
	c := decodeFields(t, cm.Topic, cm.Payload, "ts", "frame", "caption", "latency_ms")
	if c["caption"] != "a red circle" || c["latency_ms"] != 120.5 || !tsPattern.MatchString(fmt.Sprint(c["ts"])) {
		t.Errorf("caption = %v", c)
	}

	_, am := rec.WaitTopic(t, 0, tp.Answer("cam"))
	a := decodeFields(t, am.Topic, am.Payload, "ts", "frame", "question", "answer")
	if a["answer"] != "one" || a["question"] != "how many shapes?" {
		t.Errorf("answer = %v", a)
	}

	if _, sm := rec.WaitTopic(t, 0, tp.Snapshot("cam")); sm.Payload != string(jpeg) {
		t.Errorf("snapshot = %x, want %x", sm.Payload, jpeg)
	}

	// Retain choices: labels retained, captions not. Retained messages reach a new subscriber
	// right after it subscribes, so once a marker sent later arrives, any would have.
	late, lc := mqtttest.Subscribe(t, m.URL(), tp.Labels("cam"), tp.Caption("cam"), tp.Events("cam"))
	mqtttest.Barrier(t, late, lc)
	if got := late.On(tp.Labels("cam")); len(got) != 1 || !got[0].Retained {
		t.Errorf("late subscriber's labels = %+v, want one retained message", got)
	}
	if got := late.On(tp.Caption("cam")); len(got) != 0 {
		t.Errorf("caption was retained: %+v", got)
	}
	if got := late.On(tp.Events("cam")); len(got) != 0 {
		t.Errorf("events were retained: %+v", got)
	}
	// The six results and the circle's two label states (ON, then OFF).
	eventually(t, "8 published", func() bool { return p.Stats().Published == 8 })
	if s := p.Stats(); s.Queued != 0 || s.Dropped != 0 || s.Failed != 0 {
		t.Errorf("stats = %+v, want 8 published and nothing else", s)
	}
}

// askHandler answers "how many?" about camera "cam" with frame 5; "slow" waits for release.
func askHandler(release <-chan struct{}) AskHandler {
	return func(ctx context.Context, camera, question, requestID string) (Answer, error) {
		if camera != "cam" {
			return Answer{}, fmt.Errorf("unknown camera %q", camera)
		}
		if question == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
				return Answer{}, ctx.Err()
			}
		}
		if question == "panic" {
			panic("handler bug")
		}
		return Answer{Frame: 5, Answer: "answer to " + question}, nil
	}
}

func byRequestID(id string) func(mqtttest.Message) bool {
	return func(m mqtttest.Message) bool { return strings.Contains(m.Payload, `"request_id":"`+id+`"`) }
}

func TestAskRoundTrip(t *testing.T) {
	m := mqtttest.StartBroker(t)
	release := make(chan struct{})
	p, _ := startPublisher(t, Options{Broker: m.URL(), Device: "dev3", QoS: 1, AskHandler: askHandler(release),
		ReplyPrefixes: []string{"app/replies"}})
	tp := p.Topics()
	rec, c := mqtttest.Subscribe(t, m.URL(), tp.Answer("cam"), "app/replies/#", tp.Reply()+"/#")
	waitConnected(t, p)

	mqtttest.Publish(t, c, tp.Ask("cam"), false, `{"question":"how many?","request_id":"r1","reply_to":"app/replies/42"}`)
	_, got := rec.WaitFor(t, 0, "the answer to r1", func(m mqtttest.Message) bool { return m.Topic == tp.Answer("cam") && byRequestID("r1")(m) })
	a := decodeFields(t, got.Topic, got.Payload, "ts", "frame", "question", "answer", "request_id")
	if a["answer"] != "answer to how many?" || a["question"] != "how many?" || a["frame"] != 5.0 {
		t.Errorf("answer = %v", a)
	}
	if _, r := rec.WaitTopic(t, 0, "app/replies/42"); r.Payload != got.Payload {
		t.Errorf("reply_to got %s, want the answer %s", r.Payload, got.Payload)
	}
	// The device's own reply space takes replies without any configured prefix.
	mqtttest.Publish(t, c, tp.Ask("cam"), false, `{"question":"how many?","request_id":"r2","reply_to":"edged/dev3/reply/app-7"}`)
	if _, r := rec.WaitTopic(t, 0, "edged/dev3/reply/app-7"); !byRequestID("r2")(r) {
		t.Errorf("reply_to under reply/ got %s, want the answer to r2", r.Payload)
	}

	// Plain text: the answer has no request_id.
	mqtttest.Publish(t, c, tp.Ask("cam"), false, "  what is this?  ")
	_, got = rec.WaitFor(t, 0, "the plain-text answer", func(m mqtttest.Message) bool { return strings.Contains(m.Payload, "answer to what is this?") })
	decodeFields(t, got.Topic, got.Payload, "ts", "frame", "question", "answer")

	// A slow question must not hold up the next one.
	mqtttest.Publish(t, c, tp.Ask("cam"), false, `{"question":"slow","request_id":"slow-1"}`)
	mqtttest.Publish(t, c, tp.Ask("cam"), false, `{"question":"quick","request_id":"quick-1"}`)
	rec.WaitFor(t, 0, "the quick answer while the slow one is pending", byRequestID("quick-1"))
	if slices.ContainsFunc(rec.All(), byRequestID("slow-1")) {
		t.Fatal("the slow answer came before it was released")
	}
	close(release)
	rec.WaitFor(t, 0, "the slow answer after release", byRequestID("slow-1"))
	if s := p.Stats(); s.AskErrors != 0 {
		t.Errorf("ask errors = %d, want 0", s.AskErrors)
	}
}

func TestAskErrorsAreAnsweredAndCounted(t *testing.T) {
	m := mqtttest.StartBroker(t)
	release := make(chan struct{})
	defer close(release)
	rec, c := mqtttest.Subscribe(t, m.URL(), "edged/dev4/+/answer", "app/errors")
	// A retained question would reach the publisher on every (re)subscription: it is ignored.
	mqtttest.Publish(t, c, "edged/dev4/cam/ask", true, `{"question":"x","request_id":"retained"}`)
	p, logs := startPublisher(t, Options{Broker: m.URL(), Device: "dev4", QoS: 1, MaxAskBytes: 64, MaxPendingAsks: 1,
		AskHandler: askHandler(release), ReplyPrefixes: []string{"app"}})
	tp := p.Topics()
	waitConnected(t, p)
	eventually(t, "the retained ask to be ignored", func() bool {
		return logs.Count("ignoring a retained ask request") > 0
	})
	// Clearing it is an empty, live (not retained) request: it is answered with an error.
	mqtttest.Publish(t, c, tp.Ask("cam"), true, "")
	idx, got := rec.WaitTopic(t, 0, tp.Answer("cam"))
	if !strings.Contains(got.Payload, "question is empty") {
		t.Fatalf("clearing the retained ask: got %s, want an empty-question error", got.Payload)
	}

	cases := []struct {
		topic, payload string
		id, want       string // request_id expected in the error ("" for none) and a substring of it
	}{
		{tp.Ask("cam"), `{"question":"x","request_id":"bad-json",`, "bad-json", "malformed JSON request"},
		{tp.Ask("cam"), ``, "", "question is empty"},
		{tp.Ask("cam"), `{"question":"   ","request_id":"blank"}`, "blank", "question is empty"},
		{tp.Ask("cam"), `{"question":"` + strings.Repeat("q", 65) + `","request_id":"long"}`, "long", "question is 65 bytes, over the 64-byte limit"},
		{tp.Ask("cam"), strings.Repeat("z", 64+askEnvelopeBytes+1), "", "over the 1088-byte limit"},
		{tp.Ask("cam"), `{"question":"x","request_id":"wild","reply_to":"app/+"}`, "wild", `reply_to "app/+" contains an MQTT wildcard`},
		{tp.Ask("cam"), `{"question":"x","request_id":"typo","requestId":"y"}`, "typo", `unknown field "requestId"`},
		{tp.Ask("cam"), `{"question":"x","request_id":"loop","reply_to":"edged/dev4/other/ask"}`, "loop", `reply_to "edged/dev4/other/ask" is outside the reply topics (edged/dev4/reply/..., app/...)`},
		{tp.Ask("cam"), `{"question":"x","request_id":"avail","reply_to":"edged/dev4/available"}`, "avail", "is outside the reply topics"},
		{tp.Ask("cam"), `{"question":"x","request_id":"other","reply_to":"edged/dev5/reply/x"}`, "other", "is outside the reply topics"},
		{tp.Ask("cam"), `{"question":"x","request_id":"ha","reply_to":"homeassistant/sensor/x/config"}`, "ha", "is outside the reply topics"},
		{tp.Ask("cam"), `{"question":"x","request_id":"bare","reply_to":"app"}`, "bare", "is outside the reply topics"},
		{tp.Ask("nope"), `{"question":"x","request_id":"unknown-cam","reply_to":"app/errors"}`, "unknown-cam", `unknown camera "nope"`},
		{tp.Ask("cam"), `{"question":"panic","request_id":"boom"}`, "boom", "internal error while answering"},
	}
	next := idx + 1
	for i, tc := range cases {
		mqtttest.Publish(t, c, tc.topic, false, tc.payload)
		// Wait for each error before sending the next request, so they arrive in order.
		answerTopic := strings.TrimSuffix(tc.topic, "/ask") + "/answer"
		idx, got := rec.WaitTopic(t, next, answerTopic)
		next = idx + 1
		fields := []string{"error", "request_id"}
		if tc.id == "" {
			fields = fields[:1]
		}
		e := decodeFields(t, got.Topic, got.Payload, fields...)
		if msg := fmt.Sprint(e["error"]); !strings.Contains(msg, tc.want) {
			t.Errorf("case %d: error %q, want one containing %q", i, msg, tc.want)
		}
		if tc.id != "" && e["request_id"] != tc.id {
			t.Errorf("case %d: request_id = %v, want %s", i, e["request_id"], tc.id)
		}
	}
	if _, got := rec.WaitTopic(t, 0, "app/errors"); !byRequestID("unknown-cam")(got) {
		t.Errorf("reply_to got %s, want the unknown-camera error", got.Payload)
	}

	// One ask at a time: while "slow" holds the only slot, the next is refused as busy.
	mqtttest.Publish(t, c, tp.Ask("cam"), false, `{"question":"slow","request_id":"hold"}`)
	eventually(t, "the slow ask to take the slot", func() bool { return len(p.askSlots) == 1 })
	mqtttest.Publish(t, c, tp.Ask("cam"), false, `{"question":"x","request_id":"refused"}`)
	_, got = rec.WaitFor(t, 0, "the busy error", byRequestID("refused"))
	if !strings.Contains(got.Payload, "busy: 1 questions already pending") {
		t.Errorf("busy answer = %s", got.Payload)
	}

	if got, want := p.Stats().AskErrors, uint64(len(cases)+2); got != want {
		t.Errorf("ask errors = %d, want %d", got, want)
	}
	if slices.ContainsFunc(rec.All(), byRequestID("retained")) {
		t.Error("the retained ask was answered")
	}
}

func TestHomeAssistantDiscovery(t *testing.T) {
	m := mqtttest.StartBroker(t)
	p, _ := startPublisher(t, Options{Broker: m.URL(), Device: "dev5", QoS: 1, SWVersion: "9.9",
		HomeAssistant: HomeAssistant{Enabled: true},
		Cameras: []Camera{{Name: "cam", LabelSets: []string{"people"}, EventLabels: []string{"person", "car"},
			Questions: []string{"anyone?"}, Captions: true}}})
	waitConnected(t, p)
	configTopic := func(component, id string) string { return "homeassistant/" + component + "/dev5_cam_" + id + "/config" }
	want := []string{
		configTopic("binary_sensor", "event_car"), configTopic("binary_sensor", "event_person"),
		configTopic("sensor", "answer_"+objectID("anyone?")), configTopic("sensor", "caption"), configTopic("sensor", "labels_people"),
	}

	// Retained: a subscriber that comes after the publisher gets every config.
	rec, c := mqtttest.Subscribe(t, m.URL(), "homeassistant/+/+/config")
	mqtttest.Barrier(t, rec, c)
	got := map[string]mqtttest.Message{}
	for _, msg := range rec.All() {
		if strings.HasSuffix(msg.Topic, "/config") {
			got[msg.Topic] = msg
		}
	}
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, want) {
		t.Fatalf("discovery topics = %v, want %v", keys, want)
	}
	for topic, msg := range got {
		if !msg.Retained {
			t.Errorf("%s not retained", topic)
		}
		var cfg map[string]any
		if err := json.Unmarshal([]byte(msg.Payload), &cfg); err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		for _, field := range []string{"unique_id", "default_entity_id", "name", "state_topic", "value_template",
			"availability", "availability_mode", "device", "o"} {
			if _, ok := cfg[field]; !ok {
				t.Errorf("%s lacks %s", topic, field)
			}
		}
		if a, _ := cfg["availability"].([]any); len(a) != 2 || a[0].(map[string]any)["topic"] != "edged/dev5/available" ||
			a[1].(map[string]any)["topic"] != "edged/dev5/cam/available" || cfg["availability_mode"] != "all" {
			t.Errorf("%s availability = %v (%v)", topic, cfg["availability"], cfg["availability_mode"])
		}
		if dev, _ := cfg["device"].(map[string]any); dev["sw_version"] != "9.9" || dev["name"] != "dev5" {
			t.Errorf("%s device = %v", topic, cfg["device"])
		}
	}

	// Home Assistant restarted: every config is sent again.
	n := len(rec.All())
	mqtttest.Publish(t, c, "homeassistant/status", false, "online")
	for _, topic := range want {
		rec.WaitTopic(t, n, topic)
	}

	// A label removed from the daemon's config: its entity is removed (empty retained config).
	n = len(rec.All())
	if err := p.SetCameras([]Camera{{Name: "cam", LabelSets: []string{"people"}, EventLabels: []string{"person"},
		Questions: []string{"anyone?"}, Captions: true}}); err != nil {
		t.Fatal(err)
	}
	if _, msg := rec.WaitTopic(t, n, configTopic("binary_sensor", "event_car")); msg.Payload != "" {
		t.Errorf("removed entity's config = %q, want empty", msg.Payload)
	}
	if err := p.SetCameras([]Camera{{Name: "bad/name"}}); err == nil {
		t.Error("SetCameras accepted a camera name with '/'")
	}
}

// labelsFrames returns the frame numbers of labels messages, in arrival order.
func labelsFrames(t *testing.T, msgs []mqtttest.Message) []int {
	t.Helper()
	var frames []int
	for _, m := range msgs {
		var l Labels
		if err := json.Unmarshal([]byte(m.Payload), &l); err != nil {
			t.Fatalf("labels payload %q: %v", m.Payload, err)
		}
		frames = append(frames, int(l.Frame))
	}
	return frames
}

// persistentSubscriber connects with a fixed client id and a persistent session subscribed
// at QoS 1, so the broker keeps its messages while it is away, across broker restarts.
func persistentSubscriber(t *testing.T, url, id string, rec *mqtttest.Recorder, filters ...string) {
	t.Helper()
	c := mqtttest.Connect(t, url, mqtttest.Client{ID: id, Persistent: true, Recorder: rec})
	mqtttest.SubscribeTo(t, c, filters...)
}

func TestBrokerRestartQueuesResultsInOrder(t *testing.T) {
	m := mqtttest.StartBroker(t)
	p, logs := startPublisher(t, Options{Broker: m.URL(), Device: "dev6", QoS: 1, QueueSize: 5})
	topic := p.Topics().Labels("cam")
	rec := mqtttest.NewRecorder()
	persistentSubscriber(t, m.URL(), "sub-restart", rec, topic)
	waitConnected(t, p)

	if err := p.PublishLabels("cam", Labels{Frame: 1}); err != nil {
		t.Fatal(err)
	}
	rec.WaitTopic(t, 0, topic)

	m.Stop()
	eventually(t, "the publisher to notice the broker is gone", func() bool { return !p.Stats().Connected })
	for frame := 2; frame <= 9; frame++ {
		if err := p.PublishLabels("cam", Labels{Frame: uint64(frame)}); err != nil {
			t.Fatal(err)
		}
	}
	if s := p.Stats(); s.Queued != 5 || s.Dropped != 3 {
		t.Fatalf("while offline: queued %d, dropped %d; want 5 and 3", s.Queued, s.Dropped)
	}
	if logs.Count("queue full") != 1 {
		t.Errorf("want one queue-full warning per outage, log:\n%s", logs.String())
	}

	m.Start() // same port
	persistentSubscriber(t, m.URL(), "sub-restart", rec)
	eventually(t, "frames 5-9 after the restart", func() bool { return len(rec.On(topic)) >= 6 })
	if got, want := labelsFrames(t, rec.On(topic)), []int{1, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("frames = %v, want %v (oldest dropped, the rest in order)", got, want)
	}
	// The broker may forward a message before its acknowledgement reaches the publisher.
	eventually(t, "6 published after the reconnect", func() bool { return p.Stats().Published == 6 })
	if s := p.Stats(); s.Queued != 0 || s.Dropped != 3 || s.Connects != 2 || !s.Connected {
		t.Errorf("stats after reconnect = %+v", s)
	}
}

// A camera's availability is retained, published only when it changes, and published again
// after a reconnection to a broker that lost it.
func TestCameraAvailability(t *testing.T) {
	m := mqtttest.StartBroker(t)
	p, _ := startPublisher(t, Options{Broker: m.URL(), Device: "dev7", QoS: 1})
	waitConnected(t, p)
	topic := p.Topics().CameraAvailable("door")
	if topic != "edged/dev7/door/available" {
		t.Fatalf("topic %s", topic)
	}
	rec, c := mqtttest.Subscribe(t, m.URL(), topic)
	for _, online := range []bool{true, true, false, false, true} {
		if err := p.SetCameraAvailable("door", online); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "three changes", func() bool { return len(rec.On(topic)) >= 3 })
	mqtttest.Barrier(t, rec, c)
	var got []string
	for _, msg := range rec.On(topic) {
		got = append(got, msg.Payload)
	}
	if !slices.Equal(got, []string{"online", "offline", "online"}) {
		t.Fatalf("payloads %v, want one per change", got)
	}
	if err := p.SetCameraAvailable("door", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "offline", func() bool { return len(rec.On(topic)) >= 4 })

	// mosquitto here keeps nothing across a restart: the publisher says it again.
	m.Stop()
	eventually(t, "the publisher to notice the broker is gone", func() bool { return !p.Stats().Connected })
	m.Start()
	waitConnected(t, p)
	late := mqtttest.NewRecorder()
	mqtttest.SubscribeTo(t, mqtttest.Connect(t, m.URL(), mqtttest.Client{Recorder: late}), topic)
	if _, msg := late.WaitTopic(t, 0, topic); msg.Payload != "offline" || !msg.Retained {
		t.Fatalf("after the broker's restart: %+v, want retained offline", msg)
	}
	if err := p.SetCameraAvailable("a/b", true); err == nil {
		t.Fatal("a camera name with '/' was accepted")
	}
}

func TestFirstConnectionFailsThenSucceeds(t *testing.T) {
	m := mqtttest.NewBroker(t, "")
	// Make the subscriber's persistent session first, so it gets what is published before
	// it reconnects.
	m.Start()
	rec := mqtttest.NewRecorder()
	topic := Topics{Prefix: "edged", Device: "dev7"}.Labels("cam")
	persistentSubscriber(t, m.URL(), "sub-first", rec, topic)
	m.Stop()

	p, logs := startPublisher(t, Options{Broker: m.URL(), Device: "dev7", QoS: 1})
	eventually(t, "two failed connection attempts", func() bool { return logs.Count("cannot connect to the MQTT broker") >= 2 })
	if s := p.Stats(); s.Connected || !strings.Contains(s.LastError, "connection refused") {
		t.Errorf("stats with no broker = %+v, want disconnected with a connection refused error", s)
	}
	for frame := 1; frame <= 3; frame++ {
		if err := p.PublishLabels("cam", Labels{Frame: uint64(frame)}); err != nil {
			t.Fatal(err)
		}
	}

	m.Start()
	waitConnected(t, p)
	persistentSubscriber(t, m.URL(), "sub-first", rec)
	eventually(t, "the queued frames", func() bool { return len(rec.On(topic)) >= 3 })
	if got := labelsFrames(t, rec.On(topic)); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("frames = %v, want [1 2 3]", got)
	}
	if s := p.Stats(); s.LastError != "" {
		t.Errorf("last error after connecting = %q", s.LastError)
	}
}

func TestRefusedCredentialsAreLoggedAndRetried(t *testing.T) {
	pwFile := mqtttest.PasswordFile(t, "edged", "right-password")
	m := mqtttest.NewBroker(t, "allow_anonymous false\npassword_file "+pwFile)
	m.Start()

	wrong, logs := startPublisher(t, Options{Broker: m.URL(), Device: "wrong", Username: "edged", Password: "nope"})
	eventually(t, "two refused attempts", func() bool { return logs.Count("refused the credentials") >= 2 })
	if !strings.Contains(logs.String(), "attempt=2") {
		t.Errorf("attempts are not numbered in the log:\n%s", logs.String())
	}
	if s := wrong.Stats(); s.Connected || !strings.Contains(s.LastError, "check username and password") {
		t.Errorf("stats = %+v, want disconnected, with a credentials error", s)
	}

	// The same broker takes the right password.
	rec := mqtttest.NewRecorder()
	c := mqtttest.Connect(t, m.URL(), mqtttest.Client{Recorder: rec, Username: "edged", Password: "right-password"})
	mqtttest.SubscribeTo(t, c, "edged/right/available")
	startPublisher(t, Options{Broker: m.URL(), Device: "right", Username: "edged", Password: "right-password"})
	rec.WaitFor(t, 0, "online with the right password", func(m mqtttest.Message) bool { return m.Payload == "online" })

	done := make(chan error)
	go func() { done <- wrong.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Close hangs while the broker refuses us")
	}
}

func TestEmbeddedBroker(t *testing.T) {
	p, _ := startPublisher(t, Options{Broker: EmbeddedBroker, Listen: "127.0.0.1:0", Device: "emb", QoS: 1,
		AskHandler: askHandler(nil)})
	url := p.BrokerURL()
	if url == EmbeddedBroker || !strings.HasPrefix(url, "tcp://127.0.0.1:") {
		t.Fatalf("broker URL = %q, want the embedded broker's tcp address", url)
	}
	waitConnected(t, p)
	tp := p.Topics()

	rec, c := mqtttest.Subscribe(t, url, tp.Available(), tp.Labels("cam"), tp.Answer("cam"))
	if _, got := rec.WaitTopic(t, 0, tp.Available()); got.Payload != "online" || !got.Retained {
		t.Errorf("availability = %+v, want retained online", got)
	}
	if err := p.PublishLabels("cam", Labels{Frame: 8, LabelSet: "shapes", Labels: []Label{{Label: "circle", Score: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, got := rec.WaitTopic(t, 0, tp.Labels("cam")); labelsFrames(t, []mqtttest.Message{got})[0] != 8 {
		t.Errorf("labels = %s", got.Payload)
	}
	mqtttest.Publish(t, c, tp.Ask("cam"), false, `{"question":"how many?","request_id":"e1"}`)
	rec.WaitFor(t, 0, "the answer via the embedded broker", byRequestID("e1"))

	// The embedded broker sends wills too.
	assertWillOnKill(t, url)

	// Its port is taken while it runs: a second one reports that clearly.
	addr := strings.TrimPrefix(url, "tcp://")
	if b, err := StartBroker(addr, BrokerConfig{}, nil); err == nil {
		b.Close()
		t.Error("a second broker started on a port in use")
	} else if !strings.Contains(err.Error(), "listen on "+addr) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error = %v", err)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Error("the embedded broker still listens after Close")
	}
}

// BenchmarkPublishLabelsEmbedded measures results per second from PublishLabels to the
// embedded broker's acknowledgement, at QoS 1.
func BenchmarkPublishLabelsEmbedded(b *testing.B) {
	p, err := New(Options{Broker: EmbeddedBroker, Listen: "127.0.0.1:0", Device: "bench", QoS: 1,
		QueueSize: b.N + 1, QueueBytes: 1 << 30}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				b.Fatalf("timed out waiting for %s: %+v", what, p.Stats())
			}
			time.Sleep(100 * time.Microsecond) // poll interval
		}
	}
	waitFor("the connection", func() bool { return p.Stats().Connected })
	l := Labels{LabelSet: "shapes", Labels: []Label{{Label: "circle", Score: 0.7}, {Label: "square", Score: 0.2}, {Label: "triangle", Score: 0.1}}}
	b.ResetTimer()
	for i := range b.N {
		l.Frame = uint64(i)
		if err := p.PublishLabels("cam", l); err != nil {
			b.Fatal(err)
		}
	}
	waitFor("every result to be acknowledged", func() bool { return p.Stats().Published >= uint64(b.N) })
}
