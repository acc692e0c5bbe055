package web

import (
	"context"
	"fmt"
	"image"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/camera"
	"github.com/edged/edged/internal/recall"
	"github.com/edged/edged/internal/recall/recalltest"
)

// refCalibration is what the reference backend says of its models' calibration: a CLIP
// that passed and agrees, and a captioner the gate refused after a fallback.
var refCalibration = []ModelCalibration{
	{Model: "clip", Precision: "int8", State: "calibrated", Frames: 64, MinFrames: 64, Gate: "passed", Agreement: "passed", Checks: 60},
	{Model: "blip_caption", Precision: "int8-dynamic", State: "refused", Frames: 80, MinFrames: 64, Gate: "mean cosine 0.9812 < 0.99", Fallbacks: 1},
}

// refBackend is a Backend made of real pieces, for the handler and browser tests until the
// daemon can be run with its models here:
//
//   - camera "shapes" replays the 24 reference scenes of the shapes models; each step feeds
//     a Live with the labels CLIP gives (zero-shot from transformers' real image embedding and
//     label text embeddings), transformers' caption, and a recall.Store with the embedding,
//     the picture and the scene's truth. Ask answers with transformers' answers to the
//     scene's reference questions; Search embeds a query only when it names one of the 15
//     labels (there is no text tower here) and ranks with the label set as contrast.
//   - camera "synthetic" is a real camera.Source rendering the shapes world; its frames reach
//     pages through Live.Frame and the FrameEncoder, its counters make its health. It has no
//     models, so it has no labels and cannot answer.
type refBackend struct {
	ref    *recalltest.Reference
	live   *Live
	store  *recall.Store
	search *RecallSearch
	frames *FrameEncoder
	synth  camera.Source

	mu      sync.Mutex
	step    int // reference scenes replayed so far
	shapes  FrameInfo
	newest  *camera.Frame // the synthetic camera's newest frame, held
	started time.Time
}

