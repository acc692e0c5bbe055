package daemon

import (
	"fmt"
	"time"

	"github.com/edged/edged/internal/confirm"
)

// Event is a label's presence on a camera: it starts when the label's score reaches its
// threshold (and has held for the minimum duration) and ends when the score falls below the
// threshold minus the hysteresis. End events carry the whole span.
type Event struct {
	Type     string // "start" or "end"
	ID       string
	Label    string
	LabelSet string  // the set whose tracker made the event
	Score    float64 // the score that caused this transition
	TopScore float64 // the highest score seen during the event
	Start    time.Time
	End      time.Time // zero for "start"
	// Check is BLIP ITM's verdict on the frame the event started on, for labels the camera
	// has checked (labels.confirm); nil when unchecked or when the check failed.
	Check *confirm.Verdict
}

// EventTracker turns a stream of label scores into start/end events for one camera and
// label set. It is not safe for concurrent use: each camera's scheduler owns its trackers.
type EventTracker struct {
	camera      string
	hysteresis  float64
	minDuration time.Duration
	labels      map[string]*labelState
	seq         uint64
}

type labelState struct {
	pendingSince time.Time // first time over threshold while not yet open (zero if none)
	open         bool
	id           string
	start        time.Time
	top          float64
}

// NewEventTracker makes a tracker; hysteresis is in score units, minDuration may be 0.
func NewEventTracker(camera string, hysteresis float64, minDuration time.Duration) *EventTracker {
	return &EventTracker{camera: camera, hysteresis: hysteresis, minDuration: minDuration, labels: map[string]*labelState{}}
}

// Observe feeds one frame's score for a label with its threshold and returns the event it
// causes, if any.
func (t *EventTracker) Observe(label string, score, threshold float64, at time.Time) (Event, bool) {
	s := t.labels[label]
	if s == nil {
		s = &labelState{}
		t.labels[label] = s
	}
	if !s.open {
		if score < threshold {
			s.pendingSince = time.Time{}
			return Event{}, false
		}
		if s.pendingSince.IsZero() {
			s.pendingSince = at
			s.top = score
		}
		s.top = max(s.top, score)
		if at.Sub(s.pendingSince) < t.minDuration {
			return Event{}, false
		}
		t.seq++
		s.open, s.start = true, s.pendingSince
		s.id = fmt.Sprintf("%s-%d-%d", t.camera, s.start.UnixMilli(), t.seq)
		return Event{Type: "start", ID: s.id, Label: label, Score: score, TopScore: s.top, Start: s.start}, true
	}
	s.top = max(s.top, score)
	if score >= threshold-t.hysteresis {
		return Event{}, false
	}
	ev := Event{Type: "end", ID: s.id, Label: label, Score: score, TopScore: s.top, Start: s.start, End: at}
	*s = labelState{}
	return ev, true
}

// CloseAll ends every open event (on shutdown or when a label leaves the set).
func (t *EventTracker) CloseAll(at time.Time) []Event {
	var evs []Event
	for label, s := range t.labels {
		if s.open {
			evs = append(evs, Event{Type: "end", ID: s.id, Label: label, TopScore: s.top, Start: s.start, End: at})
		}
		delete(t.labels, label)
	}
	return evs
}
