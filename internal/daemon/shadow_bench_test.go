package daemon

import (
	"context"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/cputime"
	"github.com/edged/edged/internal/fidelity"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// shadowBenchBundles are the full-int8 and the safe bundle of one checkpoint: those named by
// EDGED_SHADOW_INT8 and EDGED_SHADOW_SAFE (real-size towers: see BENCHMARKS.md), else the
// shapes CLIP converted at both precisions into a temporary cache.
func shadowBenchBundles(b *testing.B) (int8, safe *bundle.Bundle, textCache string) {
	b.Helper()
	textCache = b.TempDir()
	if i, s := os.Getenv("EDGED_SHADOW_INT8"), os.Getenv("EDGED_SHADOW_SAFE"); i != "" && s != "" {
		bi, err := bundle.Read(i)
		if err != nil {
			b.Fatal(err)
		}
		bs, err := bundle.Read(s)
		if err != nil {
			b.Fatal(err)
		}
		return bi, bs, textCache
	}
	cache := b.TempDir()
	open := func(p string) *bundle.Bundle {
		bb, err := models.Open(context.Background(), "../../models/shapes/clip", models.Options{CacheDir: cache, Precision: p})
		if err != nil {
			b.Fatal(err)
		}
		return bb
	}
	return open("int8"), open("int8-dynamic"), textCache
}

// benchFrame is a 640×480 frame with gradients and edges (the cost does not depend on it).
func benchFrame() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / 640), uint8(y * 255 / 480), uint8(200 * ((x/40 + y/40) % 2)), 255})
		}
	}
	return img
}

// threadCPU runs f on a locked OS thread and returns the CPU time that thread spent: with one
// interpreter thread TFLite runs on the caller, so this is the work itself, not the time other
// processes held the core.
func threadCPU(f func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := cputime.Thread()
	f()
	return cputime.Thread() - start
}

