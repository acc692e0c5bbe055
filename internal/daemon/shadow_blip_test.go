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

// fakeBLIPReference is the real safe shapes captioner, whose comparisons run (each kept frame
// must give one cosine and one caption compared) but whose verdict is agree's.
type fakeBLIPReference struct {
	safeBLIP
	agree   atomic.Bool
	batches atomic.Int32
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
		if real[i].Frames() != 1 || real[i].TextCompared() != 1 {
			f.t.Errorf("frame %d: %d cosines and %d captions compared, want 1 and 1", i, real[i].Frames(), real[i].TextCompared())
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

// A full-int8 BLIP captioner that shadow checks find agreeing with the safe model keeps
// captioning; once they disagree the safe pool is swapped in as soon as the window's
// agreement fails, the reservoir (which kept frames meanwhile) is calibrated on again, and the
// model that passes the gate captions and is checked again, with a new window.
func TestBLIPShadowChecksFallBackAndRecalibrate(t *testing.T) {
	safe, int8 := shapesBLIPBundle(t, "blip_caption", convert.SafePrecision), shapesBLIPBundle(t, "blip_caption", graph.Int8Full)
	opts := CalibrationOptions{Reservoir: ReservoirOptions{Every: time.Nanosecond, Max: 16},
		MinFrames: 8, MinSpan: time.Nanosecond, Retry: time.Nanosecond,
		Shadow: ShadowOptions{Every: 1, Interval: time.Hour, Batch: 2, Window: 3}}
	_, _, res := calibrationFixture(t, &opts)
	l := &loader{run: tflite.Options{Threads: 1}, blipWorkers: 1}
	ref := &fakeBLIPReference{safeBLIP: safeBLIP{safeBundle: safeBundle{b: safe}, run: l.run}, t: t}
	ref.agree.Store(true)
	var runs atomic.Int32
	run := func(context.Context, *Reservoir, gateInputs) (string, *fidelity.Report, error) {
		runs.Add(1)
		return t.TempDir(), &fidelity.Report{Passed: true, Frames: 2}, nil
	}
	publish := func(string, *Reservoir) (*bundle.Bundle, error) { return int8, nil } // recalibrated
	var log statusLog
	c := &calibratingBLIP{load: func(b *bundle.Bundle) (*blipPool, error) {
		return newBLIPPool(b, l.run, l.blipWorkers, blip.ArchCaption)
	}}
	c.initCalibrator(fieldBLIPCaption, "captioning", true, calibrationParts{res: res, run: run, publish: publish, report: log.report}, opts, discardLogger())
	c.gateInputs = func() (gateInputs, string) { return gateInputs{}, "" }
	c.install = c.swapInPool
	c.watch(ref)
	part, capt, err := l.openBLIP(fieldBLIPCaption, blip.ArchCaption, int8, c)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := 20; y < 40; y++ {
		for x := 20; x < 40; x++ {
			img.Set(x, y, color.RGBA{R: 255, A: 255})
		}
	}
	ctx := context.Background()
	caption := func() string {
		cp, err := capt.Caption(ctx, img, CaptionOptions{Beams: 1, MaxTokens: 12})
		if err != nil || cp.Text == "" {
			t.Fatalf("caption %q: %v", cp.Text, err)
		}
		return poolPrecision(capt.pool)
	}
	shadow := func() ShadowStatus {
		_, last, _ := log.get()
		if last.Shadow == nil {
			return ShadowStatus{}
		}
		return *last.Shadow
	}

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
