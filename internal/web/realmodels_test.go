package web

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/camera"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/recall"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// modelBackend is the daemon's pipeline in small, made of the real parts, until the page can
// be tested against the daemon itself: the synthetic camera renders the shapes world; every
// frame is embedded by the shipped shapes CLIP (int8), labelled with the shapes label set
// and remembered in a recall.Store; BLIP captions the newest frame every few hundred
// milliseconds; asks are answered by BLIP VQA on the newest frame; search embeds the query
// with CLIP's text tower and ranks against the labels. It records the truth of every frame
// (the scene the camera rendered) so tests can check what the page shows.
type modelBackend struct {
	live   *Live
	store  *recall.Store
	search *RecallSearch
	frames *FrameEncoder
	src    camera.Source
	clip   *clip.Model
	labels *clip.Classifier
	vqa    *blip.Model
	cap    *blip.Model

	// rememberMu is held while a frame is added to the store, so that freeze returns with the
	// ring fixed; present are the labels of the remembered frames' objects, alone those of
	// objects remembered alone in a frame.
	rememberMu     sync.Mutex
	remember       bool
	present, alone map[string]bool

	mu       sync.Mutex
	newest   *camera.Frame
	truth    map[uint64]frameTruth // every labelled frame's truth
	scenes   map[int]bool          // scene numbers remembered in the store
	captions map[string]uint64     // caption text → a frame it was said of
	answers  map[string]string     // "frame/question" → answer
	latency  map[string]*ModelHealth
	vqaMu    sync.Mutex
	vqaSess  *blip.Session
	started  time.Time
}

// shapesModels converts the shipped shapes models once per test binary.
var shapesModels struct {
	once              sync.Once
	clip, caption, vq *bundle.Bundle
	err               error
}

func openShapesModels(t testing.TB) (clipB, captionB, vqaB *bundle.Bundle) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real CLIP and BLIP models")
	}
	shapesModels.once.Do(func() {
		cache, err := modelCache()
		if err != nil {
			shapesModels.err = err
			return
		}
		open := func(name string) *bundle.Bundle {
			if shapesModels.err != nil {
				return nil
			}
			b, err := models.Open(context.Background(), "../../models/shapes/"+name, models.Options{CacheDir: cache})
			if err != nil {
				shapesModels.err = fmt.Errorf("convert %s: %w", name, err)
			}
			return b
		}
		shapesModels.clip, shapesModels.caption, shapesModels.vq = open("clip"), open("blip_caption"), open("blip_vqa")
	})
	if shapesModels.err != nil {
		t.Fatal(shapesModels.err)
	}
	return shapesModels.clip, shapesModels.caption, shapesModels.vq
}

