// Package textcal calibrates the models that see text for full int8 on what they really see.
// BLIP's text models (the image's cross-attention keys and values, the decoder step, the VQA
// question encoder) are observed token by token on the float model's own greedy captions and
// answers for the calibration frames; CLIP's text tower on the texts the label sets make it
// embed (their prompts, pairs with the contrast labels, backgrounds). Checkpoints come with
// no texts to calibrate on, and a decoder calibrated on anything else loses words; so each
// text model is written at full int8 only where the fidelity gate holds for it, and stays as
// it would be otherwise (float, or CLIP's int8-dynamic text tower) where it does not
// (ConvertChecked).
package textcal

import (
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	clipspec "github.com/edged/edged/clip/spec"
	"github.com/edged/edged/hf"
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
		return nil, 0, errNoImages
	}
	work, b, err := convertObserved(r, from, conv)
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(work)
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
// bundle it would join (the vision tower at full int8, the text models as they would be
// otherwise), on the same frames, so that the report is the text model's own effect.
type Verdict struct {
	Role   string
	Report fidelity.Report
	// Texts is, for CLIP's text tower, how many texts' embeddings were compared (the report's
	// cosines are theirs, see CompareCLIPText); 0 for BLIP's text models.
	Texts int
}

// Figures are a CLIP text tower's verdict in one line: text-embedding cosines, top-1
// agreement, and the gate's word.
func (v Verdict) Figures() string {
	r := v.Report
	same := int(math.Round(r.Top1Agreement * float64(r.Top1Compared)))
	return fmt.Sprintf("text embeddings of %d prompts: mean cosine %.4f (≥ %.4f), worst %.4f (≥ %.4f); top-1 labels %d/%d the same on %d frames (≥ %.1f%%); gate: %s",
		v.Texts, r.MeanCosine, r.Thresholds.MeanCosine, r.WorstCosine, r.Thresholds.WorstCosine, same, r.Top1Compared, r.Frames, 100*r.Thresholds.Top1, fidelity.Why(r))
}

// String is the verdict for people, in one line.
func (v Verdict) String() string {
	if v.Texts == 0 {
		return fmt.Sprintf("%s at full int8, against the bundle it would join: %s", v.Role, fidelity.Why(v.Report))
	}
	s := fmt.Sprintf("%s tower at full int8, against the %s %s tower: %s", v.Role, v.Report.Reference, v.Role, v.Figures())
	if !v.Report.Passed {
		s += "; it stays " + v.Report.Reference
	}
	return s
}

// ConvertChecked is fidelity.ConvertChecked with the text models calibrated too: BLIP's (see
// convertCheckedBLIP) and CLIP's text tower (convertCheckedCLIP), each written at full int8
// only where its own gate holds; the bundle is then gated as a whole against the float model.
// The manifest's calibration names the text models at full int8 and what they were
// calibrated on. Nothing is converted before the options are known to suffice: BLIP's text
// models calibrate on calibration images, CLIP's text tower on check's label sets.
func ConvertChecked(r convert.Registry, from, out string, conv convert.Options, check fidelity.Options, o Options) (*bundle.Bundle, []Verdict, *fidelity.Report, error) {
	cfg, err := hf.ReadConfig(filepath.Join(from, "config.json"))
	if err != nil {
		return nil, nil, nil, err
	}
	arch, err := cfg.Architecture()
	if err != nil {
		return nil, nil, nil, err
	}
	if arch == clipspec.Architecture {
		if len(check.LabelSets) == 0 {
			return nil, nil, nil, errNoLabelSets
		}
		if conv.CalibrationDir == "" && !conv.RandomInit {
			// The text tower joins a full-int8 vision tower, which calibrates without images
			// only for the shapes models.
			ok, err := convert.CalibratesItself(from, "")
			if err != nil {
				return nil, nil, nil, err
			}
			if !ok {
				return nil, nil, nil, errNoVisionImages
			}
		}
		return convertCheckedCLIP(r, from, out, conv, check)
	}
	if _, ok := textRoles[arch]; !ok {
		return nil, nil, nil, UsageError(fmt.Sprintf("text calibration: a %s has no text models that generate (captioning and VQA do) or embed labels (CLIP)", arch))
	}
	if conv.CalibrationDir == "" {
		return nil, nil, nil, errNoImages
	}
	return convertCheckedBLIP(r, from, out, conv, check, o)
}

// UsageError is ConvertChecked refusing what it was asked, before any conversion: a checkpoint
// without text models to calibrate, or without the data to calibrate them on.
type UsageError string

func (e UsageError) Error() string { return string(e) }

