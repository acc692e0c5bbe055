package clip

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Score is one label's result for an image.
type Score struct {
	Label string  `json:"label"`
	Score float64 `json:"score"` // softmax probability over the label set
	// Similarity is the cosine of the image and label embeddings, before the logit scale.
	Similarity float32 `json:"-"`
}

// Classifier scores images against the labels of a label set. It holds one embedding per
// label, computed once; classifying an image is a matrix-vector product and a softmax. It is
// safe for concurrent use.
type Classifier struct {
	set    *LabelSet
	labels []string
	embeds []float32 // len(labels) × dim, row-major
	dim    int
	scale  float32
}

// NewClassifier builds a classifier from one embedding per label (in set order), e.g. from
// Model.LabelEmbeddings, with the model's logit scale.
func NewClassifier(set *LabelSet, labelEmbeds [][]float32, logitScale float32) (*Classifier, error) {
	if set == nil || len(set.Labels) == 0 {
		return nil, errors.New("clip: classifier: empty label set")
	}
	if len(labelEmbeds) != len(set.Labels) {
		return nil, fmt.Errorf("clip: classifier: %d embeddings for %d labels of set %q", len(labelEmbeds), len(set.Labels), set.Name)
	}
	c := &Classifier{set: set, labels: set.Names(), dim: len(labelEmbeds[0]), scale: logitScale}
	if c.dim == 0 {
		return nil, errors.New("clip: classifier: empty label embedding")
	}
	c.embeds = make([]float32, 0, len(labelEmbeds)*c.dim)
	for i, e := range labelEmbeds {
		if len(e) != c.dim {
			return nil, fmt.Errorf("clip: classifier: label %q has a %d-wide embedding, want %d", c.labels[i], len(e), c.dim)
		}
		c.embeds = append(c.embeds, e...)
	}
	return c, nil
}

// LabelSet is the set the classifier was built for.
func (c *Classifier) LabelSet() *LabelSet { return c.set }

// Labels are the label names in set order.
func (c *Classifier) Labels() []string { return c.labels }

// Classify scores every label for an image embedding (L2-normalised, as Model's are): the
// softmax over labels of logit scale × cosine, as transformers' logits_per_image.softmax. The
// scores come sorted by decreasing score.
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
	for i := range c.labels {
		dst[i] = Score{Label: c.labels[i], Similarity: Dot(imageEmbed, c.embeds[i*c.dim:(i+1)*c.dim])}
	}
	softmax(dst, c.scale)
	slices.SortStableFunc(dst, func(a, b Score) int { return cmp.Compare(b.Score, a.Score) })
	return nil
}

// softmax sets every score to the softmax over scores of scale × similarity.
func softmax(scores []Score, scale float32) {
	maxLogit := float32(math.Inf(-1))
	for _, s := range scores {
		maxLogit = max(maxLogit, scale*s.Similarity)
	}
	var sum float64
	for i := range scores {
		e := math.Exp(float64(scale*scores[i].Similarity - maxLogit))
		scores[i].Score = e
		sum += e
	}
	for i := range scores {
		scores[i].Score /= sum
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
