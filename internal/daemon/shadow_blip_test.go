package daemon

import (
	"context"
	"image"
	"image/color"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/fidelity"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/tflite"
)

// fakeBLIPReference is the real safe shapes model, whose comparisons run (each kept frame must
// give one cosine and texts captions or answers compared) but whose verdict is agree's.
type fakeBLIPReference struct {
	safeBLIP
	agree   atomic.Bool
	batches atomic.Int32
	texts   int
	t       *testing.T
}

func (f *fakeBLIPReference) compare(frames []blipShadowFrame) ([]fidelity.Tally, error) {
	f.batches.Add(1)
	real, err := f.safeBLIP.compare(frames)
	if err != nil {
		return nil, err
	}
	out := make([]fidelity.Tally, len(frames))
	for i := range real {
		if real[i].Frames() != 1 || real[i].TextCompared() != f.texts {
			f.t.Errorf("frame %d: %d cosines and %d texts compared, want 1 and %d", i, real[i].Frames(), real[i].TextCompared(), f.texts)
		}
		c, text := 0.999, "a red circle"
		if !f.agree.Load() {
			c, text = 0.30, "a blue square"
		}
		out[i].AddCosine(c)
		out[i].AddText("frame", "caption", "a red circle", text)
	}
	return out, nil
}

// blipShadowFixture is a full-int8 shapes BLIP model (name) under shadow checks against
// fakeBLIPReference, which starts agreeing; its conversions wait for proceed, then pass and
// publish the int8 bundle.
type blipShadowFixture struct {
	c          *calibratingBLIP
	ref        *fakeBLIPReference
	res        *Reservoir
	log        shadowLog
	runs       atomic.Int32
	proceed    chan struct{} // closed: a conversion passes (until then it waits)
	l          *loader
	int8, safe *bundle.Bundle
}

func newBLIPShadowFixture(t *testing.T, name, arch string, texts int) *blipShadowFixture {
	f := &blipShadowFixture{safe: shapesBLIPBundle(t, name, convert.SafePrecision), int8: shapesBLIPBundle(t, name, graph.Int8Full)}
	opts := CalibrationOptions{Reservoir: ReservoirOptions{Every: time.Nanosecond, Max: 16},
		MinFrames: 8, MinSpan: time.Nanosecond, Retry: time.Nanosecond,
		Shadow: ShadowOptions{Every: 1, Interval: time.Hour, Batch: 2, Window: 3}}
	_, _, f.res = calibrationFixture(t, &opts)
	f.l = &loader{run: tflite.Options{Threads: 1}, blipWorkers: 1}
	f.ref = &fakeBLIPReference{safeBLIP: safeBLIP{safeBundle: safeBundle{b: f.safe}, run: f.l.run}, texts: texts, t: t}
	f.ref.agree.Store(true)
	f.proceed = make(chan struct{})
	run := func(ctx context.Context, _ *Reservoir, _ gateInputs) (string, *fidelity.Report, error) {
		f.runs.Add(1)
		select {
		case <-f.proceed:
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
		return t.TempDir(), &fidelity.Report{Passed: true, Frames: 2}, nil
	}
	publish := func(string, *Reservoir) (*bundle.Bundle, error) { return f.int8, nil } // recalibrated
	f.c = &calibratingBLIP{load: func(b *bundle.Bundle) (*blipPool, error) { return newBLIPPool(b, f.l.run, f.l.blipWorkers, arch) }}
	field := map[string]string{"blip_caption": fieldBLIPCaption, "blip_vqa": fieldBLIPVQA}[name]
	f.c.initCalibrator(field, blipTask(field), true, calibrationParts{res: f.res, run: run, publish: publish, report: f.log.report}, opts, discardLogger())
	f.c.gateInputs = func() (gateInputs, string) { return gateInputs{}, "" }
	f.c.install = f.c.swapInPool
	f.c.watch(f.ref)
	t.Cleanup(f.c.stop)
	return f
}

// shadowLog is the statuses reported, with the shadow checks' last.
type shadowLog struct{ statusLog }

func (l *shadowLog) shadow() ShadowStatus {
	_, last, _ := l.get()
	if last.Shadow == nil {
		return ShadowStatus{}
	}
	return *last.Shadow
}

// shadowTestFrame is a red square on black.
func shadowTestFrame() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := 20; y < 40; y++ {
		for x := 20; x < 40; x++ {
			img.Set(x, y, color.RGBA{R: 255, A: 255})
		}
	}
	return img
}

