package daemon

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	clipspec "github.com/edged/edged/clip/spec"
	"github.com/edged/edged/internal/bench"
	"github.com/edged/edged/internal/testutil"
)

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1500000000": 1500000000, "512MiB": 512 << 20, "2GiB": 2 << 30,
		"1.5GB": 1.5e9, "800M": 800 << 20, " 3 kib ": 3 << 10, "0": 0} {
		got, err := parseByteSize(in)
		if err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1GiB", "two GiB", "1e30GiB", "GiB"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) is no error", in)
		}
	}
}

// The estimate of the real base-size int8 bundles, from their files' sizes, against the
// anonymous memory BENCHMARKS.md measured with them loaded and run once (one session each,
// "Memory and the hot path": 543 MiB, 1.1 GiB, 1.5 GiB). Within 50% for CLIP, whose
// int8-dynamic text tower holds less than the factor says, 15% for BLIP.
func TestEstimateMatchesMeasuredBaseModels(t *testing.T) {
	const mib = 1 << 20
	file := func(role, precision string, size int64) bundle.File {
		return bundle.File{Path: role + ".tflite", Role: role, Precision: precision, Size: size * mib}
	}
	captionDyn := bundle.Manifest{Architecture: spec.ArchCaption, Precision: "int8", Files: []bundle.File{
		file(spec.RoleVision, "int8", 84), file(spec.RoleCrossKV, "int8-dynamic", 14), file(spec.RoleDecoderStep, "int8-dynamic", 120)}}
	vqaDyn := bundle.Manifest{Architecture: spec.ArchVQA, Precision: "int8", Files: []bundle.File{
		file(spec.RoleVision, "int8", 84), file(spec.RoleQuestionEncoder, "int8-dynamic", 133), file(spec.RoleCrossKV, "int8-dynamic", 14),
		file(spec.RoleDecoderStep, "int8-dynamic", 120)}}
	for _, c := range []struct {
		name       string
		man        bundle.Manifest
		weightOnly bool    // edged's kernels run the int8-dynamic models
		measured   float64 // MiB
		tol        float64
	}{
		{"CLIP B/32", bundle.Manifest{Architecture: clipspec.Architecture, Precision: "int8", Files: []bundle.File{
			file(clipspec.RoleVisionTower, "int8", 84), file(clipspec.RoleTextTower, "int8-dynamic", 61)}}, false, 543, 0.5},
		{"BLIP caption", bundle.Manifest{Architecture: spec.ArchCaption, Precision: "int8", Files: []bundle.File{
			file(spec.RoleVision, "int8", 84), file(spec.RoleCrossKV, "fp32", 54), file(spec.RoleDecoderStep, "fp32", 472),
			{Path: "tokenizer.json", Role: bundle.RoleTokenizer, Size: 700 << 10}}}, false, 1.1 * 1024, 0.15},
		{"BLIP VQA", bundle.Manifest{Architecture: spec.ArchVQA, Precision: "int8", Files: []bundle.File{
			file(spec.RoleVision, "int8", 84), file(spec.RoleQuestionEncoder, "fp32", 522), file(spec.RoleCrossKV, "fp32", 54),
			file(spec.RoleDecoderStep, "fp32", 472)}}, false, 1.5 * 1024, 0.15},
		// BLIP revision 3: the text models int8-dynamic, on edged's kernels (anonymous memory
		// with the vision tower's DEQUANTIZE on TFLite's kernel, bench/results/2026-12-06-merged)
		// and without them (runtime.kernels: off, measured before that change), BENCHMARKS.md
		// "Weight-only int8 text models". The caption on edged's kernels since its decoder keeps
		// no copy of the cross-attention keys and values in Go memory (812 MiB before;
		// bench/results/2026-12-06-peak, BENCHMARKS.md "The daemon's peak").
		{"BLIP caption, int8-dynamic text", captionDyn, true, 771, 0.15},
		{"BLIP caption, int8-dynamic text, kernels off", captionDyn, false, 1.9 * 1024, 0.15},
		{"BLIP VQA, int8-dynamic text", vqaDyn, true, 874, 0.15},
		{"BLIP VQA, int8-dynamic text, kernels off", vqaDyn, false, 2.8 * 1024, 0.15},
	} {
		got := float64(bundleSessionBytes(&c.man, c.weightOnly)+processBase) / mib
		t.Logf("%s: estimate %.0f MiB, measured %.0f MiB", c.name, got, c.measured)
		if math.Abs(got-c.measured) > c.tol*c.measured {
			t.Errorf("%s: estimate %.0f MiB, measured %.0f MiB (tolerance %.0f%%)", c.name, got, c.measured, 100*c.tol)
		}
	}
}

