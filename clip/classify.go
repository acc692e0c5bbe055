package clip

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Score is one label's result for an image.
type Score struct {
	Label string `json:"label"`
	// Score is the probability that the picture shows the label: what CLIP gives the texts
	// that show it against the model's Contrast. It does not depend on the set's other labels.
	Score float64 `json:"score"`
	// Share is the label's softmax probability over the labels of its set (transformers'
	// logits_per_image.softmax): which of them fits best. The shares of a set add up to one.
	Share float64 `json:"share"`
	// Similarity is the cosine of the image and label embeddings, before the logit scale.
	Similarity float32 `json:"-"`
}

// Classifier scores images against the labels of a label set. It holds one embedding per
// label and the texts each is told apart from, computed once; classifying an image is a few
// matrix-vector products. It is safe for concurrent use.
type Classifier struct {
	set      *LabelSet
	labels   []string
	embeds   []float32 // len(labels) × dim, row-major
	dim      int
	scale    float32
	contrast *Contrast
	// same is, per label, the index of the contrast label it is, or -1; pairs holds, per
	// label with same -1, its rows said with each contrast label (Contrast.PairsWith).
	same  []int
	pairs [][]float32
	// background are the set's own background prompts' rows.
	background []float32
	scratch    sync.Pool // of *contrastSums
}

// NewClassifier builds a classifier from one embedding per label (in set order), e.g. from
// Model.LabelEmbeddings, the contrast they are told apart from, and for each label that is
// not one of the contrast's labels (Contrast.Find gives -1) the embeddings of
// Contrast.PairsWith(label), in that order (nil for the others), and of the set's own
// background prompts. Model.Classifier does all of this.
func NewClassifier(set *LabelSet, labelEmbeds [][]float32, contrast *Contrast, pairEmbeds [][][]float32, backgroundEmbeds [][]float32) (*Classifier, error) {
	if set == nil || len(set.Labels) == 0 {
		return nil, errors.New("clip: classifier: empty label set")
	}
	if contrast == nil {
		return nil, fmt.Errorf("clip: classifier: label set %q has no contrast to tell its labels apart from", set.Name)
	}
	if len(labelEmbeds) != len(set.Labels) || len(pairEmbeds) != len(set.Labels) {
		return nil, fmt.Errorf("clip: classifier: %d embeddings and %d pair lists for %d labels of set %q", len(labelEmbeds), len(pairEmbeds), len(set.Labels), set.Name)
	}
	c := &Classifier{set: set, labels: set.Names(), dim: contrast.dim, scale: contrast.scale, contrast: contrast,
		same: make([]int, len(set.Labels)), pairs: make([][]float32, len(set.Labels))}
	var err error
	if c.embeds, err = rows(labelEmbeds, c.dim); err != nil {
		return nil, fmt.Errorf("clip: classifier: label set %q: %w (the contrast's are %d wide)", set.Name, err, c.dim)
	}
	if c.background, err = rows(backgroundEmbeds, c.dim); err != nil || len(backgroundEmbeds) != len(set.Background) {
		return nil, fmt.Errorf("clip: classifier: label set %q: %d background embeddings for %d prompts (%v)", set.Name, len(backgroundEmbeds), len(set.Background), err)
	}
	for i, name := range c.labels {
		c.same[i] = contrast.Find(name, labelEmbeds[i])
		if c.same[i] >= 0 {
			continue
		}
		if want := len(contrast.PairsWith(name)); len(pairEmbeds[i]) != want {
			return nil, fmt.Errorf("clip: classifier: label %q: %d pair embeddings, the contrast has %d", name, len(pairEmbeds[i]), want)
		}
		if c.pairs[i], err = rows(pairEmbeds[i], c.dim); err != nil {
			return nil, fmt.Errorf("clip: classifier: label %q: pairs: %w", name, err)
		}
	}
	n := len(contrast.set.Labels)
	c.scratch.New = func() any { return &contrastSums{naming: make([]float64, n)} }
	return c, nil
}

