package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
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
// question as plain text. On error the returned request still holds whatever request_id and
// a valid reply_to could be read, so the error can reach the asker.
func parseAsk(payload []byte, maxQuestion int) (AskRequest, error) {
	if len(payload) > maxQuestion+askEnvelopeBytes {
		return AskRequest{}, fmt.Errorf("request is %d bytes, over the %d-byte limit", len(payload), maxQuestion+askEnvelopeBytes)
	}
	if !utf8.Valid(payload) {
		return AskRequest{}, errors.New("request is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(payload)
	var req AskRequest
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var err error
		if req, err = decodeAskJSON(trimmed); err != nil {
			return req, err
		}
	} else {
		req.Question = string(trimmed)
	}
	req.Question = strings.TrimSpace(req.Question)
	switch {
	case req.Question == "":
		return req, errors.New("question is empty")
	case len(req.Question) > maxQuestion:
		return req, fmt.Errorf("question is %d bytes, over the %d-byte limit", len(req.Question), maxQuestion)
	}
	return req, nil
}

// decodeAskJSON decodes a JSON request strictly: unknown fields and wrong types are errors
// that name the field, so a typo such as "requestId" is reported, not silently ignored.
func decodeAskJSON(data []byte) (AskRequest, error) {
	var req AskRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	if err != nil {
		// Keep what can be salvaged so the error reaches the asker.
		salvaged := salvageRequest(data)
		return salvaged, fmt.Errorf("malformed JSON request: %s", describeJSONError(err))
	}
	if req.ReplyTo != "" {
		if err := checkTopicName(req.ReplyTo); err != nil {
			req.ReplyTo = ""
			return req, fmt.Errorf("reply_to %v", err)
		}
	}
	return req, nil
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

// describeJSONError rewords encoding/json errors in the request's own terms.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q must be a %s, not a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Sprintf("%v at byte %d", syntaxErr, syntaxErr.Offset)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
