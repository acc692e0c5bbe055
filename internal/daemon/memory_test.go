package daemon

import (
	"math"
	"testing"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	clipspec "github.com/edged/edged/clip/spec"
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
		// "Weight-only int8 text models".
		{"BLIP caption, int8-dynamic text", captionDyn, true, 812, 0.15},
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
