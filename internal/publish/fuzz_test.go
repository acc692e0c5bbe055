package publish

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Ask payloads never panic the parser; what it accepts has a trimmed question of valid UTF-8
// within the limit and a reply_to one may publish to; on error, a salvaged reply_to is valid.
func FuzzParseAsk(f *testing.F) {
	for _, seed := range []string{
		`{"question":"how many?","request_id":"r1","reply_to":"edged/d/reply/x"}`, "what colour is it?",
		`{"question":"x"}}`, `{"question":"x"} {"question":"y"}`, "{\"question\":\"\xff\"}", `{"question":5,"request_id":"r"}`,
		`{"request_id":"r","reply_to":"a/#","question":`, `{"requestId":"x"}`, ``, "  \n ", `{"reply_to":"$SYS/x","question":"q"}`,
	} {
		f.Add([]byte(seed))
	}
	const max = 64
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := parseAsk(payload, max)
		if req.ReplyTo != "" && checkTopicName(req.ReplyTo) != nil {
			t.Fatalf("%q: kept reply_to %q, not a topic one may publish to", payload, req.ReplyTo)
		}
		if err != nil {
			return
		}
		q := req.Question
		if !utf8.Valid(payload) || q == "" || len(q) > max || !utf8.ValidString(q) || strings.TrimSpace(q) != q {
			t.Fatalf("accepted %q: question %q", payload, q)
		}
	})
}

// Search payloads never panic the parser; what it accepts is within the limits.
func FuzzParseSearch(f *testing.F) {
	for _, seed := range []string{
		`{"query":"a red circle","camera":"demo","k":3,"request_id":"s1"}`, "a red circle",
		`{"query":"x","k":51}`, `{"query":"x","camera":"a/b"}`, `{"query":"x"}]`, "{\"query\":\"\xc3\"}", ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := parseSearch(payload)
		if err != nil {
			return
		}
		q := req.Query
		if q == "" || len(q) > MaxSearchQueryBytes || !utf8.ValidString(q) || req.K < 1 || req.K > MaxSearchK ||
			req.Camera != "" && checkTopicLevel(req.Camera) != nil {
			t.Fatalf("accepted %q: %+v", payload, req)
		}
	})
}