// BenchmarkShadowCost is the CPU time of a batch of shadow checks at the defaults (keeping 20
// frames, then loading the safe model, embedding them with it, the label set's classifiers,
// the comparisons) against the labelling of one frame at full int8 (embedding and
// classifying), on one interpreter thread. With one frame in every (500) kept and a batch of
// 20, the checks cost the labelling batch_ms / (every × batch × frame_ms) more CPU: reported
// as percent_at_defaults.
func BenchmarkShadowCost(b *testing.B) {
	bi, bs, textCache := shadowBenchBundles(b)
	opts := clip.Options{RunOptions: tflite.Options{Threads: 1}, TextCacheDir: textCache}
	lab, err := newCLIPLabeler(bi, opts, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer lab.close()
	set, err := clip.LoadLabelSet(filepath.Join("..", "..", "configs", "labels", "home.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := lab.PrepareLabels(ctx, set); err != nil {
		b.Fatal(err)
	}
	ref := &safeReference{safeBundle: safeBundle{b: bs}, opts: opts}
	img := benchFrame()
	var emb []float32
	label := func() {
		if emb, err = lab.EmbedImage(ctx, img); err == nil {
			_, err = lab.Classify(ctx, emb, set)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	def := ShadowOptions{}.withDefaults()
	check := func() {
		frames := make([]shadowFrame, def.Batch)
		for i := range frames {
			if frames[i], err = ref.keep(lab, img, emb); err != nil {
				b.Fatal(err)
			}
		}
		t, err := ref.compare(ctx, lab, frames, []*clip.LabelSet{set})
		if err != nil || len(t) != def.Batch || t[0].Frames() != 1 {
			b.Fatal(err)
		}
	}
	label()
	check() // the safe model's label embeddings into the text cache, as the first check does
	reportShadowCost(b, def, label, check)
}

// reportShadowCost measures the CPU time of frame (one frame at full int8) and check (a batch
// of shadow checks), round-robin, and reports them with the checks' share of the frames' CPU
// at o: a batch per o.Every × o.Batch frames.
func reportShadowCost(b *testing.B, o ShadowOptions, frame, check func()) {
	var frameCPU, checkCPU time.Duration
	b.ResetTimer()
	for range b.N {
		frameCPU += threadCPU(frame)
		checkCPU += threadCPU(check)
	}
	f := float64(frameCPU.Microseconds()) / 1000 / float64(b.N)
	c := float64(checkCPU.Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(f, "frame_ms")
	b.ReportMetric(c, "batch_ms")
	b.ReportMetric(100*c/(float64(o.Every*o.Batch)*f), "percent_at_defaults")
}

// cheapCLIP is a model whose calls cost nothing, to measure what calibratingLabeler adds.
type cheapCLIP struct {
	fakeCLIP
	emb []float32
}

func (c *cheapCLIP) EmbedImage(context.Context, image.Image) ([]float32, error) { return c.emb, nil }

// BenchmarkCalibratingEmbedImage is what calibratingLabeler adds to every labelled frame of a
// full-int8 model that shadow checks watch, between checks and reservoir looks: no allocation,
// no lock but the model's read lock.
func BenchmarkCalibratingEmbedImage(b *testing.B) {
	opts := CalibrationOptions{Reservoir: ReservoirOptions{Dir: b.TempDir(), Every: time.Hour},
		Shadow: ShadowOptions{Every: 1 << 30, Interval: time.Hour, Window: 4}}
	res, err := OpenReservoir(opts.Reservoir)
	if err != nil {
		b.Fatal(err)
	}
	m := &cheapCLIP{emb: []float32{1, 0}}
	c := newCalibratingLabeler(m, true, calibrationParts{res: res, report: func(string, CalibrationStatus) {}, ref: &fakeReference{}}, opts, discardLogger())
	defer c.close()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	ctx := context.Background()
	c.EmbedImage(ctx, img) // the first frame is looked at by the reservoir
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.EmbedImage(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBLIPShadowCost is BenchmarkShadowCost for a full-int8 BLIP captioner at BLIP's
// defaults: the CPU time of a batch of shadow checks (loading the safe model, encoding the
// kept frames' pixels with it, the same greedy caption, the comparisons) against captioning
// one frame at full int8 (vision tower and greedy caption), on one thread. The bundles are
// EDGED_SHADOW_BLIP_INT8 and EDGED_SHADOW_BLIP_SAFE (real size: see BENCHMARKS.md), else the
// shapes captioner at both precisions.
func BenchmarkBLIPShadowCost(b *testing.B) {
	var bi, bs *bundle.Bundle
	if i, s := os.Getenv("EDGED_SHADOW_BLIP_INT8"), os.Getenv("EDGED_SHADOW_BLIP_SAFE"); i != "" && s != "" {
		var err error
		if bi, err = bundle.Read(i); err != nil {
			b.Fatal(err)
		}
		if bs, err = bundle.Read(s); err != nil {
			b.Fatal(err)
		}
	} else {
		cache := b.TempDir()
		open := func(p string) *bundle.Bundle {
			bb, err := models.Open(context.Background(), "../../models/shapes/blip_caption", models.Options{CacheDir: cache, Precision: p})
			if err != nil {
				b.Fatal(err)
			}
			return bb
		}
		bi, bs = open("int8"), open("int8-dynamic")
	}
	run := tflite.Options{Threads: 1}
	p, err := newBLIPPool(bi, run, 1, bi.Manifest.Architecture)
	if err != nil {
		b.Fatal(err)
	}
	defer p.close()
	ref := &safeBLIP{safeBundle: safeBundle{b: bs}, run: run}
	img := benchFrame()
	ctx := context.Background()
	gen := p.generateOptions(CaptionOptions{Beams: 1, MaxTokens: 20})
	var kept blipShadowFrame
	caption := func() {
		err := p.sessions.With(ctx, func(s *blip.Session) error {
			im, err := s.EncodeImage(img)
			if err != nil {
				return err
			}
			text, err := s.Caption(im, "", gen)
			if err != nil {
				return err
			}
			px, err := p.model.Processor().Process(img, nil)
			kept = blipShadowFrame{pixels: px, embeds: append([]float32(nil), im.Embeds()...),
				texts: []fidelity.BLIPText{{Options: gen, Text: text}}}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	def := blipShadowDefaults
	check := func() {
		frames := make([]blipShadowFrame, def.Batch)
		for i := range frames {
			frames[i] = kept
		}
		t, err := ref.compare(frames)
		if err != nil || len(t) != def.Batch || t[0].Frames() != 1 || t[0].TextCompared() != 1 {
			b.Fatal(err)
		}
	}
	caption()
	reportShadowCost(b, def, caption, check)
}
