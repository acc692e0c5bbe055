package request

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	type ask struct {
		Question  string `json:"question"`
		RequestID string `json:"request_id"`
	}
	for _, c := range []struct{ in, want string }{
		{`{"question":"q","request_id":"r"}`, ""},
		{" {\"question\":\"q\"}\n ", ""},
		{`{"question":"q"}}`, "data after the JSON object at byte 16"},
		{`{"question":"q"} {"question":"r"}`, "data after the JSON object"},
		{`{"question":"q"} x`, "data after the JSON object"},
		{"{\"question\":\"\xff\"}", "request is not valid UTF-8"},
		{`{"question":5}`, `field "question" must be a string, not a JSON number`},
		{`{"requestId":"r"}`, `unknown field "requestId"`},
		{`{"question":`, "unexpected EOF"},
		{`{"question" "q"}`, "at byte"},
	} {
		var a ask
		err := DecodeJSON([]byte(c.in), &a)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("DecodeJSON(%q) = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestText(t *testing.T) {
	for _, c := range []struct {
		in, out, want string
		is            error
	}{
		{"  how many?\n", "how many?", "", nil},
		{"   ", "", "question is empty", ErrEmpty},
		{strings.Repeat("é", 6), "", "question is 12 bytes, over the 10-byte limit", ErrTooLarge},
		{"a\xffb", "", "question is not valid UTF-8", nil},
	} {
		got, err := Text("question", c.in, 10)
		if c.want == "" {
			if err != nil || got != c.out {
				t.Errorf("Text(%q) = %q, %v; want %q", c.in, got, err, c.out)
			}
			continue
		}
		if err == nil || err.Error() != c.want || c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("Text(%q) error %v, want %q (is %v)", c.in, err, c.want, c.is)
		}
	}
	if err := CheckSize(make([]byte, 11), 10); !errors.Is(err, ErrTooLarge) || err.Error() != "request is 11 bytes, over the 10-byte limit" {
		t.Errorf("CheckSize: %v", err)
	}
}
