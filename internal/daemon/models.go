package daemon

import (
	"context"
	"errors"
	"image"

	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/confirm"
)

// The daemon schedules work against these small contracts rather than against the clip and
// blip packages directly: the scheduler is tested on its own, and the real models are wired
// in by adapters (models_load.go). Implementations must be safe for concurrent use: several
// workers call them at once.

// Labeler is CLIP as the daemon uses it: one image embedding per frame, scored against any
// number of label sets whose text embeddings are prepared (and cached) ahead of time.
type Labeler interface {
	// EmbedImage returns the image embedding of img.
	EmbedImage(ctx context.Context, img image.Image) ([]float32, error)
	// PrepareLabels computes, or finds in the cache, the text embeddings of set, so that
	// Classify is cheap. It is called before a set is first used, at start and on reload.
	PrepareLabels(ctx context.Context, set *clip.LabelSet) error
	// Classify scores every label of set for an image embedding: probabilities over the set
	// (softmax with the model's logit scale), best first.
	Classify(ctx context.Context, imageEmbedding []float32, set *clip.LabelSet) ([]clip.Score, error)
}

// TextEmbedder is CLIP's text side, for text search over recent frames: a Labeler that also
// implements it makes search available.
type TextEmbedder interface {
	// EmbedText returns the text embedding of a search query (not cached: queries are
	// unbounded in number).
	EmbedText(ctx context.Context, text string) ([]float32, error)
	// LabelEmbeddings returns one embedding per label of set (the ones Classify uses).
	LabelEmbeddings(ctx context.Context, set *clip.LabelSet) ([][]float32, error)
	// LogitScale is the model's softmax multiplier.
	LogitScale() float64
}

// CaptionOptions are a camera's caption settings.
type CaptionOptions struct {
	Beams     int
	MaxTokens int
	Prompt    string // conditional captioning: the caption continues this text
	// Candidates > 1 is CapFilt: the decoder proposes that many captions (Samples of them
	// nucleus samples, the others the hypotheses of a beam search) and the one Rank's models
	// score best is the caption.
	Candidates int
	Samples    int
	Rank       string // itm, clip or both
}

// Caption is a frame's caption. A ranked one (CaptionOptions.Candidates > 1) has the score
// that chose it and every candidate, best first (the first is Text).
type Caption struct {
	Text       string
	Ranked     bool
	Score      float64
	Candidates []RankedCaption
}

// RankedCaption is one candidate caption and its ranking score.
type RankedCaption struct {
	Text  string
	Score float64
}

// Captioner is BLIP captioning.
type Captioner interface {
	Caption(ctx context.Context, img image.Image, opts CaptionOptions) (Caption, error)
}

// Answerer is BLIP visual question answering. The picture is encoded once for all the
// questions, so a camera's standing questions cost one image encoding per frame.
type Answerer interface {
	// Answer returns one answer per question, in order.
	Answer(ctx context.Context, img image.Image, questions []string) ([]string, error)
}

// Models are the loaded models; a nil field is a model the config does not name.
type Models struct {
	Labeler   Labeler
	Captioner Captioner
	Answerer  Answerer
	Matcher   confirm.Matcher // BLIP image-text matching: checks events, re-ranks search hits
	// Close frees them (TFLite interpreters); may be nil.
	Close func() error
}

// ModelLoader loads the models a config names while the daemon runs, and calls ready with
// each model (or several at once) as soon as it can be used: a Models holding only those, with
// their Close. Preparing a model may pull a repository and convert a checkpoint first, which
// takes a while on the first run; it should stop early when ctx ends. An error fails every
// model not yet handed to ready.
type ModelLoader func(ctx context.Context, cfg *Config, ready func(*Models)) error

// errNoModel is returned for work whose model the config does not name.
var errNoModel = errors.New("no model configured")
