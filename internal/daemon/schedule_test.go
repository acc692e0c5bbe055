package daemon

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A caption that never finishes must not hold up labels, even with a single worker: the
// BLIP lane has its own. Caption ticks that find their job still running are skipped and
// counted, never queued.
func TestLabelsKeepComingWhileACaptionIsStuck(t *testing.T) {
	td := newTestDir(t)
	td.write("set.yaml", "name: s\nlabels: [x, y]\n")
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 50, scene_every: 1s}
    labels: {sets: [set.yaml], every: 20ms}
    caption: {every: 20ms}
`)
	td.write("config.yaml", strings.Replace(readFile(t, cfg), "device: test", "device: test\nruntime: {workers: 1}", 1))
	labeler, captioner := newTestLabeler(), newHeldCaptioner()
	r := startDaemon(t, cfg, &Models{Labeler: labeler, Captioner: captioner}, Options{})

	eventually(t, "the first caption job to start", func() bool { return captioner.calls.Load() == 1 })
	before := r.rec.count(KindLabels)
	eventually(t, "20 more labels while the caption is stuck", func() bool { return r.rec.count(KindLabels) >= before+20 })
	eventually(t, "5 caption ticks skipped as busy", func() bool { return r.metric("skipped", "cam", "caption", skipBusy) >= 5 })
	if n := captioner.calls.Load(); n != 1 {
		t.Fatalf("captioner called %d times while its first job was stuck; want 1 (no pile-up)", n)
	}
	if n := r.rec.count(KindCaption); n != 0 {
		t.Fatalf("%d captions before the stuck one was released", n)
	}
	captioner.release <- struct{}{}
	eventually(t, "the caption once released", func() bool { return r.rec.count(KindCaption) == 1 })
	if got := r.rec.of(KindCaption)[0].Text; got != "caption 1" {
		t.Errorf("caption %q, want the stuck job's", got)
	}
	captioner.open.Store(true)
	eventually(t, "captions flowing again", func() bool { return r.rec.count(KindCaption) >= 3 })
}

// While a label job is running, label ticks are skipped and counted; the model is not
// called again until the job is done.
func TestNoPileUpWhileLabelsAreSlow(t *testing.T) {
	td := newTestDir(t)
	td.write("set.yaml", "name: s\nlabels: [x]\n")
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 50}
    labels: {sets: [set.yaml], every: 10ms}
`)
	labeler := newTestLabeler()
	labeler.hold.Store(true)
	r := startDaemon(t, cfg, &Models{Labeler: labeler}, Options{})

	eventually(t, "10 label ticks skipped as busy", func() bool { return r.metric("skipped", "cam", "labels", skipBusy) >= 10 })
	if n := labeler.embeds.Load(); n != 1 {
		t.Fatalf("%d image embeddings started while the first was held; want 1", n)
	}
	labeler.hold.Store(false)
	close(labeler.release)
	eventually(t, "labels after the release", func() bool { return r.rec.count(KindLabels) >= 3 })
	if got := r.metric("jobs", "cam", "labels", "ok"); got < 3 {
		t.Errorf("edged_jobs_total{labels,ok} = %v, want at least 3", got)
	}
}

// Each frame is embedded once, and the embedding serves every label set of the camera.
func TestOneImageEmbeddingPerFrameForEveryLabelSet(t *testing.T) {
	td := newTestDir(t)
	td.write("a.yaml", "name: a\nlabels: [x, y]\n")
	td.write("b.yaml", "name: b\nlabels: [z]\n")
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 50}
    labels: {sets: [a.yaml, b.yaml], every: 20ms, top_k: 1}
`)
	labeler := newTestLabeler()
	labeler.setScore("y", 0.7)
	r := startDaemon(t, cfg, &Models{Labeler: labeler}, Options{})
	eventually(t, "20 labels results", func() bool { return r.rec.count(KindLabels) >= 20 })
	r.stop(t)

	byFrame := map[uint64][]*Result{}
	for _, res := range r.rec.of(KindLabels) {
		byFrame[res.Frame.Seq] = append(byFrame[res.Frame.Seq], res)
	}
	for seq, rs := range byFrame {
		if len(rs) != 2 || rs[0].LabelSet != "a" || rs[1].LabelSet != "b" {
			t.Fatalf("frame %d: results %v, want one for set a then one for set b", seq, rs)
		}
		if &rs[0].Embedding[0] != &rs[1].Embedding[0] {
			t.Errorf("frame %d: the label sets got different embeddings", seq)
		}
		if len(rs[0].Labels) != 1 || rs[0].Labels[0].Label != "y" {
			t.Errorf("frame %d: top-1 of set a = %v, want [y] (top_k 1, best first)", seq, rs[0].Labels)
		}
	}
	if e, c := labeler.embeds.Load(), labeler.classifies.Load(); e != int64(len(byFrame)) || c != 2*e {
		t.Errorf("%d embeddings and %d classifications for %d frames; want one embedding per frame and one classification per set", e, c, len(byFrame))
	}
	if got := labeler.prepared; len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("prepared %v, want the text embeddings of a and b made before use", got)
	}
}

// A camera that delivers no new frame is not looked at again: the tick is skipped as
// same_frame.
func TestSameFrameIsNotLabelledTwice(t *testing.T) {
	td := newTestDir(t)
	if err := os.MkdirAll(td.path("pics"), 0o755); err != nil {
		t.Fatal(err)
	}
	writePNG(t, td.path("pics/one.png"), 64, 48)
	td.write("set.yaml", "name: s\nlabels: [x]\n")
	cfg := td.config(`  - name: cam
    source: {kind: folder, path: pics, fps: 20}
    labels: {sets: [set.yaml], every: 10ms}
