package web

import (
	"context"
	"errors"
	"time"
)

// Backend is what the page shows and does; the daemon implements it. Its methods are called
// from HTTP handlers, concurrently.
type Backend interface {
	// Status is everything the page shows now: each camera's latest results and health, the
	// models' latencies, the MQTT connection. Cameras come in display order.
	Status() Status
	// Frame returns a camera's newest frame as a JPEG: ErrUnknownCamera for a camera that
	// does not exist, ErrUnavailable when it has no frame yet.
	Frame(camera string) (Frame, error)
	// Subscribe delivers updates as results arrive, until ctx ends; then the channel is
	// closed. A slow reader may miss updates (the page catches up from the next Status).
	Subscribe(ctx context.Context) <-chan Update
	// Ask answers a question about a camera's newest frame (BLIP VQA): ErrUnknownCamera,
	// ErrUnavailable (no VQA model, models loading, no frame yet), or another error.
	Ask(ctx context.Context, camera, question string) (Answer, error)
	// Search finds the recent frames that best match a text, best first, from one camera or
	// from all ("" camera): ErrUnknownCamera, ErrUnavailable (no CLIP model, search off).
	Search(ctx context.Context, query, camera string, k int) ([]Hit, error)
	// Thumbnail returns a recent frame's thumbnail (JPEG), as a search hit names it:
	// ErrNotFound once it has been forgotten.
	Thumbnail(camera string, frame uint64) ([]byte, error)
}

// Errors a Backend returns (wrapped or not) to get the matching HTTP status; any other error
// is a 500.
var (
	ErrUnknownCamera = errors.New("unknown camera")    // 404
	ErrNotFound      = errors.New("not found")         // 404
	ErrUnavailable   = errors.New("not available")     // 503: no model, loading, no frame yet
	errBadRequest    = errors.New("bad request")       // 400, the handler's own
	errTooLarge      = errors.New("request too large") // 413, the handler's own
)

// Status is the page's whole state: GET /api/cameras, and the "status" event.
type Status struct {
	Device  string         `json:"device"`
	Cameras []CameraStatus `json:"cameras"`
	Models  []ModelHealth  `json:"models"`
	// Preparing are the models the config names that do not run yet: being pulled,
	// converted or loaded, waiting for the hub, or failed. Empty once every model is ready.
	Preparing []ModelPrep `json:"preparing"`
	// Calibration is where each model calibrated on the cameras' frames, or checked against
	// its safe precision, stands: what precision runs, the gate's verdict, the shadow checks'.
	Calibration []ModelCalibration `json:"calibration"`
	MQTT        MQTTHealth         `json:"mqtt"`
	// Search says how many recent frames text search can look at.
	Search SearchHealth `json:"search"`
}

// CameraStatus is one camera's latest results and health.
type CameraStatus struct {
	Name    string       `json:"name"`
	Frame   *FrameInfo   `json:"frame,omitempty"` // the newest frame a result was made for
	Labels  []Labels     `json:"labels"`          // one per label set
	Caption *Caption     `json:"caption,omitempty"`
	Answers []Answer     `json:"answers"` // newest first
	Health  CameraHealth `json:"health"`
}