// A full-int8 BLIP captioner that shadow checks find agreeing with the safe model keeps
// captioning; once they disagree the safe pool is swapped in as soon as the window's
// agreement fails, the reservoir (which kept frames meanwhile) is calibrated on again, and the
// model that passes the gate captions and is checked again, with a new window.
func TestBLIPShadowChecksFallBackAndRecalibrate(t *testing.T) {
	f := newBLIPShadowFixture(t, "blip_caption", blip.ArchCaption, 1)
	c, ref, res, log, runs := f.c, f.ref, f.res, &f.log, &f.runs
	part, capt, err := f.l.openBLIP(fieldBLIPCaption, blip.ArchCaption, f.int8, c)
	if err != nil {
		t.Fatal(err)
	}
	img := shadowTestFrame()
	ctx := context.Background()
	caption := func() string {
		cp, err := capt.Caption(ctx, img, CaptionOptions{Beams: 1, MaxTokens: 12})
		if err != nil || cp.Text == "" {
			t.Fatalf("caption %q: %v", cp.Text, err)
		}
		return poolPrecision(capt.pool)
	}
	shadow := log.shadow

	// Agreeing: a full window that passed, and the int8 model still captions.
	eventually(t, "a full window of agreeing checks", func() bool { caption(); return shadow().Agreement == "passed" })
	if got := caption(); got != "int8" || shadow().Fallbacks != 0 || shadow().TextAgreement == nil || *shadow().TextAgreement != 1 {
		t.Fatalf("agreeing checks: captions at %s, shadow %+v; want int8, no fallback, text agreement 1", got, shadow())
	}

	// Disagreeing: the safe pool is swapped in, the status says why.
	ref.agree.Store(false)
	eventually(t, "the fallback to the safe model", func() bool { return caption() == "int8-dynamic" && shadow().Fallbacks == 1 })
	if sh := shadow(); !strings.Contains(sh.FellBack, "worst cosine 0.3000 < 0.9500") || !strings.Contains(sh.FellBack, "identical captions/answers 2/3") {
		t.Errorf("fell back because %q, want the cosine and the captions named", sh.FellBack)
	}
	if res.State().Calibration+res.State().Check == 0 {
		t.Error("no frame kept while the full-int8 model captioned")
	}

	// Recalibrated: the model that passed the gate captions and is checked with a new window.
	ref.agree.Store(true)
	close(f.proceed)
	eventually(t, "the recalibrated model", func() bool { return caption() == "int8" })
	eventually(t, "a passed window on the recalibrated model", func() bool {
		caption()
		sh := shadow()
		return sh.Window == 3 && sh.Agreement == "passed"
	})
	if err := part.Close(); err != nil {
		t.Fatal(err)
	}
	c.stop()
	states, _, precision := log.get()
	want := []string{calCalibrated, calCollecting, calConverting, calCalibrated}
	if strings.Join(states, ",") != strings.Join(want, ",") || runs.Load() != 1 || precision != "int8" || shadow().Fallbacks != 1 {
		t.Errorf("states %v, %d conversions, at %s, %d fallbacks; want %v, 1, int8, 1", states, runs.Load(), precision, shadow().Fallbacks, want)
	}
}

// A full-int8 VQA model's checks compare the answers to the questions asked; after a fallback
// the safe pool answers, and a load after an idle unload reads the safe bundle, not the cache's
// full-int8 one.
func TestBLIPVQAShadowChecksFallBackAcrossAnUnload(t *testing.T) {
	questions := []string{"how many shapes are there?", "what color is the background?"}
	f := newBLIPShadowFixture(t, "blip_vqa", blip.ArchVQA, len(questions))
	f.ref.agree.Store(false)
	part, _, err := f.l.openBLIP(fieldBLIPVQA, blip.ArchVQA, f.int8, f.c)
	if err != nil {
		t.Fatal(err)
	}
	img, ctx := shadowTestFrame(), context.Background()
	answer := func(part *Models) string {
		a, err := part.Answerer.Answer(ctx, img, questions)
		if err != nil || len(a) != 2 || a[0] == "" {
			t.Fatalf("answers %q: %v", a, err)
		}
		return poolPrecision(part.Answerer.(*blipAnswerer).pool)
	}
	eventually(t, "the fallback to the safe model", func() bool { return answer(part) == "int8-dynamic" && f.log.shadow().Fallbacks == 1 })
	if f.ref.batches.Load() != 2 {
		t.Errorf("%d batches before the fallback, want 2 (a window of 3 checks in batches of 2)", f.ref.batches.Load())
	}
	if err := part.Close(); err != nil { // unloaded while idle
		t.Fatal(err)
	}
	part, _, err = f.l.openBLIP(fieldBLIPVQA, blip.ArchVQA, f.int8, f.c)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	if got := answer(part); got != "int8-dynamic" {
		t.Errorf("loaded again after the fallback at %s, want the safe int8-dynamic bundle", got)
	}
}