`)
	labeler := newTestLabeler()
	r := startDaemon(t, cfg, &Models{Labeler: labeler}, Options{})
	eventually(t, "5 ticks skipped for want of a new frame", func() bool { return r.metric("skipped", "cam", "labels", skipSameFrame) >= 5 })
	if n := labeler.embeds.Load(); n != 1 {
		t.Errorf("one picture embedded %d times", n)
	}
}

// Frames a source delivers faster than they are used are dropped (the latest wins) and
// counted; so are ticks before the first frame.
func TestDroppedFramesAreCounted(t *testing.T) {
	td := newTestDir(t)
	td.write("set.yaml", "name: s\nlabels: [x]\n")
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 100}
    labels: {sets: [set.yaml], every: 100ms}
`)
	r := startDaemon(t, cfg, &Models{Labeler: newTestLabeler()}, Options{})
	eventually(t, "5 labels", func() bool { return r.rec.count(KindLabels) >= 5 })
	eventually(t, "dropped frames in /metrics", func() bool {
		return scrape(t, r.d, "edged_frames_dropped_total") > 20
	})
	// Every frame captured is dropped, taken, or waiting in the slot; the counters only grow,
	// so reading captured last keeps the sum within it while the camera runs on.
	used := testutil.ToFloat64(r.d.metrics.framesUsed.WithLabelValues("cam"))
	dropped := scrape(t, r.d, "edged_frames_dropped_total")
	captured := scrape(t, r.d, "edged_frames_captured_total")
	if used < 5 || dropped+used > captured {
		t.Errorf("captured %v, dropped %v, used %v: want used ≥ 5 and dropped + used ≤ captured", captured, dropped, used)
	}
}

// With the motion gate on, a picture that does not change is looked at once.
func TestMotionGateSkipsAStillPicture(t *testing.T) {
	td := newTestDir(t)
	td.write("set.yaml", "name: s\nlabels: [x]\n")
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 50, scene_every: 1h}
    labels: {sets: [set.yaml], every: 10ms}
    motion: {enabled: true, max_skip: 1h}
`)
	labeler := newTestLabeler()
	r := startDaemon(t, cfg, &Models{Labeler: labeler}, Options{})
	eventually(t, "5 ticks skipped as still", func() bool { return r.metric("skipped", "cam", "labels", skipStill) >= 5 })
	if n := labeler.embeds.Load(); n != 1 {
		t.Errorf("a still picture embedded %d times", n)
	}
}

// A label over its threshold starts an event (with a snapshot); falling below threshold
// minus hysteresis ends it, with the same id.
func TestEventsAndSnapshots(t *testing.T) {
	td := newTestDir(t)
	td.write("set.yaml", "name: s\nthreshold: 0.5\nlabels: [x, {name: y, threshold: 0.8}]\n")
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 50, width: 320, height: 240}
    labels: {sets: [set.yaml], every: 10ms, hysteresis: 0.1}
    snapshot: {on_events: true, max_width: 160, quality: 70}
`)
	labeler := newTestLabeler()
	r := startDaemon(t, cfg, &Models{Labeler: labeler}, Options{})
	labeler.setScore("x", 0.6)
	labeler.setScore("y", 0.7) // under y's own threshold
	eventually(t, "x's start event", func() bool { return r.rec.count(KindEvent) >= 1 })
	eventually(t, "its snapshot", func() bool { return r.rec.count(KindSnapshot) >= 1 })
	labeler.setScore("x", 0.45) // above 0.5 - 0.1: still on
	n := r.rec.count(KindLabels)
	eventually(t, "more labels", func() bool { return r.rec.count(KindLabels) > n+5 })
	labeler.setScore("x", 0.3)
	eventually(t, "x's end event", func() bool { return r.rec.count(KindEvent) >= 2 })

	evs := r.rec.of(KindEvent)
	if len(evs) != 2 {
		t.Fatalf("events %v, want x's start and end only", evs)
	}
	start, end := evs[0].Event, evs[1].Event
	if start.Type != "start" || start.Label != "x" || end.Type != "end" || end.ID != start.ID || end.Score != 0.3 {
		t.Errorf("start %+v, end %+v", start, end)
	}
	snaps := r.rec.of(KindSnapshot)
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots for one event start", len(snaps))
	}
	img, err := jpeg.Decode(bytes.NewReader(snaps[0].JPEG))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 160 || b.Dy() != 120 {
		t.Errorf("snapshot %v, want 160x120 (max_width 160)", b)
	}
	if got := r.metric("events", "cam", "start"); got != 1 {
		t.Errorf("edged_events_total{start} = %v", got)
	}
}

