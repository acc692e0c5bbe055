// Package request validates the requests people send edged, the same way whether they come
// over MQTT (publish: ask and search payloads) or HTTP (web: POST /api/ask, GET /api/search):
// strict JSON, valid UTF-8, nothing after the object, and bounded texts.
package request

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Errors a check wraps, for callers that answer them differently.
var (
	ErrEmpty    = errors.New("empty")
	ErrTooLarge = errors.New("too large")
)

// tooLarge is an ErrTooLarge whose message says what is too large.
type tooLarge string

func (e tooLarge) Error() string        { return string(e) }
func (e tooLarge) Is(target error) bool { return target == ErrTooLarge }

// Text is a question or search text with surrounding space removed (also when it is
// refused); field names it in the error. It must be valid UTF-8, not empty, and at most max
// bytes.
func Text(field, s string, max int) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%s is not valid UTF-8", field)
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return s, fmt.Errorf("%s is %w", field, ErrEmpty)
	case len(s) > max:
		return s, tooLarge(fmt.Sprintf("%s is %d bytes, over the %d-byte limit", field, len(s), max))
	}
	return s, nil
}

// CheckSize refuses a whole request over max bytes before anything reads it.
func CheckSize(data []byte, max int) error {
	if len(data) > max {
		return tooLarge(fmt.Sprintf("request is %d bytes, over the %d-byte limit", len(data), max))
	}
	return nil
}

// DecodeJSON decodes one JSON object into v strictly: the bytes must be valid UTF-8 (the
// standard decoder would silently replace bad bytes), every field must be one of v's with
// the right type (a typo such as "requestId" is reported), and nothing but space may follow.
// Errors name the field or byte in the request's own terms.
func DecodeJSON(data []byte, v any) error {
	if !utf8.Valid(data) {
		return errors.New("request is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New(describeJSONError(err))
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		return fmt.Errorf("data after the JSON object at byte %d", dec.InputOffset())
	}
	return nil
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
