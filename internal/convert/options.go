package convert

import (
	"log/slog"
	"runtime/debug"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/progress"
	"github.com/edged/edged/quant"
)

// Options choose how a checkpoint is converted.
type Options struct {
	// Precision of the models: graph.FP32, FP16, Int8Dynamic or Int8Full.
	Precision graph.Precision
	// CalibrationDir is a folder of images to calibrate activation ranges on at Int8Full. Empty
	// means rendered scenes of the synthetic shapes world (package shapes) for the shapes
	// models and random weights, and for any other checkpoint the safe precision instead of
	// full int8 (see planCalibration).
	CalibrationDir string
	// CalibrationImages is how many images calibration runs; 0 means DefaultCalibrationImages.
	// With CalibrationDir every image of the folder is used up to this number.
	CalibrationImages int
	// Observer is how calibration turns observed values into ranges: ObserverMinMax (the
	// default), ObserverPercentile or ObserverMovingAverage.
	Observer string
	// Threads for running models during conversion (calibration); 0 means 1, which is
	// predictable on a busy machine (TFLite's thread pool spins while it waits for cores).
	Threads int
	// RandomInit ignores the checkpoint's weights (there need be none) and draws random ones of
	// realistic scale for its config: a real-size model for benchmarks.
	RandomInit bool
	// Seed of the random weights; the same seed gives the same bundle.
	Seed uint64
	// Progress receives progress reports; nil reports nothing (see NewProgress).
	Progress Progress
	// EdgedVersion is written into the manifest; empty means the version Go's build info gives.
	EdgedVersion string
	// Origin is the hub repository and revision the checkpoint was pulled from, recorded in
	// the manifest; zero for a folder that was not pulled.
	Origin bundle.Origin
	// Observe writes the models at fp32 with every activation as an output
	// (graph.LowerOptions.ObserveAll), for a caller that calibrates a model by running it as
	// inference does, watching it with an ActivationObserver (BLIP's text models, step by
	// step through the float decoder's own captions). Precision must be FP32.
	Observe bool
	// Ranges are activation ranges by model role, observed by the caller on an Observe bundle:
	// at Int8Full an architecture writes the models named here at full int8 with these ranges
	// instead of their usual precision (BLIP's text models; the vision tower calibrates on
	// the calibration images itself).
	Ranges map[string]map[string]quant.Range
	// Log receives what a user must know about a conversion (a full int8 written at the safe
	// precision); nil means slog's default logger.
	Log *slog.Logger

	// shapesScenes allows calibration on rendered shapes scenes: set by planCalibration for
	// the checkpoints those scenes are data for, so that no other path calibrates on them.
	shapesScenes bool
	// observeBudget bounds the activation bytes one calibration pass observes; 0 means
	// ObserveBudget (tests set a small one to make several passes of a small model).
	observeBudget int64
}

// DefaultCalibrationImages is how many images full-int8 calibration runs by default.
const DefaultCalibrationImages = 64

// withDefaults fills in the defaults, in one place.
func (o Options) withDefaults() Options {
	if o.CalibrationImages <= 0 {
		o.CalibrationImages = DefaultCalibrationImages
	}
	if o.Observer == "" {
		o.Observer = ObserverMinMax
	}
	if o.Threads <= 0 {
		o.Threads = 1
	}
	if o.Progress == nil {
		o.Progress = progress.Nop{}
	}
	if o.EdgedVersion == "" {
		o.EdgedVersion = buildVersion()
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.observeBudget <= 0 {
		o.observeBudget = ObserveBudget
	}
	return o
}

// buildVersion is the module version or VCS revision Go recorded in the binary.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	if v == "" {
		v = "unknown"
	}
	return v
}

// Lowering returns the graph lowering options edged uses for a model at precision p.
//
// At int8-dynamic, FULLY_CONNECTED weights are stored int8 per channel and dequantized to
// float32 at load rather than read by TFLite 2.9's hybrid kernel: in the linux_arm64 build of
// the library we ship, the hybrid kernel's dot-product path (chosen on cores with the int8
// dot-product instruction: Pi 5, Jetson Orin) never ends its loop and crashes (found under
// qemu on Cortex-A76, see README "Known failure"). The dequantized form is also more
// accurate; the file stays a quarter of fp32, the loaded model costs float32 memory.
func Lowering(p graph.Precision) graph.LowerOptions {
	return graph.LowerOptions{Precision: p, PerChannelFC: p == graph.Int8Dynamic}
}