// FrameInfo names a frame: the source's frame number and when it was captured.
type FrameInfo struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"ts"`
}

// Labels is a label set's top labels for a frame, best first (by share).
type Labels struct {
	LabelSet string    `json:"label_set"`
	Frame    FrameInfo `json:"frame"`
	Labels   []Label   `json:"labels"`
}

// Label is one label, the probability that the frame shows it (score), and its share of the
// softmax over its set (which of the set fits best).
type Label struct {
	Label string  `json:"label"`
	Score float64 `json:"score"`
	Share float64 `json:"share"`
}

// Caption is a BLIP caption of a frame.
type Caption struct {
	Frame     FrameInfo `json:"frame"`
	Caption   string    `json:"caption"`
	LatencyMs float64   `json:"latency_ms"`
}

// Answer is BLIP's answer to a question about a frame.
type Answer struct {
	Frame     FrameInfo `json:"frame"`
	Question  string    `json:"question"`
	Answer    string    `json:"answer"`
	LatencyMs float64   `json:"latency_ms"`
	// Asked marks an answer to a question someone asked (here or over MQTT), rather than a
	// standing question of the config.
	Asked bool `json:"asked"`
}

// CameraHealth is a camera source's state and counters.
type CameraHealth struct {
	State      string  `json:"state"` // camera.State: connecting, streaming, stalled, failed, ...
	FPS        float64 `json:"fps"`   // frames captured per second, recently
	Captured   uint64  `json:"captured"`
	Dropped    uint64  `json:"dropped"` // frames replaced before inference took them
	Reconnects uint64  `json:"reconnects"`
	Stalls     uint64  `json:"stalls"`
	FrameAge   float64 `json:"frame_age_s,omitempty"` // seconds since the newest frame was captured
	LastError  string  `json:"last_error,omitempty"`
}

// ModelHealth is one model's inference latency.
type ModelHealth struct {
	Model  string  `json:"model"` // clip_image, blip_caption, blip_vqa, ...
	Count  uint64  `json:"count"`
	LastMs float64 `json:"last_ms"`
	MeanMs float64 `json:"mean_ms"`
}

// ModelPrep is a model that does not run yet, and why.
type ModelPrep struct {
	Model   string `json:"model"` // the config's key: clip, blip_caption, blip_vqa, blip_itm
	Name    string `json:"name"`  // what the config names: a folder or owner/name[@revision]
	State   string `json:"state"` // preparing, waiting (for the hub), failed
	Step    string `json:"step,omitempty"`
	Percent int    `json:"percent,omitempty"`
	Error   string `json:"error,omitempty"`
}

// ModelCalibration is a model's int8 on the cameras' frames (/healthz has all the figures).
type ModelCalibration struct {
	Model     string `json:"model"`     // the config's key: clip, blip_caption, blip_vqa
	Precision string `json:"precision"` // what runs now: int8-dynamic (the safe precision) or int8
	State     string `json:"state"`     // collecting, waiting_for_memory, converting, refused, failed, calibrated
	Frames    int    `json:"frames"`    // kept for calibrating, of MinFrames
	MinFrames int    `json:"min_frames"`
	Gate      string `json:"gate,omitempty"` // the last verdict: passed, or the bars missed
	// Agreement is the shadow checks' running verdict over Checks checks so far ("" until
	// their window is full); Fallbacks the times the safe model took over.
	Agreement string `json:"agreement,omitempty"`
	Checks    int    `json:"checks,omitempty"`
	Fallbacks int    `json:"fallbacks,omitempty"`
	Error     string `json:"error,omitempty"`
	// Memory says, in waiting_for_memory, what the conversion needs beside what is loaded.
	Memory string `json:"memory,omitempty"`
}

// MQTTHealth is the MQTT connection's state.
type MQTTHealth struct {
	Connected bool   `json:"connected"`
	Broker    string `json:"broker"`
	Queued    int    `json:"queued"`
	Published uint64 `json:"published"`
	Dropped   uint64 `json:"dropped"`
	LastError string `json:"last_error,omitempty"`
}

// SearchHealth is what text search can look at.
type SearchHealth struct {
	Enabled bool  `json:"enabled"`
	Frames  int   `json:"frames"`
	Bytes   int64 `json:"bytes"`
}

// Frame is a camera's newest picture.
type Frame struct {
	FrameInfo
	JPEG []byte
}

// Hit is a recent frame that matches a search.
type Hit struct {
	Camera string    `json:"camera"`
	Frame  FrameInfo `json:"frame"`
	// Score orders the hits (see recall.Hit); Cosine is CLIP's bare cosine similarity.
	Score    float64 `json:"score"`
	Cosine   float64 `json:"cosine"`
	Reranked bool    `json:"reranked"`
	// Similar counts the other recent frames of the camera that are near-copies of this one
	// (the same scene); the hit stands for them.
	Similar int `json:"similar"`
	// Annotations are the frame's camera annotations (a synthetic frame's truth); absent for
	// real cameras.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Update is one change pushed to the page as a server-sent event named Kind.
type Update struct {
	Kind   UpdateKind
	Camera string
	// Data is the event's payload: FrameInfo, Labels, Caption or Answer for the kinds of the
	// same names.
	Data any
}

// UpdateKind names an event on /api/events.
type UpdateKind string

// The kinds of update. "status" events (the whole Status) are sent by the handler itself,
// on connect and then periodically.
const (
	UpdateFrame   UpdateKind = "frame"
	UpdateLabels  UpdateKind = "labels"
	UpdateCaption UpdateKind = "caption"
	UpdateAnswer  UpdateKind = "answer"
	updateStatus  UpdateKind = "status"
)
