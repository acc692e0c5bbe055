package publish

import (
	"strings"
	"testing"
)

func TestParseAsk(t *testing.T) {
	const limit = 32
	tests := []struct {
		name    string
		payload string
		want    AskRequest
		wantErr string // substring; "" means success
	}{
		{"plain text", "  how many shapes?\n", AskRequest{Question: "how many shapes?"}, ""},
		{"json", `{"question":"what color?","request_id":"r1"}`, AskRequest{Question: "what color?", RequestID: "r1"}, ""},
		{"json with reply_to", ` {"question":"what?","request_id":"r2","reply_to":"app/replies/7"}`,
			AskRequest{Question: "what?", RequestID: "r2", ReplyTo: "app/replies/7"}, ""},
		{"empty", "", AskRequest{}, "question is empty"},
		{"blank", " \t\n", AskRequest{}, "question is empty"},
		{"json without question", `{"request_id":"r3"}`, AskRequest{RequestID: "r3"}, "question is empty"},
		{"json blank question", `{"question":"  ","request_id":"r4"}`, AskRequest{Question: "", RequestID: "r4"}, "question is empty"},
		{"broken json keeps request_id", `{"question":"what?","request_id":"r5",`, AskRequest{RequestID: "r5"}, "malformed JSON request"},
		{"unknown field named", `{"question":"what?","requestId":"r6"}`, AskRequest{}, `unknown field "requestId"`},
		{"wrong type named", `{"question":"what?","request_id":7}`, AskRequest{}, `field "request_id" must be a string`},
		{"wrong type keeps request_id and reply_to", `{"question":5,"request_id":"r11","reply_to":"app/r"}`,
			AskRequest{RequestID: "r11", ReplyTo: "app/r"}, `field "question" must be a string, not a JSON number`},
		{"broken json drops bad reply_to", `{"request_id":"r12","reply_to":"a/#","question":`, AskRequest{RequestID: "r12"}, "malformed JSON request"},
		{"trailing data", `{"question":"what?"} {"question":"again"}`, AskRequest{}, "data after the JSON object"},
		{"reply_to plus wildcard", `{"question":"what?","request_id":"r7","reply_to":"app/+/x"}`,
			AskRequest{Question: "what?", RequestID: "r7"}, "reply_to \"app/+/x\" contains an MQTT wildcard"},
		{"reply_to hash wildcard", `{"question":"what?","request_id":"r8","reply_to":"app/#"}`,
			AskRequest{Question: "what?", RequestID: "r8"}, "wildcard"},
		{"reply_to system topic", `{"question":"what?","request_id":"r9","reply_to":"$SYS/x"}`,
			AskRequest{Question: "what?", RequestID: "r9"}, "reserved for the broker"},
		{"question over limit", `{"question":"` + strings.Repeat("a", limit+1) + `","request_id":"r10"}`,
			AskRequest{Question: strings.Repeat("a", limit+1), RequestID: "r10"}, "question is 33 bytes, over the 32-byte limit"},
		{"payload over hard limit", strings.Repeat("a", limit+askEnvelopeBytes+1), AskRequest{}, "over the 1056-byte limit"},
		{"invalid utf-8", "what\xff?", AskRequest{}, "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAsk([]byte(tt.payload), limit)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("request = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func BenchmarkParseAsk(b *testing.B) {
	payload := []byte(`{"question":"how many shapes are there?","request_id":"abc-123","reply_to":"app/replies"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseAsk(payload, 1024); err != nil {
			b.Fatal(err)
		}
	}
}
