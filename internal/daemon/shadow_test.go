package daemon

import (
	"context"
	"errors"
	"image"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/fidelity"
)

// checkTally is one shadow check's tally: the embeddings' cosine and whether the top-1 labels
// agreed.
func checkTally(cosine float64, same bool) fidelity.Tally {
	var t fidelity.Tally
	t.AddCosine(cosine)
	t.AddTop1(same, "frame", "shapes", "red circle", map[bool]string{true: "red circle", false: "blue square"}[same])
	return t
}

// The running agreement is judged only once the window is full, over the latest checks only:
// a bad check fails it while it is in the window and no longer once newer ones pushed it out;
// a reset starts over.
func TestAgreementWindow(t *testing.T) {
	th := fidelity.DefaultThresholds()
	w := newAgreementWindow(4)
	for i := range 3 {
		w.add(checkTally(0.999, true))
		if _, full := w.judge(th); full {
			t.Fatalf("judged after %d checks of 4", i+1)
		}
	}
	w.add(checkTally(0.999, true))
	if r, full := w.judge(th); !full || !r.Passed || r.Frames != 4 {
		t.Fatalf("four good checks: full %v, %+v", full, r)
	}
	w.add(checkTally(0.30, false)) // a frame the int8 model gets wrong
	var s ShadowStatus
	r, full := w.status(&s, th)
	if !full || r.Passed || r.Frames != 4 || r.WorstCosine != 0.30 || r.Top1Agreement != 0.75 {
		t.Fatalf("with a bad check: full %v, %+v", full, r)
	}
	if s.Window != 4 || s.WindowSize != 4 || s.WorstCosine != 0.30 || !strings.Contains(s.Agreement, "worst cosine 0.3000 < 0.9500") ||
		!strings.Contains(s.Agreement, "top-1 agreement 3/4") {
		t.Errorf("status %+v", s)
	}
	for range 3 {
		w.add(checkTally(0.999, true))
		if r, _ := w.judge(th); r.Passed {
			t.Fatalf("passed while the bad check is in the window: %+v", r)
		}
	}
	w.add(checkTally(0.999, true)) // the bad check leaves the window
	if r, full := w.judge(th); !full || !r.Passed || r.WorstCosine != 0.999 {
		t.Errorf("after the bad check left the window: full %v, %+v", full, r)
	}
	w.reset()
	if _, full := w.status(&s, th); full || s.Window != 0 || s.Agreement != "" {
		t.Errorf("after reset: full %v, status %+v", full, s)
	}
}

// A check runs on one frame in every, or on the first frame once interval has passed since the
// last check began, and never while one runs.
func TestShadowTrigger(t *testing.T) {
	start := time.Unix(1000, 0)
	tr := newShadowTrigger(ShadowOptions{Every: 3, Interval: time.Minute}, start)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	var got []bool
	for i := range 7 {
		ok := tr.frame(at(time.Duration(i) * time.Second))
		got = append(got, ok)
		if ok {
			tr.done()
		}
	}
	want := []bool{false, false, true, false, false, true, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frames 1-7: checks %v, want %v", got, want)
		}
	}
	// Frame 8 comes after the interval: a check, although only two frames passed.
	if !tr.frame(at(5*time.Second + time.Minute)) {
		t.Fatal("no check after the interval")
	}
	// While it runs, no other frame starts one, however many pass.
	for i := range 10 {
		if tr.frame(at(2*time.Minute + time.Duration(i)*time.Second)) {
			t.Fatalf("frame %d started a check while one ran", i)
		}
	}
	tr.done()
	if !tr.frame(at(3 * time.Minute)) {
		t.Error("no check after the running one ended (frames and interval both due)")
	}
}

// fakeReference is a safe model whose checks agree while agree says so; safe() hands out the
// safe fakeCLIP.
type fakeReference struct {
	agree    atomic.Bool
	batches  atomic.Int32
	model    *fakeCLIP
	prepared atomic.Int32
}

func (f *fakeReference) prepare(context.Context) error { f.prepared.Add(1); return nil }

func (f *fakeReference) keep(_ swappableCLIP, _ image.Image, emb []float32) (shadowFrame, error) {
	return shadowFrame{emb: append([]float32(nil), emb...)}, nil
}

func (f *fakeReference) compare(_ context.Context, cand swappableCLIP, frames []shadowFrame, sets []*clip.LabelSet) ([]fidelity.Tally, error) {
	f.batches.Add(1)
	if fc := cand.(*fakeCLIP); fc.closed.Load() {
		return nil, errClosedModel
	}
	var out []fidelity.Tally
	for _, fr := range frames {
		if len(fr.emb) != 2 || len(sets) != 1 {
			return nil, errors.New("a frame without its embedding, or not the one label set")
		}
		if f.agree.Load() {
			out = append(out, checkTally(0.999, true))
		} else {
			out = append(out, checkTally(0.30, false))
		}
	}
	return out, nil
}

