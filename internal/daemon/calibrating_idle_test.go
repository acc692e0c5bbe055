package daemon

import (
	"context"
	"fmt"
	"image"
	"testing"
	"time"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/fidelity"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// textPolicy unloads idle text towers after the wait; no schedule keeps them.
func textPolicy(after time.Duration) *idleUnload {
	return &idleUnload{after: after, scheduled: func(string) bool { return false },
		metrics: newMetrics(statsSource{}), log: discardLogger(), prep: newPreparation(&Config{})}
}

// expireNow unloads m's part as if its wait had passed.
func expireNow(m *idleModel) {
	m.mu.Lock()
	m.last = time.Now().Add(-2 * m.policy.after)
	m.mu.Unlock()
	m.expire()
}

func noFaults(t *testing.T, models ...*fakeCLIP) {
	t.Helper()
	for _, m := range models {
		for _, f := range m.faultList() {
			t.Error(f)
		}
	}
}

// A model swapped in while the text tower is unloaded (a camera calibration that passed
// the gate) has its text tower closed too, though preparing the label sets opened it; the
// next search opens it again on the new model. A model swapped in while the text tower is
// loaded has it open, and the idle unloader then closes the new model's, not the old one's.
func TestCalibratingLabelerSwapKeepsTheIdleTextTowerState(t *testing.T) {
	opts := CalibrationOptions{Reservoir: ReservoirOptions{Every: time.Nanosecond, Max: 16},
		MinFrames: 4, MinSpan: time.Nanosecond}
	_, set, res := calibrationFixture(t, &opts)
	safe, calibrated, third := &fakeCLIP{name: "safe"}, &fakeCLIP{name: "int8"}, &fakeCLIP{name: "third"}
	pass := make(chan struct{})
	run := func(ctx context.Context, _ *Reservoir, _ gateInputs) (string, *fidelity.Report, error) {
		<-pass
		return t.TempDir(), &fidelity.Report{Passed: true, Frames: 2}, nil
	}
	publish := func(string, *Reservoir) (*bundle.Bundle, error) { return &bundle.Bundle{}, nil }
	load := func(*bundle.Bundle) (swappableCLIP, error) { return calibrated, nil }
	var log statusLog
	c := newCalibratingLabeler(safe, false, calibrationParts{res: res, run: run, load: load, publish: publish,
		report: log.report, unload: textPolicy(time.Hour)}, opts, discardLogger())
	ctx := context.Background()
	if err := c.PrepareLabels(ctx, set); err != nil {
		t.Fatal(err)
	}
	if !safe.textOpen.Load() || c.text == nil {
		t.Fatalf("safe model's text tower open %v, idle unloading %v after preparing labels; want both", safe.textOpen.Load(), c.text != nil)
	}

	// 1. Idle: the labelling model's text tower is closed.
	expireNow(c.text)
	if safe.textOpen.Load() || c.text.loaded() {
		t.Fatalf("after the idle wait: text tower open %v, loaded %v; want closed", safe.textOpen.Load(), c.text.loaded())
	}

	// 2. The calibrated model passes the gate and is swapped in while the text tower is idle.
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for range opts.MinFrames + 1 {
		if _, err := c.EmbedImage(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	close(pass)
	eventually(t, "the calibrated model swapped in", func() bool { _, last, _ := log.get(); return last.State == calCalibrated })
	if calibrated.textUses.Load() == 0 {
		t.Fatal("the label sets were not prepared on the calibrated model")
	}
	if calibrated.textOpen.Load() || c.text.loaded() || !safe.closed.Load() {
		t.Errorf("swapped in while idle: new text tower open %v, idle loaded %v, old model closed %v; want closed, unloaded, closed",
			calibrated.textOpen.Load(), c.text.loaded(), safe.closed.Load())
	}

	// 3. A search opens the new model's text tower again.
	if _, err := c.EmbedText(ctx, "a query"); err != nil {
		t.Fatal(err)
	}
	if !calibrated.textOpen.Load() || !c.text.loaded() {
		t.Errorf("after a search: text tower open %v, loaded %v; want both", calibrated.textOpen.Load(), c.text.loaded())
	}

	// 4. A swap while the text tower is in use leaves the new one open; idle, it is the new
	// model's that closes.
	if err := c.replace(third, "the calibrated model"); err != nil {
		t.Fatal(err)
	}
	if !third.textOpen.Load() || !calibrated.closed.Load() {
		t.Errorf("swapped in while loaded: new text tower open %v, old model closed %v; want both", third.textOpen.Load(), calibrated.closed.Load())
	}
	third.textOpen.Store(false) // as a fresh clip.Model: made on first use, or by OpenText
	if _, err := c.Match(ctx, img, []string{"a"}); err != nil || !third.textOpen.Load() {
		t.Fatalf("match on the new model: %v, text tower open %v", err, third.textOpen.Load())
	}
	expireNow(c.text)
	if third.textOpen.Load() {
		t.Error("the idle wait did not close the new model's text tower")
	}
	if err := c.close(); err != nil || !third.closed.Load() {
		t.Errorf("close: %v, model closed %v", err, third.closed.Load())
	}
	if _, _, err := c.text.use(); err == nil {
		t.Error("the idle text tower can still be used after close")
	}
	noFaults(t, safe, calibrated, third)
}

// Searches, label embeddings and caption matches run while frames are labelled, the idle
// unloader closes the text tower whenever it is unused a moment, and models are swapped: no
// call fails, no text tower is closed under a running call or on a closed model, every model
// swapped out is closed, and the model labelling at the end has its text tower as the idle
// unloader says. Run it with -race.
func TestCalibratingLabelerIdleTextAcrossSwaps(t *testing.T) {
	opts := CalibrationOptions{Reservoir: ReservoirOptions{Every: time.Hour}}
	_, set, res := calibrationFixture(t, &opts)
	first := &fakeCLIP{name: "model 0"}
	var log statusLog
	policy := textPolicy(100 * time.Microsecond)
	c := newCalibratingLabeler(first, true, calibrationParts{res: res, report: log.report, unload: policy}, opts, discardLogger())
	ctx := context.Background()
	if err := c.PrepareLabels(ctx, set); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	var loops []*callers
	loop := func(n int, call func() error) {
		loops = append(loops, callUntilStopped(n, func() error {
			err := call()
			if err != nil {
				t.Errorf("a call failed across unloads and swaps: %v", err)
			}
			return err
		}))
	}
	calls := func() (n int32) {
		for _, l := range loops {
			n += l.calls.Load()
		}
		return n
	}
	loop(2, func() error {
		emb, err := c.EmbedImage(ctx, img)
		if err == nil {
			_, err = c.Classify(ctx, emb, set)
		}
		return err
	})
	loop(1, func() error { _, err := c.EmbedText(ctx, "a query"); return err })
	loop(1, func() error { _, err := c.LabelEmbeddings(ctx, set); return err })
	loop(1, func() error { _, err := c.Match(ctx, img, []string{"a"}); return err })

	models := []*fakeCLIP{first}
	for i := 1; i <= 40; i++ {
		next := &fakeCLIP{name: fmt.Sprintf("model %d", i)}
		if err := c.replace(next, "the model before"); err != nil {
			t.Fatal(err)
		}
		models = append(models, next)
	}
	n := calls()
	eventually(t, "calls after the last swap", func() bool { return calls() >= n+20 })
	for _, l := range loops {
		l.stopAll()
	}
	last := models[len(models)-1]
	for _, m := range models[:len(models)-1] {
		if !m.closed.Load() {
			t.Errorf("%s was swapped out and not closed", m.name)
		}
	}
	c.text.exclusive(func(loaded bool) {
		if last.textOpen.Load() != loaded {
			t.Errorf("the labelling model's text tower open %v, the idle unloader's loaded %v", last.textOpen.Load(), loaded)
		}
	})
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	noFaults(t, models...)
	unloads := testutil.ToFloat64(policy.metrics.modelUnloads.WithLabelValues(idleCLIPText))
	reloads := testutil.CollectAndCount(policy.metrics.modelReload)
	if unloads == 0 || reloads == 0 {
		t.Errorf("%v unloads, %d reloads: the text tower was never unloaded and loaded again across the swaps", unloads, reloads)
	}
	t.Logf("%d calls, %d swaps, %v unloads of the text tower", calls(), len(models)-1, unloads)
}
