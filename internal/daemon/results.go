package daemon

import (
	"time"

	"github.com/edged/edged/camera"
	"github.com/edged/edged/clip"
)

// Kind names a kind of result, and of the work that makes it.
type Kind string

// The kinds of result. KindQuestions is the work of answering a camera's standing questions;
// each answer is a KindAnswer result.
const (
	KindLabels    Kind = "labels"
	KindEvent     Kind = "event"
	KindCaption   Kind = "caption"
	KindQuestions Kind = "questions"
	KindAnswer    Kind = "answer"
	KindAsk       Kind = "ask"
	KindSnapshot  Kind = "snapshot"
)

// FrameInfo says which frame a result is about. It outlives the frame's pixels.
type FrameInfo struct {
	Seq  uint64    // the source's frame number, from 1
	Time time.Time // when it was captured
	// Annotations are the frame's camera.Frame.Annotations (nil for real cameras): a
	// synthetic frame's truth, so that a user and the tests can compare the models' results
	// with what the picture shows. Read-only.
	Annotations map[string]string
}

func frameInfo(f *camera.Frame) FrameInfo {
	return FrameInfo{Seq: f.Seq, Time: f.Time, Annotations: f.Annotations}
}

// Result is one thing the daemon found out. Which fields are set depends on Kind.
type Result struct {
	Kind   Kind
	Camera string
	Frame  FrameInfo

	// Latency is the inference time that made the result (labels: image embedding and
	// scoring; caption; answer).
	Latency time.Duration

	// Labels: the label set's name and its top labels, best first; Embedding is the frame's
	// CLIP image embedding, the same slice for every label set of that frame (read-only).
	LabelSet  string
	Labels    []clip.Score
	Embedding []float32

	// Event: a label's start or end.
	Event *Event

	// Caption or answer text.
	Text string
	// CaptionRank is how a ranked caption (caption.candidates) was chosen; nil otherwise.
	CaptionRank *CaptionRank

	// Answer: the question; Asked marks an answer to an ask request (with its id, when the
	// request gave one), which the publisher's ask handling publishes, not the MQTT sink.
	Question  string
	Asked     bool
	RequestID string

	// Snapshot: JPEG bytes, made when an event starts.
	JPEG []byte
}

// CaptionRank is how a caption was chosen among candidates: the ranking models (itm, clip,
// both), the caption's score, and the runners-up to publish, best first.
type CaptionRank struct {
	By        string
	Score     float64
	RunnersUp []RankedCaption
}

// Sink receives every result. Workers call it concurrently, so implementations must be safe
// for concurrent use, and they must not block for long: they hold up the worker.
type Sink interface {
	Result(r *Result)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(r *Result)

// Result calls f(r).
func (f SinkFunc) Result(r *Result) { f(r) }

// sinks fans a result out to several sinks in order.
type sinks []Sink

func (s sinks) Result(r *Result) {
	for _, k := range s {
		k.Result(r)
	}
}