func newRefBackend(t testing.TB) *refBackend {
	t.Helper()
	ref, err := recalltest.Shapes()
	if err != nil {
		t.Fatal(err)
	}
	store, err := recall.New(recall.Options{})
	if err != nil {
		t.Fatal(err)
	}
	frames, err := NewFrameEncoder(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	src, err := camera.New(camera.Spec{Name: "synthetic", Kind: camera.KindSynthetic, FPS: 10, Width: 160, Height: 120, Seed: 7, SceneEvery: time.Second}, camera.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := &refBackend{ref: ref, live: NewLive(LiveOptions{}), store: store, frames: frames, synth: src, started: time.Now()}
	b.search = &RecallSearch{
		Store: store,
		EmbedText: func(_ context.Context, text string) ([]float32, error) {
			if emb, ok := ref.LabelEmbedding(text); ok {
				return emb, nil
			}
			return nil, fmt.Errorf("%w: no CLIP text model here; search for one of the 15 labels", ErrUnavailable)
		},
		Contrast: func(string) ([][]float32, []recall.Pair, float64) { return ref.LabelEmbeddings, nil, ref.LogitScale },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		if err := src.Run(ctx); err != nil {
			t.Errorf("synthetic camera: %v", err)
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		for f := range src.Frames() {
			b.mu.Lock()
			if b.newest != nil {
				b.newest.Release()
			}
			b.newest = f
			b.mu.Unlock()
			b.live.Frame("synthetic", FrameInfo{Seq: f.Seq, Time: f.Time})
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		b.mu.Lock()
		if b.newest != nil {
			b.newest.Release()
		}
		b.mu.Unlock()
	})
	return b
}

// advance replays the next reference scene on camera "shapes" and returns it.
func (b *refBackend) advance(t testing.TB) recalltest.Case {
	t.Helper()
	b.mu.Lock()
	c := b.ref.Cases[b.step%len(b.ref.Cases)]
	b.step++
	info := FrameInfo{Seq: uint64(b.step), Time: time.Now()}
	b.shapes = info
	b.mu.Unlock()

	// The case number rides along as the frame's annotation, as a synthetic camera's truth does.
	note := map[string]string{"case": strconv.Itoa(c.Index)}
	if err := b.store.Add(recall.Frame{Camera: "shapes", Seq: info.Seq, Time: info.Time, Image: c.Image, Embedding: c.Embedding, Annotations: note}); err != nil {
		t.Fatal(err)
	}
	var labels []Label
	for _, s := range b.ref.ZeroShot(c.Embedding)[:3] {
		labels = append(labels, Label{Label: s.Label, Score: s.Score})
	}
	b.live.Labels("shapes", Labels{LabelSet: "shapes", Frame: info, Labels: labels})
	b.live.Caption("shapes", Caption{Frame: info, Caption: c.Caption, LatencyMs: 12})
	return c
}

// current is the reference scene camera "shapes" shows now.
func (b *refBackend) current() (recalltest.Case, FrameInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.step == 0 {
		return recalltest.Case{}, FrameInfo{}, false
	}
	return b.ref.Cases[(b.step-1)%len(b.ref.Cases)], b.shapes, true
}

func (b *refBackend) Status() Status {
	st := Status{Device: "test-device", MQTT: MQTTHealth{Broker: "tcp://127.0.0.1:1", LastError: "no broker in this test"}}
	shapes := b.live.Camera("shapes")
	shapes.Health = CameraHealth{State: "streaming", FPS: 1, Captured: uint64(b.stepCount()), Dropped: 0}
	synth := b.live.Camera("synthetic")
	ss := b.synth.Stats()
	synth.Health = CameraHealth{State: string(ss.State), Captured: ss.Captured, Dropped: ss.Dropped,
		FPS: float64(ss.Captured) / time.Since(b.started).Seconds()}
	if ss.LastError != nil {
		synth.Health.LastError = ss.LastError.Error()
	}
	st.Cameras = []CameraStatus{shapes, synth}
	st.Search = b.search.Health()
	st.Models = []ModelHealth{{Model: "clip_image", Count: uint64(b.stepCount()), LastMs: 3, MeanMs: 3}}
	st.Calibration = refCalibration
	return st
}

func (b *refBackend) stepCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.step
}

func (b *refBackend) Frame(cam string) (Frame, error) {
	switch cam {
	case "shapes":
		c, info, ok := b.current()
		if !ok {
			return Frame{}, fmt.Errorf("%w: no frame yet", ErrUnavailable)
		}
		return b.frames.Encode(cam, info, c.Image)
	case "synthetic":
		b.mu.Lock()
		f := b.newest
		if f != nil {
			f.Retain()
		}
		b.mu.Unlock()
		if f == nil {
			return Frame{}, fmt.Errorf("%w: no frame yet", ErrUnavailable)
		}
		defer f.Release()
		return b.frames.Encode(cam, FrameInfo{Seq: f.Seq, Time: f.Time}, image.Image(f.Image))
	}
	return Frame{}, ErrUnknownCamera
}

func (b *refBackend) Subscribe(ctx context.Context) <-chan Update { return b.live.Subscribe(ctx) }

func (b *refBackend) Ask(ctx context.Context, cam, question string) (Answer, error) {
	switch cam {
	case "synthetic":
		return Answer{}, fmt.Errorf("%w: no VQA model for this camera", ErrUnavailable)
	case "shapes":
	default:
		return Answer{}, ErrUnknownCamera
	}
	c, info, ok := b.current()
	if !ok {
		return Answer{}, fmt.Errorf("%w: no frame yet", ErrUnavailable)
	}
	text, ok := c.Answer(question)
	if !ok {
		return Answer{}, fmt.Errorf("%w: this test backend answers only the reference questions of the scene", ErrUnavailable)
	}
	a := Answer{Frame: info, Question: question, Answer: text, LatencyMs: 20, Asked: true}
	b.live.Answer(cam, a)
	return a, ctx.Err()
}

func (b *refBackend) Search(ctx context.Context, query, cam string, k int) ([]Hit, error) {
	return b.search.Search(ctx, query, cam, k)
}

func (b *refBackend) Thumbnail(cam string, frame uint64) ([]byte, error) {
	return b.search.Thumbnail(cam, frame)
}

// caseOf returns the reference scene replayed as frame seq of camera "shapes".
func (b *refBackend) caseOf(seq uint64) recalltest.Case {
	return b.ref.Cases[(seq-1)%uint64(len(b.ref.Cases))]
}

// labelsPresent are the labels some replayed scene shows.
func (b *refBackend) labelsPresent() []string {
	var out []string
	for _, l := range b.ref.Labels {
		for _, c := range b.ref.Cases[:min(b.stepCount(), len(b.ref.Cases))] {
			if c.Has(l) && !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out
}
