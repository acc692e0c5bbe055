package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/fidelity"
)

// defaultLabelSets are the label sets the gate compares CLIP's top-1 labels on when --labels
// is not given: those beside the default config edged run reads.
const defaultLabelSets = "configs/labels/*.yaml"

// convertGate holds edged convert's fidelity gate flags.
type convertGate struct {
	frames     string
	maxFrames  int
	labels     string
	questions  stringList
	textFrames int
	reference  string
	th         fidelity.Thresholds
	// calibrateText calibrates the models that see text too (package textcal).
	calibrateText bool
}

func gateFlags(fs *flag.FlagSet) *convertGate {
	g := &convertGate{}
	d := fidelity.DefaultThresholds()
	fs.StringVar(&g.frames, "check", "", "`folder` of frames held aside from calibration: keep the int8 model only if it agrees with the float model on them (the fidelity gate)")
	fs.IntVar(&g.maxFrames, "check-frames", 0, "compare at most this many --check frames (0: all)")
	fs.StringVar(&g.reference, "check-reference", "", "`bundle` of the same checkpoint to compare the int8 model with instead of the float model (e.g. its int8-dynamic conversion, whose text models a BLIP int8 bundle shares)")
	fs.StringVar(&g.labels, "labels", "", "label set files (comma-separated) whose top-1 labels CLIP must keep (default: "+defaultLabelSets+")")
	fs.Var(&g.questions, "question", fmt.Sprintf("a question a VQA model must answer the same (repeatable; default: %q)", fidelity.DefaultQuestions))
	fs.IntVar(&g.textFrames, "check-texts", fidelity.DefaultTextFrames, "BLIP: frames whose greedy captions or answers must be identical")
	fs.BoolVar(&g.calibrateText, "calibrate-text", false, "with --check: also calibrate the models that see text, each kept at full int8 only if its own gate holds: BLIP's text models on the float model's own captions or answers (to --question) for the calibration images, kept if every sampled caption or answer stays the same; CLIP's text tower on the prompts of the --labels sets, kept if their text embeddings and every set's top-1 label on the --check frames pass the gate's bars (otherwise it stays int8-dynamic)")
	fs.Float64Var(&g.th.MeanCosine, "min-mean-cosine", d.MeanCosine, "gate: lowest mean cosine of the image embeddings")
	fs.Float64Var(&g.th.WorstCosine, "min-worst-cosine", d.WorstCosine, "gate: lowest cosine of any frame's image embedding")
	fs.Float64Var(&g.th.Top1, "min-top1", d.Top1, "gate: lowest share of (frame, label set) pairs with the same top-1 label")
	fs.Float64Var(&g.th.Text, "min-text", d.Text, "gate: lowest share of identical greedy captions and answers")
	return g
}

// options are the gate's options from the flags, with the label sets read.
func (g *convertGate) options(threads int) (fidelity.Options, error) {
	o := fidelity.Options{Frames: g.frames, MaxFrames: g.maxFrames, Questions: g.questions, TextFrames: g.textFrames, Thresholds: g.th, Threads: threads,
		Reference: g.reference}
	var paths []string
	if g.labels != "" {
		paths = strings.Split(g.labels, ",")
	} else {
		var err error
		if paths, err = filepath.Glob(defaultLabelSets); err != nil {
			return o, err
		}
	}
	for _, p := range paths {
		set, err := clip.LoadLabelSet(strings.TrimSpace(p))
		if err != nil {
			return o, fmt.Errorf("--labels: %w", err)
		}
		o.LabelSets = append(o.LabelSets, set)
	}
	return o, nil
}
