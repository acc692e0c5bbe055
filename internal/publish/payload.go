package publish

import (
	"bytes"
	"fmt"
	"time"
)

// The payload types below are a released contract: their JSON field names never change
// (payload_test.go pins the exact JSON). Add fields only with care, never rename.

// Timestamp is a point in time written as RFC 3339 in UTC with milliseconds,
// e.g. "2024-05-01T12:30:45.123Z"; the zero Timestamp is written as null.
type Timestamp time.Time

// timestampLayout is RFC 3339 with exactly three fractional digits.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// Now is the current time as a Timestamp.
func Now() Timestamp { return Timestamp(time.Now()) }

// Time returns t as a time.Time.
func (t Timestamp) Time() time.Time { return time.Time(t) }

// IsZero reports whether t is the zero time.
func (t Timestamp) IsZero() bool { return time.Time(t).IsZero() }

// String formats t as it appears in JSON, without quotes.
func (t Timestamp) String() string { return time.Time(t).UTC().Format(timestampLayout) }

// MarshalJSON writes t as a quoted RFC 3339 UTC string with milliseconds, or null when zero.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(timestampLayout)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, timestampLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads an RFC 3339 string or null.
func (t *Timestamp) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		*t = Timestamp{}
		return nil
	}
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return fmt.Errorf("timestamp %s is not a JSON string", data)
	}
	v, err := time.Parse(time.RFC3339Nano, string(data[1:len(data)-1]))
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	*t = Timestamp(v)
	return nil
}

// Labels is one zero-shot labelling of a frame with one label set, best first (by share: the
// first is the label of the set that fits best).
type Labels struct {
	Ts       Timestamp `json:"ts"`
	Frame    uint64    `json:"frame"`
	LabelSet string    `json:"label_set"`
	Labels   []Label   `json:"labels"`
}

// Label is one label and its score: the probability that the frame shows it (compared with
// the label's threshold to start and end events). Share is its share of the softmax over the
// label set (the shares of a set add up to one): which of the set's labels fits best.
type Label struct {
	Label string   `json:"label"`
	Score float64  `json:"score"`
	Share *float64 `json:"share,omitempty"`
}

// LabelState payloads' state: ON while an event of the label is open.
const (
	LabelOn  = "ON"
	LabelOff = "OFF"
)

// LabelState is a label's state on a camera, kept (retained) on <camera>/state/<label id> for
// Home Assistant's binary sensor and any late subscriber: it changes only when an event starts
// or ends. Every label starts OFF when edged starts (no event is open then).
type LabelState struct {
	State    string `json:"state"` // LabelOn or LabelOff
	Label    string `json:"label"`
	LabelSet string `json:"label_set,omitempty"`
	// EventID is the open event, or the last one; empty before any.
	EventID string `json:"event_id,omitempty"`
	// Since is when the state began (the event's start or end); null before any event.
	Since Timestamp `json:"since"`
	// Score is the score that changed the state; TopScore the highest of the last event.
	Score     *float64 `json:"score,omitempty"`
	TopScore  *float64 `json:"top_score,omitempty"`
	Confirmed *bool    `json:"confirmed,omitempty"`
	ITMScore  *float64 `json:"itm_score,omitempty"`
}

// LabelSetState is what labels of a set are present on a camera (their events open), in name
// order, kept (retained) on <camera>/labels/<set id>.
type LabelSetState struct {
	LabelSet string   `json:"label_set"`
	Labels   []string `json:"labels"`
}

// StandingAnswer is the last answer to a standing question, kept (retained) on
// <camera>/answer/<question id>.
type StandingAnswer struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

// Event types.
const (
	EventStart = "start" // a label rose above its threshold
	EventEnd   = "end"   // it fell back below (threshold minus hysteresis)
)

// Event marks a label crossing its threshold. A start event has a zero EndTs (written null).
type Event struct {
	Type     string    `json:"type"` // EventStart or EventEnd
	ID       string    `json:"id"`   // the same for an event's start and end
	Label    string    `json:"label"`
	Score    float64   `json:"score"`     // the score at this transition
	TopScore float64   `json:"top_score"` // the highest score seen during the event so far
	StartTs  Timestamp `json:"start_ts"`
	EndTs    Timestamp `json:"end_ts"`
	// Confirmed is set only for labels the config has checked by BLIP image-text matching
	// (cameras[].labels.confirm): whether ITM agreed with CLIP on the frame the event
	// started on. ITMScore is ITM's best probability over the label's prompts. An end
	// carries its start's verdict. Absent when the label is not checked, or when the check
	// failed (the event is published unchecked rather than dropped).
	Confirmed *bool    `json:"confirmed,omitempty"`
	ITMScore  *float64 `json:"itm_score,omitempty"`
	// LabelSet is the set whose label it is (added with the label states; absent from
	// publishers that do not say).
	LabelSet string `json:"label_set,omitempty"`
}

// Caption is a BLIP caption of a frame. When the camera ranks candidate captions
// (cameras[].caption.candidates), Score is the chosen caption's score (in [0, 1]), Rank what
// ranked it (itm, clip or both) and RunnersUp the best of the others, best first, as many as
// the config asks for; all three are absent otherwise.
type Caption struct {
	Ts        Timestamp          `json:"ts"`
	Frame     uint64             `json:"frame"`
	Caption   string             `json:"caption"`
	LatencyMs float64            `json:"latency_ms"`
	Score     *float64           `json:"score,omitempty"`
	Rank      string             `json:"rank,omitempty"`
	RunnersUp []CaptionCandidate `json:"runners_up,omitempty"`
}

// CaptionCandidate is a caption that was not chosen, with its score.
type CaptionCandidate struct {
	Caption string  `json:"caption"`
	Score   float64 `json:"score"`
}

// Answer is a BLIP answer to a question about a frame. RequestID echoes the ask request's
// id and is omitted for standing questions.
type Answer struct {
	Ts        Timestamp `json:"ts"`
	Frame     uint64    `json:"frame"`
	Question  string    `json:"question"`
	Answer    string    `json:"answer"`
	RequestID string    `json:"request_id,omitempty"`
}

// AskError is published on the answer topic (and reply_to) instead of an Answer when an ask
// request is malformed, too large, or could not be answered.
type AskError struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// AskRequest is the JSON form of a question sent to <camera>/ask. A plain-text payload is
// the question alone.
type AskRequest struct {
	Question  string `json:"question"`
	RequestID string `json:"request_id"`
	ReplyTo   string `json:"reply_to,omitempty"`
}
