package fidelity

import (
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"

	"github.com/edged/edged/blip"
	blipspec "github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	clipspec "github.com/edged/edged/clip/spec"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/tflite"
)

// Options say what the gate compares and how strictly.
type Options struct {
	// Frames is the folder of frames held aside from calibration (imageproc.Formats).
	Frames string
	// MaxFrames bounds how many of them are compared, in name order; 0 means all.
	MaxFrames int
	// LabelSets are the label sets whose top-1 labels CLIP must keep.
	LabelSets []*clip.LabelSet
	// Questions are asked of a VQA model (nil: DefaultQuestions); TextFrames is how many frames
	// get their captions or answers compared (0: DefaultTextFrames).
	Questions  []string
	TextFrames int
	// Thresholds are the bars; the zero value means DefaultThresholds.
	Thresholds Thresholds
	// Threads per interpreter; 0 means 1 (predictable on a busy machine).
	Threads int
	// Reference is a bundle of the same checkpoint that ConvertChecked compares the int8
	// model with, instead of converting the float model: its safe precision, whose text
	// models a BLIP int8 bundle shares, so that only the vision tower's change is judged.
	Reference string
}

// WithDefaults is o with DefaultThresholds when it sets none, and at least one thread.
func (o Options) WithDefaults() Options {
	if o.Thresholds == (Thresholds{}) {
		o.Thresholds = DefaultThresholds()
	}
	if o.Threads <= 0 {
		o.Threads = 1
	}
	return o
}

// OpenPair loads the float bundle ref and the int8 bundle cand of one checkpoint as a Pair.
// Closing the pair closes the models.
func OpenPair(ref, cand *bundle.Bundle, opts Options) (Pair, error) {
	opts = opts.WithDefaults()
	if ref.Manifest.Architecture != cand.Manifest.Architecture {
		return nil, fmt.Errorf("fidelity: %s is a %s, %s a %s", ref.Dir, ref.Manifest.Architecture, cand.Dir, cand.Manifest.Architecture)
	}
	switch arch := ref.Manifest.Architecture; arch {
	case clipspec.Architecture:
		if len(opts.LabelSets) == 0 {
			return nil, errors.New("fidelity: comparing CLIP models needs label sets (top-1 agreement)")
		}
		run := clip.Options{RunOptions: clip.RunOptions{Threads: opts.Threads}}
		rm, err := clip.Load(ref, run)
		if err != nil {
			return nil, err
		}
		cm, err := clip.Load(cand, run)
		if err != nil {
			rm.Close()
			return nil, err
		}
		p, err := NewCLIPPair(rm, cm, opts.LabelSets)
		if err != nil {
			rm.Close()
			cm.Close()
			return nil, err
		}
		return &ownedPair{Pair: p, close: func() error { return errors.Join(rm.Close(), cm.Close()) }}, nil
	case blipspec.ArchCaption, blipspec.ArchVQA, blipspec.ArchRetrieval:
		run := blip.Options{Runtime: tflite.Options{Threads: opts.Threads}}
		rm, err := blip.Load(ref, run)
		if err != nil {
			return nil, err
		}
		cm, err := blip.Load(cand, run)
		if err != nil {
			rm.Close()
			return nil, err
		}
		p, err := NewBLIPPair(rm, cm, opts.Questions, opts.TextFrames)
		if err != nil {
			rm.Close()
			cm.Close()
			return nil, err
		}
		return &ownedPair{Pair: p, close: func() error { return errors.Join(rm.Close(), cm.Close()) }}, nil
	default:
		return nil, fmt.Errorf("fidelity: no gate for a %s", arch)
	}
}

// ownedPair closes the models it was opened with after the pair.
type ownedPair struct {
	Pair
	close func() error
}

func (p *ownedPair) Close() error { return errors.Join(p.Pair.Close(), p.close()) }

// Compare runs the gate on opts.Frames: the float bundle ref against the int8 bundle cand.
func Compare(ref, cand *bundle.Bundle, opts Options) (Report, error) {
	opts = opts.WithDefaults()
	if opts.Frames == "" {
		return Report{}, errors.New("fidelity: no frames to compare on")
	}
	pair, err := OpenPair(ref, cand, opts)
	if err != nil {
		return Report{}, err
	}
	defer pair.Close()
	var t Tally
	if _, err := convert.ForEachImageFile(opts.Frames, opts.MaxFrames, func(path string, img image.Image) error {
		return pair.Compare(filepath.Base(path), img, &t)
	}); err != nil {
		return Report{}, fmt.Errorf("fidelity: frames: %w", err)
	}
	r := Judge(&t, opts.Thresholds, opts.Frames)
	r.Reference = ref.Manifest.Precision
	return r, nil
}

