package daemon

import (
	"time"

	"github.com/edged/edged/internal/fidelity"
)

// CalibrationConfig is models.calibration: when a CLIP model, or the vision tower of a BLIP
// captioning or VQA model, that runs at the safe precision (a checkpoint without calibration
// data for it) is calibrated to full int8 on the frames of the daemon's own cameras. Zero
// fields take the defaults of CalibrationOptions.
type CalibrationConfig struct {
	// Camera turns calibrating on the cameras' frames on or off (on when absent).
	Camera *bool `yaml:"camera"`
	// MinFrames and MinSpan: a conversion starts once this many frames are kept, spanning at
	// least this long (not all from one minute).
	MinFrames int           `yaml:"min_frames"`
	MinSpan   time.Duration `yaml:"min_span"`
	// MaxFrames bounds the frames kept on disk (small JPEGs, in the model's cache folder).
	MaxFrames int `yaml:"max_frames"`
	// Every is the shortest time between two frames considered for keeping.
	Every time.Duration `yaml:"every"`
	// Retry is how long after a refused or failed conversion the next one waits, for newer
	// frames.
	Retry time.Duration `yaml:"retry"`
	// The fidelity gate's bars (fidelity.DefaultThresholds when 0).
	MinMeanCosine  float64 `yaml:"min_mean_cosine"`
	MinWorstCosine float64 `yaml:"min_worst_cosine"`
	MinTop1        float64 `yaml:"min_top1"`
	// Text has the conversion calibrate the models that see text too (edged convert
	// --calibrate-text): CLIP's text tower on the prompts of the label sets prepared then,
	// BLIP's text models on the float model's own captions, or answers to the standing
	// questions; each kept at full int8 only where its own gate holds (else int8-dynamic).
	// Off by default: a text model at full int8 is proven only on the texts it was gated on
	// (README, "Calibration on the cameras").
	Text bool `yaml:"text"`
	// BLIP: the lowest share of identical greedy captions (captioning) or answers to the
	// standing questions (VQA), compared on CheckTexts of the frames held aside.
	MinText    float64 `yaml:"min_text"`
	CheckTexts int     `yaml:"check_texts"`
	// Shadow turns shadow checks of a full-int8 CLIP, BLIP captioning or VQA model against the
	// safe precision on or off (on when absent): one frame in ShadowEvery, and at least one per ShadowInterval, is kept
	// for a check; ShadowBatch kept frames are checked at one load of the safe model; the
	// running agreement is over the last ShadowWindow checks.
	Shadow         *bool         `yaml:"shadow"`
	ShadowEvery    int           `yaml:"shadow_every"`
	ShadowInterval time.Duration `yaml:"shadow_interval"`
	ShadowBatch    int           `yaml:"shadow_batch"`
	ShadowWindow   int           `yaml:"shadow_window"`
}

// Bounds of models.calibration.
const (
	MinCalibrationFrames = 4    // at least one of every CheckEvery (4) frames is held aside
	MaxCalibrationFrames = 4096 // small JPEGs on disk, and a conversion's calibration passes
	MaxCalibrationSpan   = 30 * 24 * time.Hour
	MaxShadowEvery       = 1_000_000
	MaxShadowWindow      = 1000 // per-check tallies kept in memory
	MaxShadowBatch       = 100  // preprocessed frames kept in memory (0.6 MB each at 224²)
	MaxCheckTexts        = 1000 // greedy captions or answers per conversion's gate
)

// enabled says whether a CLIP model at the safe precision is calibrated on the cameras.
func (c CalibrationConfig) enabled() bool { return c.Camera == nil || *c.Camera }

// options are the calibration's settings from the config, defaults filled in (CLIP's shadow
// checks').
func (c CalibrationConfig) options() CalibrationOptions { return c.optionsFor(fieldCLIP) }

// BLIP's shadow checks when models.calibration leaves them out: sparser than CLIP's, as a
// check of a BLIP frame costs more than the frame (the safe vision tower, 2.3 s on BLIP base
// on one thread, the same caption or answers again, a share of the safe model's load) and
// captions come far less often than labels. At one check in 250 frames, 5 per load, a check
// costs under 2% of the captioning CPU (README, "Shadow checks").
var blipShadowDefaults = ShadowOptions{Every: 250, Interval: 4 * time.Hour, Batch: 5, Window: 20}