// The standing questions are all asked of one frame, every interval.
func TestStandingQuestions(t *testing.T) {
	td := newTestDir(t)
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 50}
    questions: {every: 20ms, ask: ['one?', 'two?']}
`)
	r := startDaemon(t, cfg, &Models{Answerer: newTestAnswerer()}, Options{})
	eventually(t, "4 answers", func() bool { return r.rec.count(KindAnswer) >= 4 })
	as := r.rec.of(KindAnswer)
	if as[0].Question != "one?" || as[1].Question != "two?" || as[0].Frame.Seq != as[1].Frame.Seq || as[0].Text != "answer to one?" {
		t.Errorf("answers %+v %+v: want both questions about the same frame", as[0], as[1])
	}
	if as[0].Asked {
		t.Error("a standing answer is marked as asked")
	}
}

// An ask is answered about the newest frame, ahead of standing questions waiting on the
// BLIP lane; bad asks get clear errors.
func TestAsk(t *testing.T) {
	td := newTestDir(t)
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 50}
`)
	r := startDaemon(t, cfg, &Models{Answerer: newTestAnswerer()}, Options{})
	ctx := context.Background()
	eventually(t, "a frame", func() bool { return r.d.sources[0].Stats().Captured > 0 })
	a, err := r.d.ask(ctx, "cam", "what is it?", "req-1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Answer != "answer to what is it?" || a.Frame == 0 || a.Ts.IsZero() {
		t.Errorf("answer %+v", a)
	}
	if got := r.rec.of(KindAnswer); len(got) != 1 || !got[0].Asked || got[0].RequestID != "req-1" {
		t.Errorf("results %+v: want the asked answer, marked as such", got)
	}
	if _, err := r.d.ask(ctx, "nope", "q?", ""); err == nil || !strings.Contains(err.Error(), `unknown camera "nope"`) {
		t.Errorf("unknown camera: %v", err)
	}

	td2 := newTestDir(t)
	r2 := startDaemon(t, td2.config("  - name: cam\n    source: {kind: synthetic}\n"), &Models{}, Options{})
	if _, err := r2.d.ask(ctx, "cam", "q?", ""); err == nil || !strings.Contains(err.Error(), "models.blip_vqa") {
		t.Errorf("without a VQA model: %v", err)
	}
}

// An ask waiting for the BLIP lane goes before scheduled work queued earlier.
func TestLaneTakesUrgentJobsFirst(t *testing.T) {
	l := newLane("test", 8, discardLogger())
	running, release := make(chan struct{}), make(chan struct{})
	var order []string
	l.start(context.Background(), 1)
	l.trySubmit(&job{run: func(context.Context) { close(running); <-release }})
	<-running
	l.trySubmit(&job{run: func(context.Context) { order = append(order, "scheduled") }})
	if err := l.submitUrgent(context.Background(), &job{run: func(context.Context) { order = append(order, "ask") }}); err != nil {
		t.Fatal(err)
	}
	close(release)
	l.close()
	l.wait()
	if strings.Join(order, ",") != "ask,scheduled" {
		t.Errorf("order %v, want the ask first", order)
	}
	if l.trySubmit(&job{}) {
		t.Error("a closed lane took a job")
	}
	if err := l.submitUrgent(context.Background(), &job{}); !errors.Is(err, errLaneClosed) {
		t.Errorf("urgent job on a closed lane: %v", err)
	}
}

func TestLaneWorkers(t *testing.T) {
	for _, c := range []struct{ workers, labels, blip int }{{1, 1, 1}, {2, 1, 1}, {3, 2, 1}, {4, 2, 2}, {8, 4, 4}} {
		if l, b := laneWorkers(c.workers); l != c.labels || b != c.blip {
			t.Errorf("laneWorkers(%d) = %d, %d; want %d, %d", c.workers, l, b, c.labels, c.blip)
		}
	}
}

// SIGTERM (ctx ending) lets the job in flight finish and be published before Run returns.
func TestShutdownDrainsInFlightWork(t *testing.T) {
	td := newTestDir(t)
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 50}
    caption: {every: 10ms}
