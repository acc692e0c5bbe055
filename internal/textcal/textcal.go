// Package textcal calibrates BLIP's text models (the image's cross-attention keys and values,
// the decoder step, the VQA question encoder) for full int8 on what they really see: the float
// model's own greedy captions and answers on the calibration frames, observed token by token
// as inference runs them. Checkpoints come with no texts to calibrate on, and a decoder
// calibrated on anything else loses words; so each text model is written at full int8 only
// where the fidelity gate holds for it, and stays float otherwise (ConvertChecked).
package textcal

import (
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/fidelity"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/quant"
	"github.com/edged/edged/runtime/tflite"
)

// textRoles are the models of each BLIP class that see text and can be calibrated here, in
// the order they run.
var textRoles = map[string][]string{
	spec.ArchCaption: {spec.RoleCrossKV, spec.RoleDecoderStep},
	spec.ArchVQA:     {spec.RoleQuestionEncoder, spec.RoleCrossKV, spec.RoleDecoderStep},
}

// Options say what the float model is asked while it is observed.
type Options struct {
	// Questions are asked of a VQA model on every calibration frame: the standing questions
	// and recent asks where there are some; nil means fidelity.DefaultQuestions.
	Questions []string
}

// Ranges runs the float model of the checkpoint from over the calibration images
// (conv.CalibrationDir, at most conv.CalibrationImages of them): greedy captions, or the
// answers to o.Questions, as inference computes them, with every activation of the text models
// observed (conv.Observer). It returns the activation ranges of each text model, for
// convert.Options.Ranges, and the number of frames run.
func Ranges(r convert.Registry, from string, conv convert.Options, o Options) (map[string]map[string]quant.Range, int, error) {
	if conv.CalibrationDir == "" {
		return nil, 0, errors.New("text calibration: no calibration images")
	}
	work, err := os.MkdirTemp("", "edged-textcal-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(work)
	obsOpts := conv
	obsOpts.Precision, obsOpts.Observe, obsOpts.Ranges = graph.FP32, true, nil
	b, err := r.Convert(from, filepath.Join(work, "observe"), obsOpts)
	if err != nil {
		return nil, 0, fmt.Errorf("text calibration: %w", err)
	}
	roles, ok := textRoles[b.Manifest.Architecture]
	if !ok {
		return nil, 0, fmt.Errorf("text calibration: a %s has no text models that generate (captioning and VQA do)", b.Manifest.Architecture)
	}
	observers := map[string]*convert.ActivationObserver{}
	for _, role := range roles {
		if observers[role], err = convert.NewActivationObserver(conv.Observer); err != nil {
			return nil, 0, err
		}
	}
	threads := max(conv.Threads, 1)
	m, err := blip.Load(b, blip.Options{Runtime: tflite.Options{Threads: threads}, AfterRun: func(role string, ip *tflite.Interpreter) error {
		if obs := observers[role]; obs != nil {
			return obs.Observe(ip)
		}
		return nil
	}})
	if err != nil {
		return nil, 0, fmt.Errorf("text calibration: %w", err)
	}
	defer m.Close()
	s, err := m.NewSession()
	if err != nil {
		return nil, 0, fmt.Errorf("text calibration: %w", err)
	}
	defer s.Close()
	gen := m.GenerateDefaults()
	gen.NumBeams = 1
	questions := o.Questions
	if len(questions) == 0 {
		questions = fidelity.DefaultQuestions
	}
	limit := conv.CalibrationImages
	if limit <= 0 {
		limit = convert.DefaultCalibrationImages
	}
	n, err := convert.ForEachImageFile(conv.CalibrationDir, limit, func(path string, img image.Image) error {
		im, err := s.EncodeImage(img)
		if err != nil {
			return err
		}
		if m.Architecture == spec.ArchCaption {
			_, err = s.Caption(im, "", gen)
			return err
		}
		for _, q := range questions {
			if _, err := s.Answer(im, q, gen); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, n, fmt.Errorf("text calibration: %w", err)
	}
	out := map[string]map[string]quant.Range{}
	for role, obs := range observers {
		if out[role], err = obs.Ranges(); err != nil {
			return nil, n, fmt.Errorf("text calibration: %s: %w", role, err)
		}
	}
	return out, n, nil
}

// Verdict is the gate's report on one text model written at full int8: compared with the
// bundle it would join (the vision tower at full int8, the text models float), on the same
// frames, so that the report is the text model's own effect.
type Verdict struct {
	Role   string
	Report fidelity.Report
}

// ConvertChecked is fidelity.ConvertChecked with the text models calibrated too. Each text
// model is written at full int8 in turn and must keep every sampled caption or answer of the
// bundle it would join identical (check's frames, questions and sample size; the text bar is
// 1 whatever check says: a text model does nothing but text, and on the shapes models one
// changed caption in 24 was already a model that loses words); the bundle written to out has
// at full int8 the vision tower and the text models that kept them, gated together against the
// float model as fidelity.ConvertChecked does (should that fail, the text models stay float
// and the vision tower is gated alone). The manifest's calibration names the text models at
// full int8.
func ConvertChecked(r convert.Registry, from, out string, conv convert.Options, check fidelity.Options, o Options) (*bundle.Bundle, []Verdict, *fidelity.Report, error) {
	ranges, frames, err := Ranges(r, from, conv, o)
	if err != nil {
		return nil, nil, nil, err
	}
	work, err := os.MkdirTemp("", "edged-textcal-check-")
	if err != nil {
		return nil, nil, nil, err
	}
	defer os.RemoveAll(work)
	baseOpts := conv
	baseOpts.Precision, baseOpts.Ranges = graph.Int8Full, nil
	base, err := r.Convert(from, filepath.Join(work, "base"), baseOpts)
	if err != nil {
		return nil, nil, nil, err
	}
	if base.Manifest.Precision != graph.Int8Full.String() {
		return nil, nil, nil, fmt.Errorf("text calibration: %s converted at %s, not full int8", from, base.Manifest.Precision)
	}
	textCheck := check
	textCheck.Thresholds = fidelity.DefaultThresholds()
	if check.Thresholds != (fidelity.Thresholds{}) {
		textCheck.Thresholds = check.Thresholds
	}
	textCheck.Thresholds.Text = 1
	var verdicts []Verdict
	passed := map[string]map[string]quant.Range{}
	for _, role := range textRoles[base.Manifest.Architecture] {
		one := baseOpts
		one.Ranges = map[string]map[string]quant.Range{role: ranges[role]}
		cand, err := r.Convert(from, filepath.Join(work, role), one)
		if err != nil {
			return nil, nil, nil, err
		}
		report, err := fidelity.Compare(base, cand, textCheck)
		if err != nil {
			return nil, nil, nil, err
		}
		verdicts = append(verdicts, Verdict{Role: role, Report: report})
		if report.Passed {
			passed[role] = ranges[role]
		}
	}
	final := conv
	final.Ranges = passed
	b, report, err := fidelity.ConvertChecked(r, from, out, final, check)
	if err == nil && report != nil && !report.Passed && len(passed) > 0 {
		final.Ranges, passed = nil, nil
		b, report, err = fidelity.ConvertChecked(r, from, out, final, check)
	}
	if err != nil || len(passed) == 0 {
		return b, verdicts, report, err
	}
	var names []string
	for role := range passed {
		names = append(names, role)
	}
	slices.Sort(names)
	b.Manifest.Calibration.Text = fmt.Sprintf("%s at full int8, calibrated on the float model's greedy outputs for %d calibration images", strings.Join(names, ", "), frames)
	if err := b.Manifest.Write(b.Dir); err != nil {
		return nil, nil, nil, err
	}
	return b, verdicts, report, nil
}
