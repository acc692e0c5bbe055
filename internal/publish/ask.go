package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/edged/edged/internal/request"
)

// AskHandler answers a question about the latest frame of a camera. It runs on its own
// goroutine and may take seconds; ctx is cancelled at Options.AskTimeout or shutdown. The
// publisher fills the Answer's Ts, Question and RequestID when the handler leaves them empty.
// An error (an unknown camera, no VQA model, ...) is sent to the asker as an AskError.
type AskHandler func(ctx context.Context, camera, question, requestID string) (Answer, error)

// askEnvelopeBytes is what an ask payload may carry beyond its question (request_id,
// reply_to, JSON syntax); larger payloads are refused before they are parsed.
const askEnvelopeBytes = 1024

// parseAsk reads an ask payload: a JSON AskRequest when it starts with '{', otherwise the
// question as plain text (checked as HTTP's questions are: package request). On error the
// returned request still holds whatever request_id and a valid reply_to could be read, so the
// error can reach the asker.
func parseAsk(payload []byte, maxQuestion int) (AskRequest, error) {
	if err := request.CheckSize(payload, maxQuestion+askEnvelopeBytes); err != nil {
		return AskRequest{}, err
	}
	if !utf8.Valid(payload) {
		return AskRequest{}, errors.New("request is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(payload)
	var req AskRequest
	if len(trimmed) > 0 && trimmed[0] == '{' {
		if err := request.DecodeJSON(trimmed, &req); err != nil {
			// Keep what can be salvaged so the error reaches the asker.
			return salvageRequest(trimmed), fmt.Errorf("malformed JSON request: %w", err)
		}
		if req.ReplyTo != "" {
			if err := checkTopicName(req.ReplyTo); err != nil {
				req.ReplyTo = ""
				return req, fmt.Errorf("reply_to %v", err)
			}
		}
	} else {
		req.Question = string(trimmed)
	}
	q, err := request.Text("question", req.Question, maxQuestion)
	req.Question = q
	return req, err
}

// salvageRequest reads the top-level request_id and reply_to of a request that failed to
// decode, as far as the JSON is readable, so the error can still reach the asker.
func salvageRequest(data []byte) AskRequest {
	var req AskRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return req
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return req
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return req
		}
		var s string
		if json.Unmarshal(value, &s) != nil {
			continue
		}
		switch key {
		case "request_id":
			req.RequestID = s
		case "reply_to":
			if checkTopicName(s) == nil {
				req.ReplyTo = s
			}
		}
	}
	return req
}