func newModelBackend(t *testing.T, spec camera.Spec) *modelBackend {
	t.Helper()
	clipB, capB, vqaB := openShapesModels(t)
	cm, err := clip.Load(clipB, clip.Options{RunOptions: clip.RunOptions{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cm.Close() })
	set, err := clip.LoadLabelSet("../../configs/labels/shapes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	classifier, err := cm.Classifier(set)
	if err != nil {
		t.Fatal(err)
	}
	labelEmbeds, err := cm.LabelEmbeddings(set)
	if err != nil {
		t.Fatal(err)
	}
	pairSet, pairIdx := set.PairSet()
	pairEmbeds, err := cm.LabelEmbeddings(pairSet)
	if err != nil {
		t.Fatal(err)
	}
	pairs := recall.NewPairs(pairEmbeds, pairIdx)
	openBLIP := func(b *bundle.Bundle) *blip.Model {
		m, err := blip.Load(b, blip.Options{Runtime: tflite.Options{Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	capM, vqaM := openBLIP(capB), openBLIP(vqaB)
	vqaSess, err := vqaM.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vqaSess.Close() })
	store, err := recall.New(recall.Options{MaxFrames: 5000, MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	frames, err := NewFrameEncoder(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	src, err := camera.New(spec, camera.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := &modelBackend{live: NewLive(LiveOptions{}), store: store, frames: frames, src: src, clip: cm, labels: classifier,
		vqa: vqaM, cap: capM, vqaSess: vqaSess, truth: map[uint64]frameTruth{}, scenes: map[int]bool{},
		captions: map[string]uint64{}, answers: map[string]string{}, latency: map[string]*ModelHealth{}, started: time.Now()}
	b.remember, b.present, b.alone = true, map[string]bool{}, map[string]bool{}
	b.search = &RecallSearch{
		Store: store,
		EmbedText: func(_ context.Context, text string) ([]float32, error) {
			defer b.observe("clip_text", time.Now())
			return cm.EmbedText(text)
		},
		Contrast: func(string) ([][]float32, []recall.Pair, float64) {
			return labelEmbeds, pairs, float64(cm.LogitScale())
		},
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := src.Run(ctx); err != nil {
			t.Errorf("camera: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		b.labelFrames(t)
	}()
	go func() {
		defer wg.Done()
		b.captionEvery(ctx, t, 300*time.Millisecond)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		b.mu.Lock()
		if b.newest != nil {
			b.newest.Release()
		}
		b.mu.Unlock()
	})
	return b
}

// modelCache is a folder for converted bundles shared by the tests of one run.
var modelCacheDir struct {
	once sync.Once
	dir  string
	err  error
}

func modelCache() (string, error) {
	modelCacheDir.once.Do(func() {
		modelCacheDir.dir, modelCacheDir.err = tempDirRemovedAtExit("edged-web-models-")
	})
	return modelCacheDir.dir, modelCacheDir.err
}

func (b *modelBackend) observe(model string, start time.Time) {
	ms := float64(time.Since(start).Microseconds()) / 1000
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.latency[model]
	if h == nil {
		h = &ModelHealth{Model: model}
		b.latency[model] = h
	}
	h.MeanMs = (h.MeanMs*float64(h.Count) + ms) / float64(h.Count+1)
	h.Count++
	h.LastMs = ms
}

// labelFrames embeds and labels every frame the camera delivers (the newest wins when CLIP
// falls behind) and remembers it for search.
func (b *modelBackend) labelFrames(t *testing.T) {
	for f := range b.src.Frames() {
		b.mu.Lock()
		if b.newest != nil {
			b.newest.Release()
		}
		f.Retain() // one reference for newest, one for this loop
		b.newest = f
		b.mu.Unlock()

		start := time.Now()
		emb, err := b.clip.EmbedImage(f.Image)
		b.observe("clip_image", start)
		if err != nil {
			t.Errorf("CLIP frame %d: %v", f.Seq, err)
			f.Release()
			continue
		}
		scores, err := b.labels.Classify(emb)
		if err != nil {
			t.Errorf("classify frame %d: %v", f.Seq, err)
			f.Release()
			continue
		}
		info := FrameInfo{Seq: f.Seq, Time: f.Time}
		b.mu.Lock()
		truth := frameTruth(f.Annotations)
		b.truth[f.Seq] = truth
		b.mu.Unlock()
		b.rememberMu.Lock()
		if b.remember {
			if err := b.store.Add(recall.Frame{Camera: f.Camera, Seq: f.Seq, Time: f.Time, Image: f.Image, Embedding: emb, Annotations: f.Annotations}); err != nil {
				t.Errorf("remember frame %d: %v", f.Seq, err)
			}
			shown := truth.labels()
			for _, l := range shown {
				b.present[l] = true
				b.alone[l] = b.alone[l] || len(shown) == 1
			}
			b.mu.Lock()
			b.scenes[f.Index] = true
			b.mu.Unlock()
		}
		b.rememberMu.Unlock()
		var top []Label
		for _, s := range clip.TopK(scores, 3) {
			top = append(top, Label{Label: s.Label, Score: float64(s.Score)})
		}
		b.live.Labels(f.Camera, Labels{LabelSet: "shapes", Frame: info, Labels: top})
		f.Release()
	}
}

// takeNewest retains and returns the newest frame (nil before the first).
func (b *modelBackend) takeNewest() *camera.Frame {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.newest != nil {
		b.newest.Retain()
	}
	return b.newest
}

func (b *modelBackend) captionEvery(ctx context.Context, t *testing.T, every time.Duration) {
	sess, err := b.cap.NewSession()
	if err != nil {
		t.Errorf("caption session: %v", err)
		return
	}
	defer sess.Close()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		f := b.takeNewest()
		if f == nil {
			continue
		}
		start := time.Now()
		im, err := sess.EncodeImage(f.Image)
		var text string
		if err == nil {
			text, err = sess.Caption(im, "", b.cap.GenerateDefaults())
		}
		b.observe("blip_caption", start)
		if err != nil {
			t.Errorf("caption frame %d: %v", f.Seq, err)
		} else {
			b.mu.Lock()
			b.captions[text] = f.Seq
			b.mu.Unlock()
			b.live.Caption(f.Camera, Caption{Frame: FrameInfo{Seq: f.Seq, Time: f.Time}, Caption: text, LatencyMs: float64(time.Since(start).Microseconds()) / 1000})
		}
		f.Release()
	}
}

// freeze stops adding frames to the store and returns the labels its frames show, and those
// some frame shows alone.
func (b *modelBackend) freeze() (present, alone map[string]bool) {
	b.rememberMu.Lock()
	defer b.rememberMu.Unlock()
	b.remember = false
	return b.present, b.alone
}

// rememberedScenes is how many scenes the store holds frames of.
func (b *modelBackend) rememberedScenes() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.scenes)
}

func (b *modelBackend) truthOf(seq uint64) (frameTruth, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.truth[seq]
	return s, ok
}

func (b *modelBackend) Status() Status {
	cs := b.live.Camera(b.src.Name())
	st := b.src.Stats()
	cs.Health = CameraHealth{State: string(st.State), Captured: st.Captured, Dropped: st.Dropped,
		FPS: float64(st.Captured) / time.Since(b.started).Seconds()}
	if st.LastError != nil {
		cs.Health.LastError = st.LastError.Error()
	}
	b.mu.Lock()
	var models []ModelHealth
	for _, name := range []string{"clip_image", "clip_text", "blip_caption", "blip_vqa"} {
		if h := b.latency[name]; h != nil {
			models = append(models, *h)
		}
	}
	b.mu.Unlock()
	return Status{Device: "models-test", Cameras: []CameraStatus{cs}, Models: models,
		MQTT: MQTTHealth{Broker: "none", LastError: "no broker in this test"}, Search: b.search.Health()}
}

func (b *modelBackend) Frame(cam string) (Frame, error) {
	if cam != b.src.Name() {
		return Frame{}, ErrUnknownCamera
	}
	f := b.takeNewest()
	if f == nil {
		return Frame{}, fmt.Errorf("%w: no frame yet", ErrUnavailable)
	}
	defer f.Release()
	return b.frames.Encode(cam, FrameInfo{Seq: f.Seq, Time: f.Time}, f.Image)
}

func (b *modelBackend) Subscribe(ctx context.Context) <-chan Update { return b.live.Subscribe(ctx) }

func (b *modelBackend) Ask(ctx context.Context, cam, question string) (Answer, error) {
	if cam != b.src.Name() {
		return Answer{}, ErrUnknownCamera
	}
	f := b.takeNewest()
	if f == nil {
		return Answer{}, fmt.Errorf("%w: no frame yet", ErrUnavailable)
	}
	defer f.Release()
	b.vqaMu.Lock()
	defer b.vqaMu.Unlock()
	start := time.Now()
	im, err := b.vqaSess.EncodeImage(f.Image)
	var text string
	if err == nil {
		text, err = b.vqaSess.Answer(im, question, b.vqa.GenerateDefaults())
	}
	b.observe("blip_vqa", start)
	if err != nil {
		return Answer{}, err
	}
	a := Answer{Frame: FrameInfo{Seq: f.Seq, Time: f.Time}, Question: question, Answer: text, Asked: true,
		LatencyMs: float64(time.Since(start).Microseconds()) / 1000}
	b.mu.Lock()
	b.answers[fmt.Sprintf("%d/%s", f.Seq, question)] = text
	b.mu.Unlock()
	b.live.Answer(cam, a)
	return a, ctx.Err()
}

func (b *modelBackend) Search(ctx context.Context, query, cam string, k int) ([]Hit, error) {
	if cam != "" && cam != b.src.Name() {
		return nil, ErrUnknownCamera
	}
	return b.search.Search(ctx, query, cam, k)
}

func (b *modelBackend) Thumbnail(cam string, frame uint64) ([]byte, error) {
	return b.search.Thumbnail(cam, frame)
}

// frameTruth is what a synthetic frame shows, as the camera annotated it.
type frameTruth map[string]string

// labels are the labels of the objects shown.
func (t frameTruth) labels() []string { return strings.Split(t[camera.TruthLabels], " and ") }

// shows says whether the frame shows an object with the label "<colour> <shape>".
func (t frameTruth) shows(label string) bool { return slices.Contains(t.labels(), label) }

func (t frameTruth) caption() string { return t[camera.TruthCaption] }
