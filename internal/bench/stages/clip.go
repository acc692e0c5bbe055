package stages

import (
	"fmt"
	"math/rand/v2"

	clipspec "github.com/edged/edged/clip/spec"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/bench"
	"github.com/edged/edged/runtime/tflite"
)

// Labels are the 100 labels of the zero-shot stages: COCO's 80 classes and 20 more.
var Labels = []string{
	"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
	"fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
	"elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
	"skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
	"wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
	"broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
	"dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
	"toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
	"package", "delivery van", "fox", "deer", "raccoon", "squirrel", "rabbit", "chicken", "duck", "garden hose",
	"lawn mower", "wheelbarrow", "ladder", "mailbox", "doorbell", "garage door", "fence", "tree", "snow", "rain",
}

// The CLIP tokenizer's ids of "a photo of a dog" with start and end tokens: the label length
// of the text stage when the bundle has no tokenizer (a --random-init bundle).
var photoOfADog = []int32{49406, 320, 1125, 539, 320, 1929, 49407}

// clipDelegate is what clip.Load does with a bench delegate name: XNNPACK, with QS8 turned on
// by clip itself for int8 towers; the run options and the name of that configuration.
func clipDelegate(d, precision string) (clip.RunOptions, string) {
	base, kernel := bench.SplitKernels(d)
	o := clip.RunOptions{Delegate: tflite.DelegateXNNPack, Kernels: kernel}
	name := bench.DelegateXNNPack
	switch {
	case base == bench.DelegateNone:
		o.Delegate, name = tflite.DelegateNone, bench.DelegateNone
	case precision == "int8":
		name = bench.DelegateXNNPackQS8
	}
	if kernel == "" {
		o.Kernels = "off"
	} else {
		name += "+" + kernel
	}
	return o, name
}

// CLIPPrompts returns the token ids of "a photo of a {label}" for each label: through the
// model's tokenizer when the bundle has one, otherwise CLIP-like ids of the same lengths
// (start, "a photo of a", one to three label tokens, end) drawn from a fixed seed.
func CLIPPrompts(m *clip.Model, labels []string) [][]int32 {
	out := make([][]int32, len(labels))
	if _, err := m.Tokenize("a photo of a dog"); err == nil {
		ok := true
		for i, l := range labels {
			ids, err := m.Tokenize("a photo of a " + l)
			if err != nil {
				ok = false
				break
			}
			out[i] = ids
		}
		if ok {
			return out
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range labels {
		n := 1
		if r := rng.IntN(10); r >= 9 {
			n = 3
		} else if r >= 6 {
			n = 2
		}
		ids := append([]int32(nil), photoOfADog[:5]...)
		for j := 0; j < n; j++ {
			ids = append(ids, int32(400+rng.IntN(48000)))
		}
		out[i] = append(ids, photoOfADog[6])
	}
	return out
}

// realLength is the number of ids up to and including the end token (the tokenizer pads
// after it).
func realLength(ids []int32, eos int32) int {
	for i, id := range ids {
		if id == eos {
			return i + 1
		}
	}
	return len(ids)
}

// CLIP times the CLIP stages of bundle b.
func CLIP(s Setup, b *bundle.Bundle) error {
	precision := b.Manifest.Precision
	run, effective := clipDelegate(s.Delegate, precision)
	s.Delegate, run.Threads = effective, s.Threads
	m, err := clip.Load(b, clip.Options{RunOptions: run})
	if err != nil {
		return err
	}
	defer m.Close()
	px, err := pixels(m.Processor())
	if err != nil {
		return err
	}
	r := s.Runner
	if s.Want("clip.image_embed") {
		r.Time(s.record("clip.image_embed", precision), func() error {
			_, err := m.EmbedPixels(px)
			return err
		})
	}
	eos := int32(photoOfADog[6])
	if v, err := b.Manifest.Int(clipspec.ValueEOSTokenID); err == nil && v > 2 {
		eos = int32(v)
	}
	dog := photoOfADog
	if ids, err := m.Tokenize("a photo of a dog"); err == nil {
		dog = ids[:realLength(ids, eos)]
	}
	if s.Want("clip.text_embed") {
		rec := s.record("clip.text_embed", precision)
		rec.Tokens = len(dog)
		r.Time(rec, func() error {
			_, err := m.EmbedTokens(dog)
			return err
		})
	}
	if !s.Want("clip.zero_shot_cold") && !s.Want("clip.zero_shot_cached") {
		return nil
	}
	set, err := clip.NewLabelSet("bench", Labels, []string{clip.DefaultTemplate})
	if err != nil {
		return err
	}
	prompts := CLIPPrompts(m, Labels)
	var embeds [][]float32
	embedLabels := func() error { // as clip.EmbedTexts does on a cache miss: packed runs
		var err error
		embeds, err = m.EmbedTokensBatch(prompts)
		return err
	}
	image, err := m.EmbedPixels(px)
	if err != nil {
		return err
	}
	scores := make([]clip.Score, len(Labels))
	if s.Want("clip.zero_shot_cold") {
		rec := s.record("clip.zero_shot_cold", precision)
		rec.Labels = len(Labels)
		rec.Note = "every label's text embedding computed, then classified"
		r.Time(rec, func() error {
			if err := embedLabels(); err != nil {
				return err
			}
			c, err := selfContrasted(set, embeds, m.LogitScale())
			if err != nil {
				return err
			}
			return c.ClassifyInto(image, scores)
		})
	}
	if s.Want("clip.zero_shot_cached") {
		if embeds[0] == nil {
			if err := embedLabels(); err != nil {
				return err
			}
		}
		c, err := selfContrasted(set, embeds, m.LogitScale())
		if err != nil {
			return err
		}
		rec := s.record("clip.zero_shot_cached", precision)
		rec.Labels = len(Labels)
		rec.Note = "beyond the image embedding"
		r.Time(rec, func() error { return c.ClassifyInto(image, scores) })
	}
	if len(scores) != len(Labels) {
		return fmt.Errorf("clip: %d scores", len(scores))
	}
	return nil
}

// selfContrasted is a classifier of set whose labels are told apart from each other (the set
// is its own contrast, without pairs): what scoring costs per label, whatever the contrast.
func selfContrasted(set *clip.LabelSet, embeds [][]float32, scale float32) (*clip.Classifier, error) {
	con, err := clip.NewContrast(set, embeds, nil, nil, scale)
	if err != nil {
		return nil, err
	}
	return clip.NewClassifier(set, embeds, con, make([][][]float32, len(embeds)), nil)
}