func TestMeminfoBytes(t *testing.T) {
	const meminfo = "MemTotal:       24590652 kB\nMemFree:         1234 kB\nMemAvailable:   20000000 kB\n"
	if got := meminfoBytes(meminfo, "MemAvailable"); got != 20000000<<10 {
		t.Errorf("MemAvailable = %d", got)
	}
	if got := meminfoBytes(meminfo, "SwapTotal"); got != 0 {
		t.Errorf("SwapTotal = %d, want 0 (absent)", got)
	}
	if lim, err := machineMemory(); err != nil || lim <= 0 {
		t.Errorf("machineMemory() = %d, %v", lim, err)
	}
}

// A CLIP checkpoint the daemon may convert again while it runs holds, for a while, more than
// its steady figure: a memory_limit between the steady models and their peak starts, with a
// warning naming the peak and the setting that removes it (the conversion waits for memory at
// run time); a limit below the steady models is refused. The shapes CLIP is converted at full
// int8 on edged's own calibration data (shadow checks may calibrate it again); the same
// checkpoint with an edited config is one edged has no data for, calibrated on the cameras.
func TestBudgetCountsTheCalibrationPeak(t *testing.T) {
	shapesCLIP := filepath.Join("..", "..", "models", "shapes", "clip")
	unknown := testutil.EditedCheckpoint(t, shapesCLIP, "config.json", func(c map[string]any) { c["edged_test_note"] = "not the shapes CLIP" })
	shapesCaption := filepath.Join("..", "..", "models", "shapes", "blip_caption")
	unknownCaption := testutil.EditedCheckpoint(t, shapesCaption, "config.json", func(c map[string]any) { c["edged_test_note"] = "not the shapes BLIP" })
	off := false
	for _, c := range []struct {
		name, field, checkpoint string
		calibration             CalibrationConfig
		peak, fix               string // "" fix: it fits
	}{
		{"shapes CLIP, shadow checks", fieldCLIP, shapesCLIP, CalibrationConfig{}, "models.clip's shadow checks", "models.calibration: {shadow: false}"},
		{"shapes CLIP, shadow checks off", fieldCLIP, shapesCLIP, CalibrationConfig{Shadow: &off}, "", ""},
		{"unknown CLIP", fieldCLIP, unknown, CalibrationConfig{}, "models.clip's calibration on the cameras' frames", "models.calibration: {camera: false}"},
		{"unknown CLIP, shadow checks off", fieldCLIP, unknown, CalibrationConfig{Shadow: &off}, "models.clip's calibration on the cameras' frames", "models.calibration: {camera: false}"},
		{"unknown CLIP, no calibration", fieldCLIP, unknown, CalibrationConfig{Camera: &off}, "", ""},
		// A full-int8 BLIP captioner is converted again when its shadow checks fail.
		{"shapes BLIP captioner, shadow checks", fieldBLIPCaption, shapesCaption, CalibrationConfig{}, "models.blip_caption's shadow checks", "models.calibration: {shadow: false}"},
		{"shapes BLIP captioner, shadow checks off", fieldBLIPCaption, shapesCaption, CalibrationConfig{Shadow: &off}, "", ""},
		{"unknown BLIP captioner", fieldBLIPCaption, unknownCaption, CalibrationConfig{}, "models.blip_caption's calibration on the cameras' frames", "models.calibration: {camera: false}"},
		{"unknown BLIP captioner, no calibration", fieldBLIPCaption, unknownCaption, CalibrationConfig{Camera: &off}, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := &Config{CacheDir: t.TempDir(), Models: ModelsConfig{Calibration: c.calibration}, Cameras: []Camera{{Name: "cam"}}}
			if c.field == fieldCLIP {
				cfg.Models.CLIP = c.checkpoint
			} else {
				cfg.Models.BLIPCaption = c.checkpoint
			}
			size, ok, err := estimateModel(cfg, configuredModel{field: c.field, name: c.checkpoint}, true)
			if err != nil || !ok {
				t.Fatalf("estimate: %v, %v", ok, err)
			}
			steady := processBase + size.bytes()
			cfg.Runtime.MemoryLimit = ByteSize(steady - 1)
			if _, err := newMemoryBudget(cfg); err == nil {
				t.Fatalf("a limit below the steady figure (%d) was accepted", steady)
			}
			cfg.Runtime.MemoryLimit = ByteSize(steady + 1)
			b, err := newMemoryBudget(cfg)
			if err != nil {
				t.Fatalf("refused at %d bytes, steady %d: %v", cfg.Runtime.MemoryLimit, steady, err)
			}
			warning := b.newWarning()
			if c.peak == "" {
				if size.transient != nil {
					t.Fatalf("a transient %+v, want none", size.transient)
				}
				if warning != "" {
					t.Errorf("warned %q with no transient", warning)
				}
				return
			}
			if size.transient == nil {
				t.Fatal("no transient")
			}
			peak := steady + size.transient.bytes
			t.Logf("steady %s, at times %s", bench.FormatBytes(steady), bench.FormatBytes(peak))
			for _, want := range []string{bench.FormatBytes(peak) + " at times", bench.FormatBytes(size.transient.bytes) + " more during " + c.peak,
				"a child edged converting it at full int8", "edged starts", "waiting_for_memory", "To run it at once: " + c.fix} {
				if !strings.Contains(warning, want) {
					t.Errorf("warning %q does not say %q", warning, want)
				}
			}
			if again := b.newWarning(); again != "" {
				t.Errorf("the same warning given twice: %q", again)
			}
			cfg.Runtime.MemoryLimit = ByteSize(peak)
			if b, err := newMemoryBudget(cfg); err != nil || b.newWarning() != "" {
				t.Errorf("at the peak: %v, warning %q", err, b.newWarning())
			}
		})
	}
}