func (f *fakeReference) safe(context.Context) (swappableCLIP, error) { return f.model, nil }

// A full-int8 model that shadow checks find disagreeing with the safe one is replaced by the
// safe one as soon as the window's agreement fails; the daemon calibrates again, and the model
// that passes the gate labels and is checked again, with a new window. The status says each
// step; frames keep going into the reservoir while the int8 model labels.
func TestShadowChecksFallBackAndRecalibrate(t *testing.T) {
	opts := CalibrationOptions{Reservoir: ReservoirOptions{Every: time.Nanosecond, Max: 16},
		MinFrames: 8, MinSpan: time.Nanosecond, Retry: time.Nanosecond,
		Shadow: ShadowOptions{Every: 1, Interval: time.Hour, Batch: 2, Window: 3}}
	_, set, res := calibrationFixture(t, &opts)
	bad, recalibrated := &fakeCLIP{name: "bad-int8"}, &fakeCLIP{name: "int8"}
	ref := &fakeReference{model: &fakeCLIP{name: "safe"}}
	var runs atomic.Int32
	proceed := make(chan struct{}) // the conversion waits for the test to look at the fallback
	run := func(ctx context.Context, _ *Reservoir, _ gateInputs) (string, *fidelity.Report, error) {
		runs.Add(1)
		select {
		case <-proceed:
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
		ref.agree.Store(true) // the recalibrated model agrees
		return t.TempDir(), &fidelity.Report{Passed: true, Frames: 2}, nil
	}
	publish := func(string, *Reservoir) (*bundle.Bundle, error) { return &bundle.Bundle{}, nil }
	load := func(*bundle.Bundle) (swappableCLIP, error) { return recalibrated, nil }
	var log statusLog
	c := newCalibratingLabeler(bad, true, calibrationParts{res: res, run: run, load: load, publish: publish, report: log.report, ref: ref},
		opts, discardLogger())
	ctx := context.Background()
	if err := c.PrepareLabels(ctx, set); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	label := func() string {
		emb, err := c.EmbedImage(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Classify(ctx, emb, set)
		if err != nil {
			t.Fatal(err)
		}
		return s[0].Label
	}
	// The bad model labels until two batches of two checks fill the window of three (the
	// agreement fails at the third check); then the safe one at once. The status says so once
	// the swap is done (the old model closed, its memory handed back).
	eventually(t, "the fallback to the safe model", func() bool {
		if label() != "safe" {
			return false
		}
		_, last, _ := log.get()
		return last.Shadow != nil && last.Shadow.Fallbacks > 0
	})
	_, last, lastPrecision := log.get()
	if ref.batches.Load() != 2 || last.Shadow == nil || last.Shadow.Checks != 3 || last.Shadow.Fallbacks != 1 || lastPrecision != "int8-dynamic" ||
		!strings.Contains(last.Shadow.FellBack, "worst cosine 0.3000 < 0.9500") {
		t.Errorf("after the fallback: %d batches, status %+v (shadow %+v) at %s; want 2 batches, 3 checks, 1 fallback",
			ref.batches.Load(), last, last.Shadow, lastPrecision)
	}
	if !bad.closed.Load() {
		t.Error("the disagreeing model was not closed")
	}
	if res.State().Calibration+res.State().Check == 0 {
		t.Error("no frame kept while the full-int8 model labelled")
	}
	// The reservoir is ready: a conversion, the gate passes, the new model labels and is checked.
	close(proceed)
	eventually(t, "the recalibrated model", func() bool { return label() == "int8" })
	eventually(t, "a full window of checks on the recalibrated model", func() bool {
		label()
		_, last, _ := log.get()
		return last.Shadow != nil && last.Shadow.Window == 3
	})
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	states, last, lastPrecision := log.get()
	want := []string{calCalibrated, calCollecting, calConverting, calCalibrated}
	if strings.Join(states, ",") != strings.Join(want, ",") {
		t.Errorf("states %v, want %v", states, want)
	}
	if runs.Load() != 1 || last.Shadow.Fallbacks != 1 || last.Shadow.Agreement != "passed" || last.Shadow.Error != "" || lastPrecision != "int8" {
		t.Errorf("at the end: %d conversions, shadow %+v at %s; want 1 conversion, 1 fallback, the new window passed", runs.Load(), last.Shadow, lastPrecision)
	}
	if ref.model.closed.Load() != true || recalibrated.closed.Load() != true {
		t.Errorf("closed: safe %v (replaced), recalibrated %v (closed with the labeler)", ref.model.closed.Load(), recalibrated.closed.Load())
	}
}
