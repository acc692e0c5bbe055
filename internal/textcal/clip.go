package textcal

import (
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	clipspec "github.com/edged/edged/clip/spec"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/fidelity"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/quant"
	"github.com/edged/edged/runtime/tflite"
)

// CLIPRanges runs the float text tower of the CLIP checkpoint from on what it embeds for
// sets at run time: for each label set, what Classifier embeds (every label's prompts, its
// pairs with the contrast labels, the background texts) and the contrast set itself, packed
// into runs as inference packs them, with every activation observed (conv.Observer). It
// returns the text tower's activation ranges, for convert.Options.Ranges, and how many texts
// were embedded. No image is needed: the vision tower is not run.
func CLIPRanges(r convert.Registry, from string, conv convert.Options, sets []*clip.LabelSet) (map[string]quant.Range, int, error) {
	if len(sets) == 0 {
		return nil, 0, errNoLabelSets
	}
	work, b, err := convertObserved(r, from, conv)
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(work)
	obs, err := convert.NewActivationObserver(conv.Observer)
	if err != nil {
		return nil, 0, err
	}
	texts := 0
	m, err := clip.Load(b, clip.Options{RunOptions: clip.RunOptions{Threads: max(conv.Threads, 1)}, AfterTextRun: func(ip *tflite.Interpreter, n int) error {
		texts += n
		return obs.Observe(ip)
	}})
	if err != nil {
		return nil, 0, fmt.Errorf("text calibration: %w", err)
	}
	defer m.Close()
	for _, set := range sets {
		if _, err := m.Classifier(set); err != nil {
			return nil, texts, fmt.Errorf("text calibration: %w", err)
		}
	}
	ranges, err := obs.Ranges()
	if err != nil {
		return nil, texts, fmt.Errorf("text calibration: %w", err)
	}
	return ranges, texts, nil
}

// CompareCLIPText is the gate of a CLIP text tower written at full int8: the bundle cand
// against ref, a bundle of the same checkpoint with the text tower it would replace (the one
// it would join: the same vision tower, so that only the text tower's change is judged). It
// compares the embeddings of every prompt and background text of check.LabelSets (returned
// report's MeanCosine and WorstCosine are theirs, not images'), and the top-1 label of every
// set on each of check.Frames, each model classifying its own image embedding with its own
// label embeddings; Frames counts the frames, and the number of texts compared is returned
// beside. The bars are check.Thresholds' (DefaultThresholds when zero).
func CompareCLIPText(ref, cand *bundle.Bundle, check fidelity.Options) (fidelity.Report, int, error) {
	if check.Frames == "" {
		return fidelity.Report{}, 0, errors.New("text gate: no frames to compare on")
	}
	check = check.WithDefaults()
	run := clip.Options{RunOptions: clip.RunOptions{Threads: check.Threads}}
	rm, err := clip.Load(ref, run)
	if err != nil {
		return fidelity.Report{}, 0, err
	}
	defer rm.Close()
	cm, err := clip.Load(cand, run)
	if err != nil {
		return fidelity.Report{}, 0, err
	}
	defer cm.Close()
	pair, err := fidelity.NewCLIPPair(rm, cm, check.LabelSets)
	if err != nil {
		return fidelity.Report{}, 0, err
	}
	var t fidelity.Tally
	texts := 0
	for _, set := range check.LabelSets {
		var prompts []string
		for _, l := range set.Labels {
			prompts = append(prompts, l.Prompts...)
		}
		prompts = append(prompts, set.Background...)
		re, err := rm.EmbedTexts(prompts)
		if err != nil {
			return fidelity.Report{}, 0, err
		}
		ce, err := cm.EmbedTexts(prompts)
		if err != nil {
			return fidelity.Report{}, 0, err
		}
		for i := range prompts {
			t.AddCosine(float64(clip.Dot(re[i], ce[i])))
		}
		texts += len(prompts)
	}
	frames, err := convert.ForEachImageFile(check.Frames, check.MaxFrames, func(path string, img image.Image) error {
		re, err := rm.EmbedImage(img)
		if err != nil {
			return err
		}
		ce, err := cm.EmbedImage(img)
		if err != nil {
			return err
		}
		return pair.CompareLabels(filepath.Base(path), re, ce, &t)
	})
	if err != nil {
		return fidelity.Report{}, 0, fmt.Errorf("text gate: frames: %w", err)
	}
	report := fidelity.Judge(&t, check.Thresholds, check.Frames)
	report.Frames = frames
	if frames == 0 {
		report.Passed, report.Failures = false, append(report.Failures, "no frames were compared")
	}
	if f, ok := ref.Manifest.File(clipspec.RoleTextTower); ok {
		report.Reference = f.Precision
	}
	return report, texts, nil
}

// convertCheckedCLIP is ConvertChecked for a CLIP checkpoint: its text tower calibrated on the
// prompts of check.LabelSets (CLIPRanges), written at full int8 beside the full-int8 vision
// tower, and gated against the bundle with the int8-dynamic text tower it would replace
// (CompareCLIPText).
func convertCheckedCLIP(r convert.Registry, from, out string, conv convert.Options, check fidelity.Options) (*bundle.Bundle, []Verdict, *fidelity.Report, error) {
	ranges, texts, err := CLIPRanges(r, from, conv, check.LabelSets)
	if err != nil {
		return nil, nil, nil, err
	}
	work, base, err := convertBase(r, from, conv)
	if err != nil {
		return nil, nil, nil, err
	}
	defer os.RemoveAll(work)
	one := conv
	one.Precision, one.Ranges = graph.Int8Full, map[string]map[string]quant.Range{clipspec.RoleTextTower: ranges}
	cand, err := r.Convert(from, filepath.Join(work, "text"), one)
	if err != nil {
		return nil, nil, nil, err
	}
	report, compared, err := CompareCLIPText(base, cand, check)
	if err != nil {
		return nil, nil, nil, err
	}
	v := Verdict{Role: clipspec.RoleTextTower, Report: report, Texts: compared}
	passed := map[string]map[string]quant.Range{}
	if report.Passed {
		passed[clipspec.RoleTextTower] = ranges
	}
	names := make([]string, len(check.LabelSets))
	for i, s := range check.LabelSets {
		names[i] = s.Name
	}
	what := fmt.Sprintf("calibrated on the %d texts the label sets %s embed (prompts, pairs with the contrast labels, backgrounds); against the %s text tower: %s",
		texts, strings.Join(names, ", "), report.Reference, v.Figures())
	b, report2, err := convertFinal(r, from, out, conv, check, passed, what)
	return b, []Verdict{v}, report2, err
}
