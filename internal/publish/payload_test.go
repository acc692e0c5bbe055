package publish

import (
	"encoding/json"
	"testing"
	"time"
)

// TestPayloadContract pins the exact JSON of every published payload. These field names are
// a released contract: if this test fails, a subscriber somewhere breaks. Do not update the
// expected strings to make it pass; add fields only deliberately.
func TestPayloadContract(t *testing.T) {
	// A non-UTC zone and sub-millisecond digits: ts must come out in UTC, with milliseconds.
	zone := time.FixedZone("CEST", 2*3600)
	ts := Timestamp(time.Date(2024, 5, 1, 14, 30, 45, 123456789, zone))
	end := Timestamp(time.Date(2024, 5, 1, 14, 31, 0, 0, zone))
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"labels", Labels{Ts: ts, Frame: 42, LabelSet: "shapes", Labels: []Label{{Label: "circle", Score: 0.875}, {Label: "square", Score: 0.125}}},
			`{"ts":"2024-05-01T12:30:45.123Z","frame":42,"label_set":"shapes","labels":[{"label":"circle","score":0.875},{"label":"square","score":0.125}]}`},
		{"labels with shares", Labels{Ts: ts, Frame: 42, LabelSet: "shapes", Labels: []Label{{"circle", 0.875, ptr(0.75)}, {"square", 0.625, ptr(0.25)}}},
			`{"ts":"2024-05-01T12:30:45.123Z","frame":42,"label_set":"shapes","labels":[{"label":"circle","score":0.875,"share":0.75},{"label":"square","score":0.625,"share":0.25}]}`},
		{"event start", Event{Type: EventStart, ID: "demo-circle-1", Label: "circle", Score: 0.8, TopScore: 0.8, StartTs: ts},
			`{"type":"start","id":"demo-circle-1","label":"circle","score":0.8,"top_score":0.8,"start_ts":"2024-05-01T12:30:45.123Z","end_ts":null}`},
		{"event end", Event{Type: EventEnd, ID: "demo-circle-1", Label: "circle", Score: 0.3, TopScore: 0.9, StartTs: ts, EndTs: end},
			`{"type":"end","id":"demo-circle-1","label":"circle","score":0.3,"top_score":0.9,"start_ts":"2024-05-01T12:30:45.123Z","end_ts":"2024-05-01T12:31:00.000Z"}`},
		{"event start, ITM-confirmed", Event{Type: EventStart, ID: "demo-circle-2", Label: "circle", Score: 0.8, TopScore: 0.8, StartTs: ts, Confirmed: ptr(true), ITMScore: ptr(0.75)},
			`{"type":"start","id":"demo-circle-2","label":"circle","score":0.8,"top_score":0.8,"start_ts":"2024-05-01T12:30:45.123Z","end_ts":null,"confirmed":true,"itm_score":0.75}`},
		{"event end, ITM-rejected", Event{Type: EventEnd, ID: "demo-circle-3", Label: "circle", Score: 0.3, TopScore: 0.9, StartTs: ts, EndTs: end, Confirmed: ptr(false), ITMScore: ptr(0.125)},
			`{"type":"end","id":"demo-circle-3","label":"circle","score":0.3,"top_score":0.9,"start_ts":"2024-05-01T12:30:45.123Z","end_ts":"2024-05-01T12:31:00.000Z","confirmed":false,"itm_score":0.125}`},
		{"event start with its set", Event{Type: EventStart, ID: "demo-circle-4", Label: "circle", Score: 0.8, TopScore: 0.8, StartTs: ts, LabelSet: "shapes"},
			`{"type":"start","id":"demo-circle-4","label":"circle","score":0.8,"top_score":0.8,"start_ts":"2024-05-01T12:30:45.123Z","end_ts":null,"label_set":"shapes"}`},
		{"label state at start", LabelState{State: LabelOff, Label: "circle"},
			`{"state":"OFF","label":"circle","since":null}`},
		{"label state on", LabelState{State: LabelOn, Label: "circle", LabelSet: "shapes", EventID: "demo-circle-4", Since: ts, Score: ptr(0.8), TopScore: ptr(0.8), Confirmed: ptr(true), ITMScore: ptr(0.75)},
			`{"state":"ON","label":"circle","label_set":"shapes","event_id":"demo-circle-4","since":"2024-05-01T12:30:45.123Z","score":0.8,"top_score":0.8,"confirmed":true,"itm_score":0.75}`},
		{"label set state", LabelSetState{LabelSet: "shapes", Labels: []string{"circle", "square"}},
			`{"label_set":"shapes","labels":["circle","square"]}`},
		{"standing answer", StandingAnswer{Question: "how many shapes?", Answer: "two"},
			`{"question":"how many shapes?","answer":"two"}`},
		{"caption", Caption{Ts: ts, Frame: 7, Caption: "a red circle", LatencyMs: 812.5},
			`{"ts":"2024-05-01T12:30:45.123Z","frame":7,"caption":"a red circle","latency_ms":812.5}`},
		{"caption, ranked", Caption{Ts: ts, Frame: 7, Caption: "a red circle", LatencyMs: 812.5, Score: ptr(0.875), Rank: "itm",
			RunnersUp: []CaptionCandidate{{Caption: "a red square", Score: 0.125}}},
			`{"ts":"2024-05-01T12:30:45.123Z","frame":7,"caption":"a red circle","latency_ms":812.5,"score":0.875,"rank":"itm","runners_up":[{"caption":"a red square","score":0.125}]}`},
		{"answer with request_id", Answer{Ts: ts, Frame: 9, Question: "how many shapes?", Answer: "two", RequestID: "r-1"},
			`{"ts":"2024-05-01T12:30:45.123Z","frame":9,"question":"how many shapes?","answer":"two","request_id":"r-1"}`},
		{"answer, standing question", Answer{Ts: ts, Frame: 9, Question: "how many shapes?", Answer: "two"},
			`{"ts":"2024-05-01T12:30:45.123Z","frame":9,"question":"how many shapes?","answer":"two"}`},
		{"ask error", AskError{Error: "question is empty", RequestID: "r-2"},
			`{"error":"question is empty","request_id":"r-2"}`},
		{"ask error without id", AskError{Error: "question is empty"},
			`{"error":"question is empty"}`},
		{"ask request", AskRequest{Question: "what color?", RequestID: "r-3", ReplyTo: "app/replies"},
			`{"question":"what color?","request_id":"r-3","reply_to":"app/replies"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("JSON changed:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestTimestampRoundTrip(t *testing.T) {
	in := Timestamp(time.Date(2024, 1, 2, 3, 4, 5, 678_000_000, time.UTC))
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Timestamp
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Time().Equal(in.Time()) {
		t.Errorf("round trip: got %v, want %v", out, in)
	}
	var zero Timestamp
	if err := json.Unmarshal([]byte("null"), &zero); err != nil || !zero.IsZero() {
		t.Errorf("null: got %v, %v; want the zero timestamp", zero, err)
	}
	for _, bad := range []string{`12`, `"yesterday"`} {
		if err := json.Unmarshal([]byte(bad), &out); err == nil {
			t.Errorf("unmarshal %s: no error", bad)
		}
	}
}

func BenchmarkMarshalLabels(b *testing.B) {
	l := Labels{Ts: Now(), Frame: 1, LabelSet: "shapes", Labels: []Label{{"circle", 0.7, ptr(0.7)}, {"square", 0.2, ptr(0.2)}, {"triangle", 0.1, ptr(0.1)}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(l); err != nil {
			b.Fatal(err)
		}
	}
}
