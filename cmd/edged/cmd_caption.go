package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/confirm"
	"github.com/edged/edged/runtime/tflite"
)

func init() {
	register("caption", "describe images in words with a BLIP captioning model", runCaption)
}

// captionResult is the JSON line printed per image with --json: a contract other tools rely
// on, so its field names never change. Score and Candidates are there only with
// --candidates: the chosen caption's score and every candidate, best first.
type captionResult struct {
	Image      string             `json:"image"`
	Caption    string             `json:"caption"`
	Score      *float64           `json:"score,omitempty"`
	Candidates []captionCandidate `json:"candidates,omitempty"`
}

// captionCandidate is one candidate caption with its scores (JSON, part of the contract).
type captionCandidate struct {
	Caption string             `json:"caption"`
	Score   float64            `json:"score"`
	Scores  map[string]float64 `json:"scores"`
	From    string             `json:"from"`
	Decoder float64            `json:"decoder"`
}

func runCaption(args []string) int { return caption(args, os.Stdout, os.Stderr) }

func caption(args []string, stdout, stderr io.Writer) int {
	cf := &capfiltFlags{}
	c := &blipCommand{name: "caption", arch: blip.ArchCaption, generates: true,
		usage: "usage: edged caption --model DIR [--beams N] [--max-tokens N] [--prompt TEXT] [--json]\n" +
			"                     [--candidates N [--samples M] [--rank itm|clip|both] [--itm-model DIR] [--clip-model DIR]] IMAGE...\n\n" +
			"Captions each image as transformers' BlipForConditionalGeneration.generate does. With\n" +
			"--prompt the caption continues the prompt. --model is a bundle or a Hugging Face\n" +
			"checkpoint folder, converted on first use into the cache.\n\n" +
			"With --candidates N (CapFilt) the decoder proposes N captions, the hypotheses of an\n" +
			"N-beam search (M of them nucleus samples with --samples M), and BLIP's image-text\n" +
			"matching (--rank itm), CLIP (--rank clip) or both pick the one that fits the image best.\n" +
			"The ranking models default to the folders blip_itm and clip beside --model, as in\n" +
			"models/shapes.\n\n",
		text:  textFlag{name: "prompt", usage: "text the caption starts with (conditional captioning)"},
		flags: cf.define,
		setup: func(f *blipFlags) (func(), error) { return cf.open(f) },
		do: func(s *blip.Session, o blip.GenerateOptions, prompt string, p picture) (any, string, error) {
			if cf.candidates <= 1 {
				text, err := s.Caption(p.im, prompt, o)
				return captionResult{Image: p.path, Caption: text}, fmt.Sprintf("%s: %s", p.path, text), err
			}
			return cf.caption(s, o, prompt, p)
		}}
	return c.main(args, stdout, stderr)
}

// capfiltFlags are the caption command's CapFilt flags and, once open, its judges.
type capfiltFlags struct {
	candidates, samples int
	topP                float64
	seed                uint64
	rank                string
	itmModel, clipModel string

	judges []blip.Judge
}

func (cf *capfiltFlags) define(fs *flag.FlagSet) {
	fs.IntVar(&cf.candidates, "candidates", 1, "propose `N` captions and keep the best-ranked (CapFilt); 1 is off")
	fs.IntVar(&cf.samples, "samples", 0, "how many of the candidates are nucleus samples (the rest are beam hypotheses)")
	fs.Float64Var(&cf.topP, "top-p", blip.DefaultSampleOptions().TopP, "nucleus sampling's top_p")
	fs.Uint64Var(&cf.seed, "seed", 1, "seed of nucleus sampling (the same image and seed give the same samples)")
	fs.StringVar(&cf.rank, "rank", "itm", "what ranks the candidates: itm, clip or both")
	fs.StringVar(&cf.itmModel, "itm-model", "", "BLIP image-text retrieval `folder` for --rank itm (default: blip_itm beside --model)")
	fs.StringVar(&cf.clipModel, "clip-model", "", "CLIP `folder` for --rank clip (default: clip beside --model)")
}

// options are the candidate options the flags ask for.
func (cf *capfiltFlags) options() blip.CandidateOptions {
	so := blip.DefaultSampleOptions()
	so.TopP = cf.topP
	return blip.CandidateOptions{Beams: cf.candidates - cf.samples, Samples: cf.samples, Sample: so, Seed: cf.seed}
}