// The data a text model is calibrated on, or the bundle it joins, missing.
const (
	errNoImages    = UsageError("text calibration: BLIP's text models are calibrated on the float model's own captions or answers for the calibration images: give them with --calibration")
	errNoLabelSets = UsageError("text calibration: CLIP's text tower is calibrated on label sets' prompts, and there are none")
	// errNoVisionImages: CLIP's text tower at full int8 joins a full-int8 vision tower.
	errNoVisionImages = UsageError("text calibration: CLIP's text tower is written at full int8 beside a full-int8 vision tower, which needs calibration images for this checkpoint: give them with --calibration")
)

// convertCheckedBLIP is ConvertChecked for BLIP. Each text model is written at full int8 in
// turn and must keep every sampled caption or answer of the bundle it would join identical
// (check's frames, questions and sample size; the text bar is 1 whatever check says: a text
// model does nothing but text, and on the shapes models one changed caption in 24 was
// already a model that loses words).
func convertCheckedBLIP(r convert.Registry, from, out string, conv convert.Options, check fidelity.Options, o Options) (*bundle.Bundle, []Verdict, *fidelity.Report, error) {
	ranges, frames, err := Ranges(r, from, conv, o)
	if err != nil {
		return nil, nil, nil, err
	}
	work, base, err := convertBase(r, from, conv)
	if err != nil {
		return nil, nil, nil, err
	}
	defer os.RemoveAll(work)
	textCheck := check.WithDefaults()
	textCheck.Thresholds.Text = 1
	var verdicts []Verdict
	passed := map[string]map[string]quant.Range{}
	for _, role := range textRoles[base.Manifest.Architecture] {
		one := conv
		one.Precision, one.Ranges = graph.Int8Full, map[string]map[string]quant.Range{role: ranges[role]}
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
	b, report, err := convertFinal(r, from, out, conv, check, passed, fmt.Sprintf("calibrated on the float model's greedy outputs for %d calibration images", frames))
	return b, verdicts, report, err
}

// convertObserved converts the checkpoint's float model with every activation observable, into
// observe/ of a new work folder the caller removes: the model calibration runs.
func convertObserved(r convert.Registry, from string, conv convert.Options) (work string, b *bundle.Bundle, err error) {
	work, err = os.MkdirTemp("", "edged-textcal-")
	if err != nil {
		return "", nil, err
	}
	conv.Precision, conv.Observe, conv.Ranges = graph.FP32, true, nil
	if b, err = r.Convert(from, filepath.Join(work, "observe"), conv); err != nil {
		os.RemoveAll(work)
		return "", nil, fmt.Errorf("text calibration: %w", err)
	}
	return work, b, nil
}

// convertBase converts the checkpoint at full int8 without text ranges, into base/ of a new
// work folder the caller removes: the bundle a text model at full int8 would join. A
// checkpoint that falls back to the safe precision (no calibration images for its vision
// tower) is refused.
func convertBase(r convert.Registry, from string, conv convert.Options) (work string, base *bundle.Bundle, err error) {
	work, err = os.MkdirTemp("", "edged-textcal-check-")
	if err != nil {
		return "", nil, err
	}
	conv.Precision, conv.Ranges = graph.Int8Full, nil
	base, err = r.Convert(from, filepath.Join(work, "base"), conv)
	if err == nil && base.Manifest.Precision != graph.Int8Full.String() {
		err = fmt.Errorf("text calibration: %s converted at %s, not full int8 (its vision tower needs calibration images: --calibration)", from, base.Manifest.Precision)
	}
	if err != nil {
		os.RemoveAll(work)
		return "", nil, err
	}
	return work, base, nil
}

// convertFinal writes to out the bundle with the vision tower and the text models of passed
// at full int8, gated together against the float model as fidelity.ConvertChecked does
// (should that fail, the text models stay as they would be and the vision tower is gated
// alone). When text models are kept, the manifest's calibration names them, followed by what,
// what they were calibrated on.
func convertFinal(r convert.Registry, from, out string, conv convert.Options, check fidelity.Options, passed map[string]map[string]quant.Range, what string) (*bundle.Bundle, *fidelity.Report, error) {
	final := conv
	final.Ranges = passed
	b, report, err := fidelity.ConvertChecked(r, from, out, final, check)
	if err == nil && report != nil && !report.Passed && len(passed) > 0 {
		final.Ranges, passed = nil, nil
		b, report, err = fidelity.ConvertChecked(r, from, out, final, check)
	}
	if err != nil || len(passed) == 0 {
		return b, report, err
	}
	var names []string
	for role := range passed {
		names = append(names, role)
	}
	slices.Sort(names)
	b.Manifest.Calibration.Text = fmt.Sprintf("%s at full int8, %s", strings.Join(names, ", "), what)
	if err := b.Manifest.Write(b.Dir); err != nil {
		return nil, nil, err
	}
	return b, report, nil
}
