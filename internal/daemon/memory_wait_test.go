package daemon

import (
	"context"
	"image"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/fidelity"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/mqtttest"
	"github.com/edged/edged/models"
)

// memoryFixture is a budget with CLIP (whose conversion needs 1000 MiB, a shadow batch's safe
// session 200 MiB) and a VQA model of 800 MiB loaded, and limit more than both models.
func memoryFixture(limit int64) *memoryBudget {
	const mib = 1 << 20
	return &memoryBudget{limit: processBase + limit, explicit: true, order: []string{fieldCLIP, fieldBLIPVQA}, sizes: map[string]modelSize{
		fieldCLIP:    {field: fieldCLIP, perSession: 150 * mib, safeSession: 200 * mib, sessions: 1, transient: &transient{bytes: 1000 * mib}},
		fieldBLIPVQA: {field: fieldBLIPVQA, perSession: 800 * mib, sessions: 1},
	}}
}

// warnings counts the WARN lines of logs that contain what.
func warnings(logs *mqtttest.Buffer, what string) int {
	n := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, what) {
			n++
		}
	}
	return n
}

// A ready reservoir whose conversion does not fit beside the models loaded now waits for
// memory: the state says so with the figures, one WARN is logged however many frames try
// again, and no conversion starts; the idle unload of the VQA model starts it with no frame
// more (the budget wakes the calibration), gated against the safe bundle in the cache; once
// it ended its memory is free again.
func TestCalibrationWaitsForMemory(t *testing.T) {
	const mib = 1 << 20
	opts := CalibrationOptions{Reservoir: ReservoirOptions{Every: time.Nanosecond, Max: 16},
		MinFrames: 4, MinSpan: time.Nanosecond, Retry: time.Hour}
	_, set, res := calibrationFixture(t, &opts)
	budget := memoryFixture(1500 * mib) // 950 MiB of models: 550 free, the conversion needs 1000
	var mu sync.Mutex
	var references []string
	run := func(_ context.Context, _ *Reservoir, in gateInputs) (string, *fidelity.Report, error) {
		mu.Lock()
		references = append(references, in.Reference)
		mu.Unlock()
		return "", &fidelity.Report{Failures: []string{"refused, to keep the safe model"}}, nil
	}
	logs := &mqtttest.Buffer{}
	var log statusLog
	c := newCalibratingLabeler(&fakeCLIP{name: "safe"}, false, calibrationParts{res: res, run: run, report: log.report,
		memory: &memoryGate{budget: budget, field: fieldCLIP}, safeInCache: "/cache/clip-safe", safeBeside: "/cache/clip-beside"},
		opts, slog.New(slog.NewTextHandler(logs, nil)))
	defer c.close()
	ctx := context.Background()
	if err := c.PrepareLabels(ctx, set); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := 0; i < 40; i++ { // enough frames to be ready, and many more that try again
		if _, err := c.EmbedImage(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	_, last, _ := log.get()
	want := MemoryWait{Need: 1000 * mib, Loaded: processBase + 950*mib, Limit: processBase + 1500*mib}
	if last.State != calWaitingMemory || last.Memory == nil || *last.Memory != want || last.Conversions != 0 {
		t.Fatalf("status %+v (memory %+v); want waiting_for_memory with %+v, no conversion", last, last.Memory, want)
	}
	if n := warnings(logs, "waiting for memory"); n != 1 {
		t.Errorf("%d WARN lines for one wait, want 1:\n%s", n, logs.String())
	}
	budget.setLoaded(fieldBLIPVQA, false) // the idle unloader closed the VQA model
	eventually(t, "the conversion started by the unload, and its verdict", func() bool {
		_, last, _ := log.get()
		return last.State == calRefused
	})
	states, last, _ := log.get()
	if strings.Join(states, ",") != strings.Join([]string{calCollecting, calWaitingMemory, calConverting, calRefused}, ",") || last.Memory != nil {
		t.Errorf("states %v, last %+v; want collecting, waiting_for_memory, converting, refused, no memory figures after the wait", states, last)
	}
	mu.Lock()
	if len(references) != 1 || references[0] != "/cache/clip-safe" {
		t.Errorf("gate references %q; want one conversion, gated against the safe bundle in the cache", references)
	}
	mu.Unlock()
	eventually(t, "the conversion's memory given back", func() bool {
		budget.mu.Lock()
		defer budget.mu.Unlock()
		return len(budget.reserved) == 0
	})
}

// A batch of shadow checks that cannot load the safe model beside what is loaded now is
// dropped: nothing is compared, the status says "waiting for memory" and counts the drops,
// one WARN for the wait; once the VQA model is unloaded the next batch is checked and the
// error is gone.
func TestShadowChecksWaitForMemory(t *testing.T) {
	const mib = 1 << 20
	opts := CalibrationOptions{Reservoir: ReservoirOptions{Every: time.Nanosecond, Max: 16},
		MinFrames: 1 << 20, MinSpan: time.Hour,
		Shadow: ShadowOptions{Every: 1, Interval: time.Hour, Batch: 2, Window: 1000}}
	_, set, res := calibrationFixture(t, &opts)
	budget := memoryFixture(1000 * mib) // 950 MiB of models: 50 free, a batch needs 200
	ref := &fakeReference{model: &fakeCLIP{name: "safe"}}
	ref.agree.Store(true)
	logs := &mqtttest.Buffer{}
	var log statusLog
	publish := func(string, *Reservoir) (*bundle.Bundle, error) { return nil, nil }
	c := newCalibratingLabeler(&fakeCLIP{name: "int8"}, true, calibrationParts{res: res, report: log.report, ref: ref, publish: publish,
		memory: &memoryGate{budget: budget, field: fieldCLIP}}, opts, slog.New(slog.NewTextHandler(logs, nil)))
	defer c.close()
	ctx := context.Background()
	if err := c.PrepareLabels(ctx, set); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	label := func() {
		if _, err := c.EmbedImage(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	shadow := func() ShadowStatus {
		_, last, _ := log.get()
		if last.Shadow == nil {
			return ShadowStatus{}
		}
		return *last.Shadow
	}
	eventually(t, "two batches dropped for memory", func() bool {
		label()
		return shadow().MemoryDrops >= 2
	})
	if sh := shadow(); sh.Error != "waiting for memory" || sh.Checks != 0 || ref.batches.Load() != 0 {
		t.Errorf("shadow %+v, %d batches compared; want error \"waiting for memory\", nothing compared", sh, ref.batches.Load())
	}
	if n := warnings(logs, "waiting for memory"); n != 1 {
		t.Errorf("%d WARN lines for one wait, want 1:\n%s", n, logs.String())
	}
	budget.setLoaded(fieldBLIPVQA, false)
	eventually(t, "a batch checked once the VQA model is unloaded", func() bool {
		label()
		sh := shadow()
		return sh.Checks >= 2 && sh.Error == ""
	})
	if ref.batches.Load() == 0 {
		t.Error("no batch compared")
	}
}

// A batch of shadow checks asks for the safe bundle's conversion only when the cache does not
// hold that bundle yet: needsConversion is true for a full-int8 bundle alone, false once its
// checkpoint's safe bundle is beside it.
func TestSafeBundleNeedsConversion(t *testing.T) {
	ckpt := filepath.Join("..", "..", "models", "shapes", "clip")
	cache := t.TempDir()
	int8, err := models.Convert(ckpt, filepath.Join(cache, "clip-int8"), convert.Options{Precision: graph.Int8Full})
	if err != nil {
		t.Fatal(err)
	}
	sb := newSafeBundle(fieldCLIP, childConversion{safe: int8}, int8)
	if !sb.needsConversion() {
		t.Fatal("no safe bundle in the cache, but no conversion needed")
	}
	if _, err := models.Convert(ckpt, sb.dir, convert.Options{Precision: convert.SafePrecision}); err != nil {
		t.Fatal(err)
	}
	if sb.needsConversion() || sb.bundle() == nil {
		t.Error("the safe bundle is in the cache, but a conversion is still needed")
	}
}
