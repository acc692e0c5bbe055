package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edged/edged/clip"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

func init() {
	register("classify", "zero-shot labels for images with a CLIP model and a label set", runClassify)
}

// classifyResult is the JSON line printed per image with --json: a contract other tools rely
// on, so its field names never change.
type classifyResult struct {
	Image  string       `json:"image"`
	Labels []clip.Score `json:"labels"`
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ", ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runClassify(args []string) int {
	return classify(args, os.Stdout, os.Stderr)
}

func classify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: edged classify --model MODEL (--labels FILE.yaml | --label TEXT...) [--top K] [--contrast FILE.yaml] [--json] IMAGE...\n\n"+
			"Scores each image against the labels: each label's probability that the image shows it\n"+
			"(score, against the model's contrast set, as edged run scores it), and its share of the\n"+
			"softmax over the set (share: which of them fits best; best first). --model is a bundle,\n"+
			"a Hugging Face checkpoint folder or a repository id (owner/name[@revision], pulled from\n"+
			"the hub), converted on first use into the cache. Images: %s files.\n\n", imageproc.Formats)
		fs.PrintDefaults()
	}
	model := fs.String("model", "", "CLIP bundle, checkpoint folder or Hugging Face repository id `owner/name[@revision]`")
	labelsFile := fs.String("labels", "", "label set `file` (YAML)")
	var labels stringList
	fs.Var(&labels, "label", "a label (repeatable), with the template \"a photo of a {}\"")
	top := fs.Int("top", 5, "print the K best labels (0 for all)")
	contrastFile := fs.String("contrast", "", "contrast set `file` (YAML) the labels are told apart from (default: the model's own, as edged run)")
	asJSON := fs.Bool("json", false, "print one JSON object per image per line")
	cache := fs.String("cache", "", "model cache `folder` (default $XDG_CACHE_HOME/edged)")
	precision := fs.String("precision", "", "precision to convert a checkpoint to (default: CLIP's default)")
	threads := fs.Int("threads", 0, "interpreter threads (0: one per CPU)")
	delegate := fs.String("delegate", "xnnpack", "xnnpack or none")
	images, err := parseInterspersed(fs, args)
	if err != nil {
		return flagStatus(err)
	}
	if *model == "" {
		return missingArgs(fs, "no model: give a CLIP bundle, checkpoint folder or repository id with --model")
	}
	if len(images) == 0 {
		return missingArgs(fs, "no image: give one or more image files (%s)", imageproc.Formats)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "edged classify: %v\n", err)
		return 1
	}
	set, err := classifyLabelSet(*labelsFile, labels)
	if err != nil {
		return fail(err)
	}
	del, err := tflite.ParseDelegateKind(*delegate)
	if err != nil {
		return fail(err)
	}
	cacheDir, err := cacheFolder(*cache)
	if err != nil {
		return fail(err)
	}
	if err := checkFolderArchitecture(*model, "classify", clip.Architecture); err != nil {
		return fail(err)
	}
	bundle, err := openModel(*model, cacheDir, *precision, stderr)
	if err != nil {
		return fail(err)
	}
	if err := architectureError(*model, bundle.Manifest.Architecture, "classify", clip.Architecture); err != nil {
		return fail(err)
	}
	var contrast *clip.LabelSet
	if *contrastFile != "" {
		if contrast, err = clip.LoadLabelSet(*contrastFile); err != nil {
			return fail(err)
		}
	}
	m, err := clip.Load(bundle, clip.Options{
		RunOptions:   clip.RunOptions{Threads: *threads, Delegate: del},
		TextCacheDir: models.TextDir(cacheDir),
		Contrast:     contrast,
	})
	if err != nil {
		return fail(err)
	}
	defer m.Close()
	cls, err := m.Classifier(set)
	if err != nil {
		return fail(err)
	}
	status := 0
	enc := json.NewEncoder(stdout)
	for _, path := range images {
		scores, err := classifyImage(m, cls, path)
		if err != nil {
			fmt.Fprintf(stderr, "edged classify: %v\n", err)
			status = 1
			continue // the other images are still worth their answer
		}
		scores = clip.TopK(scores, *top)
		if *asJSON {
			if err := enc.Encode(classifyResult{Image: path, Labels: scores}); err != nil {
				return fail(err)
			}
			continue
		}
		fmt.Fprintf(stdout, "%s\n  %-30s %6s %6s\n", path, "label", "score", "share")
		for _, s := range scores {
			fmt.Fprintf(stdout, "  %-30s %6.3f %6.3f\n", s.Label, s.Score, s.Share)
		}
	}
	return status
}

// classifyLabelSet is the label set of --labels or of the --label flags (exactly one of them).
func classifyLabelSet(file string, labels []string) (*clip.LabelSet, error) {
	switch {
	case file != "" && len(labels) > 0:
		return nil, errors.New("give --labels or --label, not both")
	case file != "":
		return clip.LoadLabelSet(file)
	case len(labels) > 0:
		return clip.NewLabelSet("command line", labels, nil)
	}
	return nil, errors.New("no labels: give a label set with --labels FILE.yaml or labels with --label TEXT")
}

func classifyImage(m *clip.Model, cls *clip.Classifier, path string) ([]clip.Score, error) {
	img, err := imageproc.DecodeFile(path)
	if err != nil {
		return nil, err
	}
	emb, err := m.EmbedImage(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cls.Classify(emb)
}

// parseInterspersed parses flags that may come before, between or after the positional
// arguments (edged classify IMAGE --json works), and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
