package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/internal/mqtttest"
	"github.com/edged/edged/internal/recall"
	"github.com/edged/edged/internal/recall/recalltest"
)

func TestParseSearch(t *testing.T) {
	tests := []struct {
		name, payload string
		want          SearchRequest
		wantErr       string
	}{
		{"plain text", "  a red circle\n", SearchRequest{Query: "a red circle", K: DefaultSearchK}, ""},
		{"json", `{"query":"a red circle","camera":"door","k":3,"request_id":"s1"}`, SearchRequest{Query: "a red circle", Camera: "door", K: 3, RequestID: "s1"}, ""},
		{"json without k", `{"query":"x","request_id":"s2"}`, SearchRequest{Query: "x", K: DefaultSearchK, RequestID: "s2"}, ""},
		{"empty", "", SearchRequest{}, "query is empty"},
		{"json without query", `{"request_id":"s3"}`, SearchRequest{RequestID: "s3"}, "query is empty"},
		{"unknown field", `{"query":"x","requestId":"s4"}`, SearchRequest{}, `unknown field "requestId"`},
		{"wrong type keeps request_id", `{"query":"x","k":"three","request_id":"s5"}`, SearchRequest{RequestID: "s5"}, `field "k" must be a int, not a JSON string`},
		{"broken json keeps request_id", `{"request_id":"s6","query":`, SearchRequest{RequestID: "s6"}, "malformed JSON request"},
		{"trailing data", `{"query":"x"} {}`, SearchRequest{}, "data after the JSON object"},
		{"k too big", `{"query":"x","k":51,"request_id":"s7"}`, SearchRequest{Query: "x", K: 51, RequestID: "s7"}, "k is 51; it must be from 1 to 50"},
		{"negative k", `{"query":"x","k":-1}`, SearchRequest{Query: "x", K: -1}, "k is -1"},
		{"camera with a slash", `{"query":"x","camera":"a/b"}`, SearchRequest{Query: "x", Camera: "a/b"}, "camera \"a/b\" contains '/'"},
		{"long query", `{"query":"` + strings.Repeat("a", 301) + `","request_id":"s8"}`, SearchRequest{Query: strings.Repeat("a", 301), RequestID: "s8"}, "query is 301 bytes, over the 300-byte limit"},
		{"huge payload", strings.Repeat("a", 2000), SearchRequest{}, "over the 1324-byte limit"},
		{"invalid utf-8", "red\xff", SearchRequest{}, "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSearch([]byte(tt.payload))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("request = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSearchPayloadsAreFrozen(t *testing.T) {
	at := Timestamp(time.Date(2024, 5, 1, 12, 30, 45, 123e6, time.UTC))
	for _, tt := range []struct {
		v    any
		want string
	}{
		{SearchResult{Ts: at, RequestID: "r", Query: "a red circle", Camera: "door", Hits: []SearchHit{{Camera: "door", Frame: 7, Ts: at, Score: 0.5, Similar: 3}}},
			`{"ts":"2024-05-01T12:30:45.123Z","request_id":"r","query":"a red circle","camera":"door","hits":[{"camera":"door","frame":7,"ts":"2024-05-01T12:30:45.123Z","score":0.5,"similar":3}]}`},
		{SearchResult{Ts: at, Query: "q", Hits: []SearchHit{}}, `{"ts":"2024-05-01T12:30:45.123Z","query":"q","hits":[]}`},
		{SearchError{Error: "no CLIP model", RequestID: "r"}, `{"error":"no CLIP model","request_id":"r"}`},
		{SearchRequest{Query: "q", RequestID: "r"}, `{"query":"q","request_id":"r"}`},
	} {
		got, err := json.Marshal(tt.v)
		if err != nil || string(got) != tt.want {
			t.Errorf("%T = %s (%v), want %s", tt.v, got, err, tt.want)
		}
	}
}

// referenceSearch is a SearchHandler over a recall.Store holding the 24 reference scenes of
// the shapes models with transformers' real CLIP embeddings; it can embed the 15 labels.
func referenceSearch(t *testing.T) (SearchHandler, *recalltest.Reference) {
	t.Helper()
	ref, err := recalltest.Shapes()
	if err != nil {
		t.Fatal(err)
	}
	store, err := recall.New(recall.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, c := range ref.Cases {
		if err := store.Add(recall.Frame{Camera: "shapes", Seq: uint64(c.Index + 1), Time: start.Add(time.Duration(c.Index) * time.Second),
			Image: c.Image, Embedding: c.Embedding}); err != nil {
			t.Fatal(err)
		}
	}
	return func(ctx context.Context, query, camera string, k int) ([]SearchHit, error) {
		switch query {
		case "panic":
			panic("handler bug")
		case "slow":
			<-ctx.Done()
			return nil, ctx.Err()
		}
		if camera != "" && camera != "shapes" {
			return nil, fmt.Errorf("unknown camera %q", camera)
		}
		emb, ok := ref.LabelEmbedding(query)
		if !ok {
			return nil, errors.New("only the 15 labels can be embedded here")
		}
		hits, err := store.Search(ctx, recall.Query{Text: query, Embedding: emb, Contrast: ref.LabelEmbeddings, LogitScale: ref.LogitScale, Camera: camera, K: k})
		out := make([]SearchHit, len(hits))
		for i, h := range hits {
			out[i] = SearchHit{Camera: h.Camera, Frame: h.Seq, Ts: Timestamp(h.Time), Score: h.Score}
		}
		return out, err
	}, ref
}

// Search requests over a real broker: the test subscribes the publisher's search handler to
// the search topic on a connection of its own (the publisher subscribes it itself once
// Options has a SearchHandler), and reads results from the result topic.
func TestSearchOverMQTT(t *testing.T) {
	handler, ref := referenceSearch(t)
	p, _ := startPublisher(t, Options{Broker: EmbeddedBroker, Listen: "127.0.0.1:0", Device: "dev", QoS: 1,
		MaxPendingAsks: 1, AskTimeout: 2 * time.Second})
	waitConnected(t, p)
	tp := p.Topics()
	if tp.Search() != "edged/dev/search" || tp.SearchResult() != "edged/dev/search/result" {
		t.Fatalf("topics %s, %s", tp.Search(), tp.SearchResult())
	}
	rec, c := mqtttest.Subscribe(t, p.BrokerURL(), tp.SearchResult())
	// A request retained before the handler subscribes reaches it marked retained, and is
	// ignored: it would be served again on every reconnect.
	mqtttest.Publish(t, c, tp.Search(), true, `{"query":"red square","request_id":"kept"}`)
	defer mqtttest.Publish(t, c, tp.Search(), true, "") // clear it
	if tok := c.Subscribe(tp.Search(), 1, p.onSearch(handler)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	// A label query finds, first, a scene that shows the object (transformers' embeddings).
	mqtttest.Publish(t, c, tp.Search(), false, `{"query":"a blue circle","camera":"shapes","k":3,"request_id":"q1"}`)
	_, got := rec.WaitFor(t, 0, "the result of q1", byRequestID("q1"))
	var res SearchResult
	if err := json.Unmarshal([]byte(got.Payload), &res); err != nil || got.Retained {
		t.Fatalf("result %s (retained %v): %v", got.Payload, got.Retained, err)
	}
	if res.Query != "a blue circle" || res.Camera != "shapes" || len(res.Hits) != 3 || res.Ts.IsZero() {
		t.Fatalf("result %s", got.Payload)
	}
	if best := ref.Cases[res.Hits[0].Frame-1]; !best.Has("blue circle") {
		t.Errorf("best hit frame %d shows %v", res.Hits[0].Frame, best.Scene.Objects)
	}
	for i := 1; i < len(res.Hits); i++ {
		if res.Hits[i].Score > res.Hits[i-1].Score {
			t.Errorf("hits out of order: %s", got.Payload)
		}
	}
	// Plain text: every camera, the default k, no request_id.
	mqtttest.Publish(t, c, tp.Search(), false, "red triangle")
	_, got = rec.WaitFor(t, 0, "the plain-text result", func(m mqtttest.Message) bool { return strings.Contains(m.Payload, `"query":"red triangle"`) })
	if err := json.Unmarshal([]byte(got.Payload), &res); err != nil || len(res.Hits) != DefaultSearchK || strings.Contains(got.Payload, "request_id") {
		t.Fatalf("plain-text result %s", got.Payload)
	}

	// Errors reach the requester with its request_id.
	for _, tc := range []struct{ payload, id, want string }{
		{`{"query":"x","k":99,"request_id":"e1"}`, "e1", "k is 99"},
		{`{"query":"a dog","request_id":"e2"}`, "e2", "only the 15 labels"},
		{`{"query":"red square","camera":"attic","request_id":"e3"}`, "e3", `unknown camera \"attic\"`},
		{`{"query":"panic","request_id":"e4"}`, "e4", "internal error while searching"},
		{`{"request_id":"e5","query":`, "e5", "malformed JSON request"},
		{`{"query":"slow","request_id":"e6"}`, "e6", "context deadline exceeded"},
	} {
		mqtttest.Publish(t, c, tp.Search(), false, tc.payload)
		_, got := rec.WaitFor(t, 0, "the error for "+tc.id, byRequestID(tc.id))
		if !strings.Contains(got.Payload, `"error":`) || !strings.Contains(got.Payload, tc.want) {
			t.Errorf("%s: %s, want an error containing %q", tc.id, got.Payload, tc.want)
		}
	}
	if got := rec.On(tp.SearchResult()); strings.Contains(fmt.Sprint(got), `"request_id":"kept"`) {
		t.Error("the retained search was served")
	}
	if st := p.Stats(); st.AskErrors < 6 {
		t.Errorf("ask errors %d; search errors count with them", st.AskErrors)
	}
}
