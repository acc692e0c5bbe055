package web

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// The body of POST /api/ask never panics the parser, and what it accepts is what the handler
// may pass on: a known shape, a trimmed question of valid UTF-8 within the limit.
func FuzzParseAskBody(f *testing.F) {
	for _, seed := range []string{
		`{"camera":"shapes","question":"how many shapes are there?"}`,
		`{"camera":"shapes","question":"hi"}}`, `{"camera":"shapes","question":"hi"} {}`,
		"{\"camera\":\"a\",\"question\":\"\xff\"}", `{"camera":7}`, `{"q":"x"}`, `[]`, `null`, ``, `{"question":"` + strings.Repeat("a", 70) + `"}`,
	} {
		f.Add([]byte(seed))
	}
	const max = 64
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseAskBody(body, max)
		if err != nil {
			if !errors.Is(err, errBadRequest) && !errors.Is(err, errTooLarge) {
				t.Fatalf("error %v is neither a bad request nor too large", err)
			}
			return
		}
		q := req.Question
		if !utf8.Valid(body) || q == "" || len(q) > max || !utf8.ValidString(q) || strings.TrimSpace(q) != q {
			t.Fatalf("accepted %q: question %q", body, q)
		}
	})
}