`)
	captioner := newHeldCaptioner()
	r := startDaemon(t, cfg, &Models{Captioner: captioner}, Options{DrainTimeout: time.Minute})
	eventually(t, "a caption job running", func() bool { return captioner.calls.Load() == 1 })
	r.cancel()
	eventually(t, "the drain to begin", func() bool { return strings.Contains(r.logs.String(), "finishing in-flight work") })
	select {
	case err := <-r.done:
		t.Fatalf("Run returned (%v) with a job in flight", err)
	default:
	}
	captioner.release <- struct{}{}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := r.rec.of(KindCaption); len(got) != 1 || got[0].Text != "caption 1" {
		t.Errorf("captions %v: want the in-flight one published", got)
	}
}

// Work that outlives the drain timeout is cancelled.
func TestShutdownCancelsWorkAtTheDrainTimeout(t *testing.T) {
	td := newTestDir(t)
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 50}
    caption: {every: 10ms}
`)
	captioner := newHeldCaptioner()
	r := startDaemon(t, cfg, &Models{Captioner: captioner}, Options{DrainTimeout: 50 * time.Millisecond})
	eventually(t, "a caption job running", func() bool { return captioner.calls.Load() == 1 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.logs.String(), "did not finish in time") {
		t.Errorf("no warning about the cancelled work; log:\n%s", r.logs.String())
	}
	if got := r.metric("jobs", "cam", "caption", "error"); got != 1 {
		t.Errorf("edged_jobs_total{caption,error} = %v, want the cancelled job", got)
	}
}

// scrape reads a metric's value summed over its series, as Prometheus would see it.
func scrape(t *testing.T, d *Daemon, name string) float64 {
	t.Helper()
	fams, err := d.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writePNG(t *testing.T, p string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// slowCaptioner is the real captioner made slow: each caption waits until the test lets it
// go, as BLIP base on a Pi takes seconds. Holding it, rather than sleeping a fixed time, keeps
// the test free of timing assumptions.
type slowCaptioner struct {
	Captioner
	calls   atomic.Int64
	release chan struct{}
}

func (c *slowCaptioner) Caption(ctx context.Context, img image.Image, o CaptionOptions) (Caption, error) {
	c.calls.Add(1)
	select {
	case <-c.release:
	case <-ctx.Done():
		return Caption{}, ctx.Err()
	}
	return c.Captioner.Caption(ctx, img, o)
}

// With the real shapes models, a caption that takes as long as the test likes does not hold
// up labels: they keep coming from the label lane while caption ticks are skipped as busy.
func TestRealModelsLabelsNotStarvedBySlowCaptioner(t *testing.T) {
	if testing.Short() {
		t.Skip("converts and runs the shapes models")
	}
	td := newTestDir(t)
	td.write("shapes.yaml", readFile(t, "../../configs/labels/shapes.yaml"))
	shapesModels, err := filepath.Abs("../../models/shapes")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := td.write("config.yaml", `device: test
http: ""
cache_dir: cache
runtime: {workers: 2}
mqtt: {broker: embedded, listen: '127.0.0.1:0'}
models: {clip: `+shapesModels+`/clip, blip_caption: `+shapesModels+`/blip_caption}
cameras:
  - name: cam
    source: {kind: synthetic, fps: 20, scene_every: 300ms}
    labels: {sets: [shapes.yaml], every: 50ms}
    caption: {every: 50ms}
`)
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	models := loadAll(t, cfg)
	slow := &slowCaptioner{Captioner: models.Captioner, release: make(chan struct{})}
	models.Captioner = slow
	r := startDaemon(t, cfgPath, models, Options{})

	for round := 1; round <= 2; round++ {
		eventually(t, "a caption job to start", func() bool { return slow.calls.Load() == int64(round) })
		labelsAt, busyAt := r.rec.count(KindLabels), r.metric("skipped", "cam", "caption", skipBusy)
		eventually(t, "10 labels while the caption is held", func() bool { return r.rec.count(KindLabels) >= labelsAt+10 })
		eventually(t, "caption ticks skipped as busy", func() bool { return r.metric("skipped", "cam", "caption", skipBusy) >= busyAt+3 })
		if n := slow.calls.Load(); n != int64(round) {
			t.Fatalf("%d caption calls while caption %d was held", n, round)
		}
		slow.release <- struct{}{}
		eventually(t, "the held caption", func() bool { return r.rec.count(KindCaption) == round })
	}
	for _, c := range r.rec.of(KindCaption) {
		if !strings.HasSuffix(c.Text, "background") {
			t.Errorf("caption %q is not from the shapes captioner", c.Text)
		}
	}
	close(slow.release) // let any later caption finish at shutdown
}