// The bundle's figures when it is ready: a model calibrated on the cameras, or checked by
// shadow checks, is admitted with its peak; a limit between the two admits it with a warning
// naming the setting that removes the peak, and a limit below the steady figure refuses it
// and keeps the earlier figures.
func TestBudgetAdmitsWithThePeak(t *testing.T) {
	const mib = 1 << 20
	man := &bundle.Manifest{Architecture: clipspec.Architecture, Precision: "int8", Source: bundle.SourceInfo{Parameters: 151_300_000},
		Files: []bundle.File{{Role: clipspec.RoleVisionTower, Precision: "int8", Size: 84 * mib}, {Role: clipspec.RoleTextTower, Precision: "int8-dynamic", Size: 61 * mib}}}
	cfg := &Config{Runtime: RuntimeConfig{Kernels: "off"}}
	steady := processBase + int64(modelSessions(cfg, fieldCLIP))*bundleSessionBytes(man, false)
	peak := steady + shadowRecalibration.peak(man.Source.Parameters, steady-processBase, childPerParam(cfg)).bytes
	// Within 2% of the measured child conversion, gated against the safe bundle (edged itself
	// included): 1107-1108 MiB.
	if got := float64(peak-steady) / mib; math.Abs(got-1111) > 0.02*1111 {
		t.Errorf("the conversion's peak for CLIP B/32 is %.0f MiB, measured 1107-1108 MiB", got)
	}
	// With models.calibration.text, at least the measured --calibrate-text conversion and at
	// most 10% above it: CLIP B/32 1.50 GiB, BLIP base captioning (224.0 M weights) 2.27 GiB
	// (2375240 KiB).
	withText := &Config{Runtime: cfg.Runtime, Models: ModelsConfig{Calibration: CalibrationConfig{Text: true}}}
	for _, c := range []struct {
		name          string
		params        int64
		measuredBytes float64
	}{{"CLIP B/32", man.Source.Parameters, 1.50 * 1024 * mib}, {"BLIP base captioning", 223_971_644, 2375240 * 1024}} {
		got := float64(shadowRecalibration.peak(c.params, steady-processBase, childPerParam(withText)).bytes)
		if got < c.measuredBytes || got > 1.1*c.measuredBytes {
			t.Errorf("the conversion's peak for %s calibrating its text models too is %.0f MiB, measured %.0f MiB", c.name, got/mib, c.measuredBytes/mib)
		}
	}
	b := &memoryBudget{limit: (steady + peak) / 2, explicit: true, sizes: map[string]modelSize{}, order: []string{fieldCLIP}}
	if w, err := b.admit(cfg, fieldCLIP, "clip", man, nil); err != nil || w != "" {
		t.Fatalf("without recalibration: %v, warning %q", err, w)
	}
	w, err := b.admit(cfg, fieldCLIP, "clip", man, shadowRecalibration)
	if err != nil || !strings.Contains(w, "models.calibration: {shadow: false}") {
		t.Fatalf("with shadow checks, between %d and %d: %v, warning %q; want admitted, warning with shadow: false", steady, peak, err, w)
	}
	if b.sizes[fieldCLIP].transient == nil {
		t.Error("the admitted figures have no transient")
	}
	b.limit = steady - 1
	if _, err := b.admit(cfg, fieldCLIP, "fp32 clip", &bundle.Manifest{Architecture: man.Architecture, Precision: "fp32", Files: []bundle.File{
		{Role: clipspec.RoleVisionTower, Precision: "fp32", Size: 2000 * mib}}}, nil); err == nil {
		t.Fatal("a model over the limit admitted")
	}
	if b.sizes[fieldCLIP].name != "clip" {
		t.Error("the refused figures were kept")
	}
	// Without edged's kernels the safe model (its vision tower int8-dynamic, dequantized to
	// float) holds more than the conversion: a fallback's swap is the peak.
	b.limit = 1 << 50
	if _, err := b.admit(cfg, fieldCLIP, "clip", man, shadowRecalibration); err != nil {
		t.Fatal(err)
	}
	safe := int64(modelSessions(cfg, fieldCLIP)) * bundleSessionBytes(safeVariant(man), false)
	if tr := b.sizes[fieldCLIP].transient; tr == nil || tr.bytes != safe || !strings.Contains(tr.what, "the new model loaded beside the old one") {
		t.Errorf("transient %+v with kernels off, want the safe model's %s at the swap", tr, bench.FormatBytes(safe))
	}
}