// open checks the CapFilt flags and opens the ranking models (none without --candidates).
func (cf *capfiltFlags) open(f *blipFlags) (func(), error) {
	nothing := func() {}
	switch {
	case cf.candidates < 1 || cf.candidates > maxCandidates:
		return nothing, usageError{fmt.Errorf("--candidates %d is outside [1, %d]", cf.candidates, maxCandidates)}
	case cf.samples < 0 || cf.samples > cf.candidates:
		return nothing, usageError{fmt.Errorf("--samples %d is outside [0, --candidates %d]", cf.samples, cf.candidates)}
	case cf.candidates > 1 && f.beams > 1:
		return nothing, usageError{fmt.Errorf("--beams %d and --candidates %d: the candidates are the beams; give one of them", f.beams, cf.candidates)}
	}
	if cf.candidates == 1 {
		return nothing, nil
	}
	useITM, useCLIP, err := rankModels(cf.rank)
	if err != nil {
		return nothing, usageError{err}
	}
	del, err := tflite.ParseDelegateKind(f.delegate)
	if err != nil {
		return nothing, usageError{err}
	}
	var closers []func() error
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if useITM {
		dir, err := besideModel(cf.itmModel, f.model, "blip_itm", "--itm-model")
		if err != nil {
			return nothing, err
		}
		m, err := f.openBLIP(dir, del, io.Discard)
		if err != nil {
			return nothing, fmt.Errorf("--itm-model %s: %w", dir, err)
		}
		closers = append(closers, m.Close)
		bm, err := confirm.NewBLIPMatcher(m, 1)
		if err != nil {
			cleanup()
			return nothing, fmt.Errorf("--itm-model %s: %w", dir, err)
		}
		closers = append(closers, bm.Close)
		cf.judges = append(cf.judges, blip.Judge{Name: "itm", Scorer: bm})
	}
	if useCLIP {
		dir, err := besideModel(cf.clipModel, f.model, "clip", "--clip-model")
		if err != nil {
			cleanup()
			return nothing, err
		}
		b, err := openModel(dir, f.cache, f.precision, io.Discard)
		if err != nil {
			cleanup()
			return nothing, fmt.Errorf("--clip-model %s: %w", dir, err)
		}
		m, err := clip.Load(b, clip.Options{RunOptions: clip.RunOptions{Threads: f.threads, Delegate: del}})
		if err != nil {
			cleanup()
			return nothing, fmt.Errorf("--clip-model %s: %w", dir, err)
		}
		closers = append(closers, m.Close)
		cf.judges = append(cf.judges, blip.Judge{Name: "clip", Scorer: clip.Matcher{Model: m}})
	}
	return cleanup, nil
}

// maxCandidates bounds --candidates: each candidate is a beam (or a sample) of one batch.
const maxCandidates = 16

// rankModels says which models a --rank value needs.
func rankModels(rank string) (itm, clip bool, err error) {
	switch rank {
	case "itm":
		return true, false, nil
	case "clip":
		return false, true, nil
	case "both":
		return true, true, nil
	}
	return false, false, fmt.Errorf("--rank %q: want itm, clip or both", rank)
}

// besideModel is dir when given, else the folder name beside the captioning model (the
// layout of models/shapes).
func besideModel(dir, model, name, flagName string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	guess := filepath.Join(filepath.Dir(filepath.Clean(model)), name)
	if _, err := os.Stat(guess); err != nil {
		return "", usageError{fmt.Errorf("no %s folder beside %s: give the model with %s DIR", name, model, flagName)}
	}
	return guess, nil
}

// caption proposes the candidates of one image and ranks them.
func (cf *capfiltFlags) caption(s *blip.Session, o blip.GenerateOptions, prompt string, p picture) (any, string, error) {
	cands, err := s.CaptionCandidates(p.im, prompt, o, cf.options())
	if err != nil {
		return nil, "", err
	}
	if err := blip.Rank(context.Background(), p.img, cands, cf.judges...); err != nil {
		return nil, "", err
	}
	res := captionResult{Image: p.path, Caption: cands[0].Text, Score: &cands[0].Score}
	var line strings.Builder
	fmt.Fprintf(&line, "%s: %s (%s %.4f)", p.path, cands[0].Text, cf.rank, cands[0].Score)
	for i, c := range cands {
		res.Candidates = append(res.Candidates, captionCandidate{Caption: c.Text, Score: c.Score, Scores: c.Scores, From: c.From, Decoder: c.Decoder})
		if i > 0 {
			fmt.Fprintf(&line, "\n  %.4f %s", c.Score, c.Text)
		}
	}
	return res, line.String(), nil
}