// LabelSet is the set the classifier was built for.
func (c *Classifier) LabelSet() *LabelSet { return c.set }

// Labels are the label names in set order.
func (c *Classifier) Labels() []string { return c.labels }

// Contrast is what the classifier tells its labels apart from.
func (c *Classifier) Contrast() *Contrast { return c.contrast }

// Classify scores every label for an image embedding (L2-normalised, as Model's are): each
// label's probability that the picture shows it, and its share of the set's softmax. The
// scores come sorted by decreasing share (then score): the first is the set's top, the label
// that fits best of them, whatever the scores say about each being there.
func (c *Classifier) Classify(imageEmbed []float32) ([]Score, error) {
	out := make([]Score, len(c.labels))
	if err := c.ClassifyInto(imageEmbed, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ClassifyInto is Classify writing into dst (one entry per label) without allocating.
func (c *Classifier) ClassifyInto(imageEmbed []float32, dst []Score) error {
	if len(imageEmbed) != c.dim {
		return fmt.Errorf("clip: classify: image embedding is %d wide, the labels %d", len(imageEmbed), c.dim)
	}
	if len(dst) != len(c.labels) {
		return fmt.Errorf("clip: classify: room for %d scores, the set has %d labels", len(dst), len(c.labels))
	}
	sums := c.scratch.Get().(*contrastSums)
	defer c.scratch.Put(sums)
	con := c.contrast
	con.sums(imageEmbed, sums)
	var background float64
	for i := 0; i < len(c.background); i += c.dim {
		background += con.logit(imageEmbed, c.background[i:i+c.dim])
	}
	d := c.dim
	for i := range c.labels {
		own := c.embeds[i*d : (i+1)*d]
		sim := Dot(imageEmbed, own)
		shows := con.logit(imageEmbed, own)
		others := sums.items + sums.pairs + sums.background + background
		if k := c.same[i]; k >= 0 {
			// The label takes contrast label k's place: k's pairs show it, k itself is
			// neither (it is the label).
			shows += sums.naming[k]
			others -= con.logit(imageEmbed, con.items[k*d:(k+1)*d]) + sums.naming[k]
		} else {
			for p := c.pairs[i]; len(p) >= d; p = p[d:] {
				shows += con.logit(imageEmbed, p[:d])
			}
		}
		dst[i] = Score{Label: c.labels[i], Score: shows / (shows + max(others, 0)), Similarity: sim}
	}
	softmax(dst, c.scale)
	slices.SortStableFunc(dst, func(a, b Score) int {
		return cmp.Or(cmp.Compare(b.Share, a.Share), cmp.Compare(b.Score, a.Score))
	})
	return nil
}

// softmax sets every share to the softmax over scores of scale × similarity.
func softmax(scores []Score, scale float32) {
	maxLogit := float32(math.Inf(-1))
	for _, s := range scores {
		maxLogit = max(maxLogit, scale*s.Similarity)
	}
	var sum float64
	for i := range scores {
		e := math.Exp(float64(scale*scores[i].Similarity - maxLogit))
		scores[i].Share = e
		sum += e
	}
	for i := range scores {
		scores[i].Share /= sum
	}
}

// TopK returns the first k scores (all of them when k <= 0 or k is larger than the list).
func TopK(scores []Score, k int) []Score {
	if k <= 0 || k > len(scores) {
		return scores
	}
	return scores[:k]
}

// MeanEmbedding is CLIP's prompt ensembling: the mean of the (normalised) prompt embeddings,
// normalised again.
func MeanEmbedding(prompts [][]float32) ([]float32, error) {
	if len(prompts) == 0 {
		return nil, errors.New("clip: mean of no embeddings")
	}
	mean := make([]float32, len(prompts[0]))
	for _, p := range prompts {
		if len(p) != len(mean) {
			return nil, fmt.Errorf("clip: embeddings of different widths (%d and %d)", len(p), len(mean))
		}
		for i, x := range p {
			mean[i] += x
		}
	}
	return Normalize(mean), nil
}