// At run time a transient is reserved against what is loaded now: with the three models
// loaded a calibration's conversion does not fit and waits (the figures say so); the idle
// unload of the VQA model frees its share and wakes the waiter, whose conversion then fits; a
// second transient does not fit beside the first until it is released, which wakes it.
func TestBudgetReservesWhatIsLoadedNow(t *testing.T) {
	const mib = 1 << 20
	sizes := map[string]modelSize{
		fieldCLIP:        {field: fieldCLIP, perSession: 150 * mib, safeSession: 200 * mib, params: 150e6, sessions: 1, transient: &transient{bytes: 1000 * mib}},
		fieldBLIPCaption: {field: fieldBLIPCaption, perSession: 700 * mib, sessions: 1},
		fieldBLIPVQA:     {field: fieldBLIPVQA, perSession: 800 * mib, sessions: 1},
	}
	steady := int64(processBase + (150+700+800)*mib)
	b := &memoryBudget{limit: steady + 500*mib, explicit: true, sizes: sizes, order: []string{fieldCLIP, fieldBLIPCaption, fieldBLIPVQA}}
	if msg := b.overBudget(); msg != "" {
		t.Fatalf("the models fit, but: %s", msg)
	}
	if w := b.newWarning(); !strings.Contains(w, "models.clip") {
		t.Errorf("no warning for the conversion that does not fit beside the models: %q", w)
	}
	gate := &memoryGate{budget: b, field: fieldCLIP}
	if release, wait := gate.shadowBatch("shadow", false, nil); wait != nil {
		t.Errorf("a shadow batch (200 MiB) waits beside 500 MiB free: %+v", wait)
	} else {
		release()
	}
	// The first batch converts the safe bundle: 100 MiB and 3.7 bytes per weight, 629 MiB.
	if _, wait := gate.shadowBatch("shadow", true, nil); wait == nil || wait.Need != processBase+int64(150e6*safeConvertPerParam) {
		t.Errorf("a batch that converts the safe bundle first: wait %+v, want the conversion's figure", wait)
	}
	woken := make(chan string, 4)
	_, wait := gate.conversion("calibration", func() { woken <- "calibration" })
	if wait == nil || *wait != (MemoryWait{Need: 1000 * mib, Loaded: steady, Limit: b.limit}) {
		t.Fatalf("wait %+v; want the conversion's 1000 MiB beside the %d loaded", wait, steady)
	}
	b.setLoaded(fieldBLIPVQA, false) // idle unload
	waitFor(t, woken, "calibration")
	release, wait := gate.conversion("calibration", nil)
	if wait != nil {
		t.Fatalf("with the VQA model unloaded the conversion still waits: %+v", wait)
	}
	_, wait = (&memoryGate{budget: b, field: fieldCLIP}).conversion("other", func() { woken <- "other" })
	if wait == nil || wait.Loaded != steady-800*mib+1000*mib {
		t.Fatalf("a second conversion beside the first: wait %+v; want the first's 1000 MiB counted loaded", wait)
	}
	release()
	release() // once only
	waitFor(t, woken, "other")
	b.setLoaded(fieldBLIPVQA, true) // loaded again for an ask
	if _, wait := gate.conversion("calibration", nil); wait == nil || wait.Loaded != steady {
		t.Errorf("with the VQA model loaded again: wait %+v, want %d loaded", wait, steady)
	}
}

// waitFor waits for want on ch.
func waitFor(t *testing.T, ch chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("woken %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was not woken", want)
	}
}
