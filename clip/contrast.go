package clip

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strings"
)

// A label's score is the probability that the frame shows it. CLIP gives probabilities only
// over a list of texts (a softmax of logit scale × cosine), and they mean "which of these
// texts says what the picture shows": over a label set's own labels the best label of any set
// wins whatever the frame shows, and a set of one label always scores 1. So every label is
// scored against a Contrast instead, the same for every set: texts for the things the model's
// cameras may show, each alone and with another ("a photo of a person and a car"), and for
// what they show when none of them is there ("a photo of an empty street"). A label's score
// is the probability CLIP gives the texts that show it (the label itself, and the label said
// together with each contrast label) against all of them. A frame showing two things sits
// between them, so neither alone need win: the pair that names both does, and it counts for
// each. A label that is one of the contrast's labels takes its place (its pairs are already
// there); any other label is said together with every contrast label, once, through the text
// cache.

// Contrast is what labels are told apart from: the embedded texts of a contrast set (a label
// set whose labels, pairs and background describe what the model's cameras may show). It is
// safe for concurrent use.
type Contrast struct {
	set   *LabelSet
	dim   int
	scale float32
	// items has one embedding per contrast label (the mean of its prompts), pairs one per
	// ordered pair of them (pairIdx names the two), background one per background prompt:
	// rows of dim values.
	items, pairs, background []float32
	pairIdx                  [][2]int
}

// NewContrast builds a contrast from the embeddings of set's labels (in set order), of its
// pairs (as set.PairSet lists them; none when the set has no pairs) and of its background
// prompts, with the model's logit scale.
func NewContrast(set *LabelSet, labelEmbeds, pairEmbeds, backgroundEmbeds [][]float32, logitScale float32) (*Contrast, error) {
	if set == nil || len(set.Labels) == 0 {
		return nil, errors.New("clip: contrast: empty label set")
	}
	if !(logitScale > 0 && logitScale <= MaxLogitScale) {
		return nil, fmt.Errorf("clip: contrast %q: logit scale %v is outside (0, %d]", set.Name, logitScale, MaxLogitScale)
	}
	_, pairIdx := set.PairSet()
	if len(labelEmbeds) != len(set.Labels) || len(pairEmbeds) != len(pairIdx) || len(backgroundEmbeds) != len(set.Background) {
		return nil, fmt.Errorf("clip: contrast %q: %d, %d and %d embeddings for %d labels, %d pairs and %d background prompts",
			set.Name, len(labelEmbeds), len(pairEmbeds), len(backgroundEmbeds), len(set.Labels), len(pairIdx), len(set.Background))
	}
	c := &Contrast{set: set, dim: len(labelEmbeds[0]), scale: logitScale, pairIdx: pairIdx}
	var err error
	if c.items, err = rows(labelEmbeds, c.dim); err == nil {
		if c.pairs, err = rows(pairEmbeds, c.dim); err == nil {
			c.background, err = rows(backgroundEmbeds, c.dim)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("clip: contrast %q: %w", set.Name, err)
	}
	return c, nil
}

// rows packs embeddings of width dim into one row-major slice.
func rows(embeds [][]float32, dim int) ([]float32, error) {
	if dim == 0 {
		return nil, errors.New("empty embedding")
	}
	out := make([]float32, 0, len(embeds)*dim)
	for i, e := range embeds {
		if len(e) != dim {
			return nil, fmt.Errorf("embedding %d is %d wide, want %d", i, len(e), dim)
		}
		out = append(out, e...)
	}
	return out, nil
}

// Set is the contrast set the contrast was embedded from.
func (c *Contrast) Set() *LabelSet { return c.set }

// Find returns the index of the contrast label that label is: the same name (letter case and
// spaces aside), or an embedding that says the same (SameText); -1 when there is none.
func (c *Contrast) Find(label string, embed []float32) int {
	for i, l := range c.set.Labels {
		if strings.EqualFold(strings.Join(strings.Fields(l.Name), " "), strings.Join(strings.Fields(label), " ")) {
			return i
		}
	}
	for i := range c.set.Labels {
		if Dot(embed, c.items[i*c.dim:(i+1)*c.dim]) >= SameText {
			return i
		}
	}
	return -1
}

// SameText is the cosine of two text embeddings above which they say the same thing: a text
// and its prompt template sit above it (the shapes CLIP: "red circle" and "a photo of a red
// circle", 0.999), distinct labels well below ("a photo of a red circle" and "a photo of a
// red square", 0.74).
const SameText = 0.99

// PairsWith returns the texts that show label beside each of the contrast's labels, two per
// contrast label k (at 2k the label first, at 2k+1 the contrast label first), said through the
// contrast set's pair phrase and templates; none when the contrast set has no pairs.
func (c *Contrast) PairsWith(label string) []Label {
	if c.set.Pair == "" {
		return nil
	}
	out := make([]Label, 0, 2*len(c.set.Labels))
	for _, l := range c.set.Labels {
		out = append(out, c.set.pairLabel(label, l.Name), c.set.pairLabel(l.Name, label))
	}
	return out
}

// contrastSums are the sums over a frame's logits against a contrast that the scores need,
// of exp(logit − scale): every logit is scale × cosine, within ±scale, so each exp lies in
// [e^(−2·scale), 1] and neither overflows nor (for scale ≤ MaxLogitScale) vanishes.
type contrastSums struct {
	items      float64   // over the contrast labels
	pairs      float64   // over the pairs
	background float64   // over the background prompts
	naming     []float64 // per contrast label: over the pairs that name it
}

// MaxLogitScale is the largest logit scale a Contrast takes (CLIP clamps its own at 100).
const MaxLogitScale = 300

// logit is exp(scale × cosine − scale), as contrastSums holds them.
func (c *Contrast) logit(img, text []float32) float64 {
	return math.Exp(float64(c.scale) * (float64(Dot(img, text)) - 1))
}

// sums fills s (whose naming has one entry per contrast label) for image embedding img.
func (c *Contrast) sums(img []float32, s *contrastSums) {
	d := c.dim
	s.items, s.pairs, s.background = 0, 0, 0
	clear(s.naming)
	for i := 0; i < len(c.items); i += d {
		s.items += c.logit(img, c.items[i:i+d])
	}
	for k, ab := range c.pairIdx {
		e := c.logit(img, c.pairs[k*d:(k+1)*d])
		s.pairs += e
		s.naming[ab[0]] += e
		s.naming[ab[1]] += e
	}
	for i := 0; i < len(c.background); i += d {
		s.background += c.logit(img, c.background[i:i+d])
	}
}

//go:embed contrast.yaml
var defaultContrast []byte

// DefaultContrastSet is the contrast set of CLIP models that carry none of their own: what a
// home or street camera may show (people, vehicles, animals, parcels, each alone and beside
// another) and empty scenes.
func DefaultContrastSet() *LabelSet {
	set, err := ParseLabelSet(defaultContrast, "clip/contrast.yaml")
	if err != nil {
		panic(err) // the embedded file is checked by the tests
	}
	return set
}