// ConvertChecked converts the checkpoint from at full int8 (calibrated as opts say), and when
// that gives a full-int8 bundle, converts the float model too (or reads check.Reference) and
// runs the gate on check.Frames. A model that passes is written to out; one that fails is replaced by the
// checkpoint at convert.SafePrecision, its manifest saying why. Either way the manifest's
// calibration records the gate's figures. The report is nil when no gate ran (the conversion
// itself fell back to the safe precision: no calibration images for this checkpoint).
func ConvertChecked(r convert.Registry, from, out string, opts convert.Options, check Options) (*bundle.Bundle, *Report, error) {
	if check.Frames == "" {
		return nil, nil, errors.New("fidelity: no frames held aside to check on")
	}
	if opts.CalibrationDir != "" && samePath(opts.CalibrationDir, check.Frames) {
		return nil, nil, fmt.Errorf("fidelity: the frames to check on (%s) are the calibration images: hold others aside", check.Frames)
	}
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, nil, fmt.Errorf("convert: %w", err)
	}
	work, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".check-")
	if err != nil {
		return nil, nil, fmt.Errorf("convert: %w", err)
	}
	defer os.RemoveAll(work)

	opts.Precision = graph.Int8Full
	cand, err := r.Convert(from, filepath.Join(work, "int8"), opts)
	if err != nil {
		return nil, nil, err
	}
	if cand.Manifest.Precision != graph.Int8Full.String() {
		b, err := publish(cand, out)
		return b, nil, err
	}
	ref, err := reference(r, from, filepath.Join(work, "fp32"), opts, check.Reference, cand)
	if err != nil {
		return nil, nil, err
	}
	report, err := Compare(ref, cand, check)
	if err != nil {
		return nil, nil, err
	}
	cal := bundle.CalibrationInfo{}
	if cand.Manifest.Calibration != nil {
		cal = *cand.Manifest.Calibration
	}
	cal.Check = &report
	chosen := cand
	if !report.Passed {
		safeOpts := opts
		safeOpts.Precision = convert.SafePrecision
		if chosen, err = r.Convert(from, filepath.Join(work, "safe"), safeOpts); err != nil {
			return nil, nil, err
		}
		cal.Fallback = "the fidelity gate refused the calibrated full-int8 model: " + strings.Join(report.Failures, "; ")
	}
	chosen.Manifest.Calibration = &cal
	if err := chosen.Manifest.Write(chosen.Dir); err != nil {
		return nil, nil, err
	}
	b, err := publish(chosen, out)
	return b, &report, err
}

// reference is the model ConvertChecked compares cand with: the bundle in dir, which must be
// of cand's checkpoint, or (dir "") the float model converted into work.
func reference(r convert.Registry, from, work string, opts convert.Options, dir string, cand *bundle.Bundle) (*bundle.Bundle, error) {
	if dir == "" {
		opts.Precision = graph.FP32
		ref, err := r.Convert(from, work, opts)
		if err != nil {
			return nil, fmt.Errorf("fidelity: the float model: %w", err)
		}
		return ref, nil
	}
	ref, err := bundle.Read(dir)
	if err != nil {
		return nil, fmt.Errorf("fidelity: the reference bundle: %w", err)
	}
	if ref.Manifest.Source.Hash != cand.Manifest.Source.Hash || ref.Manifest.Architecture != cand.Manifest.Architecture {
		return nil, fmt.Errorf("fidelity: the reference bundle %s is a %s of checkpoint %.12s, not of %s (%s, %.12s)", dir,
			ref.Manifest.Architecture, ref.Manifest.Source.Hash, from, cand.Manifest.Architecture, cand.Manifest.Source.Hash)
	}
	return ref, nil
}

// publish moves a finished bundle to out and reads it there.
func publish(b *bundle.Bundle, out string) (*bundle.Bundle, error) {
	if err := convert.Publish(b.Dir, out); err != nil {
		return nil, err
	}
	return bundle.Read(out)
}

// samePath reports whether a and b name the same folder.
func samePath(a, b string) bool {
	ia, errA := os.Stat(a)
	ib, errB := os.Stat(b)
	if errA != nil || errB != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return os.SameFile(ia, ib)
}