// optionsFor are the calibration's settings of field's model, defaults filled in: BLIP's
// shadow checks take blipShadowDefaults for what the config leaves out.
func (c CalibrationConfig) optionsFor(field string) CalibrationOptions {
	o := c.raw()
	if field == fieldBLIPCaption || field == fieldBLIPVQA {
		sh, d := &o.Shadow, blipShadowDefaults
		for _, f := range []struct{ v, def *int }{{&sh.Every, &d.Every}, {&sh.Batch, &d.Batch}, {&sh.Window, &d.Window}} {
			if *f.v == 0 {
				*f.v = *f.def
			}
		}
		if sh.Interval == 0 {
			sh.Interval = d.Interval
		}
	}
	return o.withDefaults()
}

// raw are the config's settings as they are written.
func (c CalibrationConfig) raw() CalibrationOptions {
	return CalibrationOptions{
		Reservoir:  ReservoirOptions{Max: c.MaxFrames, Every: c.Every},
		MinFrames:  c.MinFrames,
		MinSpan:    c.MinSpan,
		Retry:      c.Retry,
		Thresholds: fidelity.Thresholds{MeanCosine: c.MinMeanCosine, WorstCosine: c.MinWorstCosine, Top1: c.MinTop1, Text: c.MinText},
		TextFrames: c.CheckTexts,
		Text:       c.Text,
		Shadow:     ShadowOptions{Off: c.Shadow != nil && !*c.Shadow, Every: c.ShadowEvery, Interval: c.ShadowInterval, Batch: c.ShadowBatch, Window: c.ShadowWindow},
	}
}

func (c *Config) validateCalibration(v *validator) {
	cc := c.Models.Calibration
	const at = "models.calibration."
	if n := cc.MinFrames; n != 0 && (n < MinCalibrationFrames || n > MaxCalibrationFrames) {
		v.fail(at+"min_frames", "%d is outside [%d, %d]", n, MinCalibrationFrames, MaxCalibrationFrames)
	}
	if n := cc.MaxFrames; n != 0 && (n < MinCalibrationFrames || n > MaxCalibrationFrames) {
		v.fail(at+"max_frames", "%d is outside [%d, %d]", n, MinCalibrationFrames, MaxCalibrationFrames)
	}
	if o := cc.options(); o.MinFrames > o.Reservoir.Max {
		v.fail(at+"min_frames", "%d is more than max_frames (%d): the conversion would never start", o.MinFrames, o.Reservoir.Max)
	}
	if n := cc.ShadowEvery; n < 0 || n > MaxShadowEvery {
		v.fail(at+"shadow_every", "%d is outside [0, %d]", n, MaxShadowEvery)
	}
	if n := cc.ShadowWindow; n < 0 || n > MaxShadowWindow {
		v.fail(at+"shadow_window", "%d is outside [0, %d]", n, MaxShadowWindow)
	}
	if n := cc.ShadowBatch; n < 0 || n > MaxShadowBatch {
		v.fail(at+"shadow_batch", "%d is outside [0, %d]", n, MaxShadowBatch)
	}
	for field, d := range map[string]time.Duration{"min_span": cc.MinSpan, "every": cc.Every, "retry": cc.Retry, "shadow_interval": cc.ShadowInterval} {
		if d < 0 || d > MaxCalibrationSpan {
			v.fail(at+field, "%v is outside [0, %v]", d, MaxCalibrationSpan)
		}
	}
	if cc.Text && !cc.enabled() {
		v.fail(at+"text", "true asks the conversion on the cameras' frames to calibrate the text models too, but camera: false turns that conversion off")
	}
	if n := cc.CheckTexts; n < 0 || n > MaxCheckTexts {
		v.fail(at+"check_texts", "%d is outside [0, %d]", n, MaxCheckTexts)
	}
	for field, x := range map[string]float64{"min_mean_cosine": cc.MinMeanCosine, "min_worst_cosine": cc.MinWorstCosine, "min_top1": cc.MinTop1, "min_text": cc.MinText} {
		if x < 0 || x > 1 {
			v.fail(at+field, "%v is outside [0, 1]", x)
		}
	}
}
