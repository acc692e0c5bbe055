package clip

import (
	"errors"
	"fmt"
	"image"
	"slices"
	"sync"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip/spec"
	"github.com/edged/edged/hf"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/runtime/tflite"
	"github.com/edged/edged/tokenizer"
)

// Model is a loaded CLIP bundle: the vision and text towers (memory-mapped once), the image
// preprocessing and the tokenizer the checkpoint came with, the logit scale and the text
// cache.
//
// Goroutines: as in package blip, a Model is shared and safe for concurrent use, and work runs
// in Sessions, one per goroutine: a Session has its own interpreter of the vision tower, so
// sessions embed images in parallel. The Model's own embedding methods run on one session of
// its own, one call at a time. Text is embedded on the Model (once per label set, cached).
type Model struct {
	Bundle *bundle.Bundle

	run               RunOptions
	visionModel       *loadedModel
	textModel         *loadedModel
	proc              *imageproc.Processor
	height, width     int
	logitScale        float32
	dim, context, eos int
	vocab             int // token ids are below it: the text tower's embedding table
	pooling           string

	tokOnce sync.Once
	tok     *tokenizer.CLIP
	tokErr  error

	cache *TextCache

	mu   sync.Mutex // guards own and text, made on first use
	own  *Session
	text *textTower

	contrastOpt  *LabelSet
	afterTextRun func(ip *tflite.Interpreter, texts int) error // Options.AfterTextRun
	contrastMu   sync.Mutex                                    // guards contrast, embedded on first use
	contrast     *Contrast
}

// Options configure Load.
type Options struct {
	RunOptions
	// TextCacheDir keeps text embeddings on disk across runs (see TextCache); empty keeps them
	// in memory only.
	TextCacheDir string
	// TextCacheBytes bounds the text cache in memory and on disk (0: DefaultTextCacheBytes).
	TextCacheBytes int64
	// Contrast is the contrast set labels are told apart from (see Contrast); nil for the
	// bundle's own, or DefaultContrastSet.
	Contrast *LabelSet
	// AfterTextRun, when set, is called after every run of the text tower with its interpreter
	// and the number of texts the run embedded (packed together, see EmbedTokensBatch), under
	// the text tower's lock: calibration observes the float tower's activations through it
	// while it embeds label prompts as it will at run time (package textcal), as
	// blip.Options.AfterRun does for BLIP. An error fails the embedding.
	AfterTextRun func(ip *tflite.Interpreter, texts int) error
}

// Load opens a CLIP bundle. Interpreters are made when first needed: by NewSession, or by the
// Model's own methods.
func Load(b *bundle.Bundle, opts Options) (*Model, error) {
	if b.Manifest.Architecture != Architecture {
		return nil, fmt.Errorf("clip: bundle %s is a %s, not a %s", b.Dir, b.Manifest.Architecture, Architecture)
	}
	m := &Model{Bundle: b, run: opts.RunOptions, contrastOpt: opts.Contrast, afterTextRun: opts.AfterTextRun}
	var err error
	if m.logitScale, m.dim, m.pooling, m.eos, err = manifestValues(b.Manifest); err != nil {
		return nil, fmt.Errorf("clip: bundle %s: %w", b.Dir, err)
	}
	if m.context, err = b.Manifest.IntIn(spec.ValueContext, 2, hf.MaxPositions); err != nil {
		return nil, fmt.Errorf("clip: bundle %s: %w", b.Dir, err)
	}
	if m.vocab, err = textVocab(b, m.context); err != nil {
		return nil, err
	}
	if m.eos >= m.vocab {
		return nil, fmt.Errorf("clip: bundle %s: the manifest's eos_token_id %d is outside the vocabulary of %d", b.Dir, m.eos, m.vocab)
	}
	prePath, err := b.Path(bundle.RolePreprocessorConfig)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	pre, err := imageproc.LoadConfig(prePath)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	if m.proc, err = imageproc.New(pre, imageproc.Options{}); err != nil {
		return nil, fmt.Errorf("clip: %s: %w", prePath, err)
	}
	if m.visionModel, err = loadModel(b, spec.RoleVisionTower); err != nil {
		return nil, err
	}
	in := m.visionModel.file.Inputs
	if len(in) != 1 || len(in[0].Shape) != 4 || in[0].Shape[0] != 1 || in[0].Shape[3] != 3 || !sideOK(in[0].Shape[1]) || !sideOK(in[0].Shape[2]) {
		m.Close()
		return nil, fmt.Errorf("clip: bundle %s: the manifest says the vision tower takes %v, want one input [1 H W 3] of at most %d pixels a side", b.Dir, in, hf.MaxImageSide)
	}
	m.height, m.width = in[0].Shape[1], in[0].Shape[2]
	if h, w, err := m.proc.OutputSize(m.width, m.height); err != nil || h != m.height || w != m.width {
		m.Close()
		return nil, fmt.Errorf("clip: %s makes %dx%d pixels, the vision tower takes %dx%d", prePath, w, h, m.width, m.height)
	}
	if m.textModel, err = loadModel(b, spec.RoleTextTower); err != nil {
		m.Close()
		return nil, err
	}
	m.cache = NewTextCacheSize(opts.TextCacheDir, textModelKey(b), opts.TextCacheBytes)
	return m, nil
}

func sideOK(n int) bool { return n >= 1 && n <= hf.MaxImageSide }

// textVocab is the text tower's vocabulary size, from the config.json the bundle carries
// (checked against its SHA-256 with the bundle): ids at or beyond it would read outside the
// token embedding table. The manifest's context must fit the position table too.
func textVocab(b *bundle.Bundle, context int) (int, error) {
	path, err := b.Path(bundle.RoleConfig)
	if err != nil {
		return 0, fmt.Errorf("clip: %w (it says how many tokens the text tower knows)", err)
	}
	cfg, err := hf.ReadConfig(path)
	if err != nil {
		return 0, fmt.Errorf("clip: %w", err)
	}
	c, err := cfg.CLIP()
	if err != nil {
		return 0, fmt.Errorf("clip: %w", err)
	}
	if context > c.Text.MaxPositionEmbeddings {
		return 0, fmt.Errorf("clip: bundle %s: the manifest's context_length %d is longer than text_config.max_position_embeddings %d of %s", b.Dir, context, c.Text.MaxPositionEmbeddings, path)
	}
	return c.Text.VocabSize, nil
}

// Session embeds images on an interpreter of its own. It is used by one goroutine at a time;
// close it before its Model.
type Session struct {
	m      *Model
	vision *imageTower
}

// NewSession makes a session with its own vision tower interpreter.
func (m *Model) NewSession() (*Session, error) {
	t, err := m.visionModel.newTower(m.run)
	if err != nil {
		return nil, err
	}
	shape := t.ip.Input(0).Shape()
	if len(shape) != 4 || shape[0] != 1 || shape[1] != m.height || shape[2] != m.width || shape[3] != 3 {
		t.close()
		return nil, fmt.Errorf("clip: vision tower %s takes %v, the manifest says [1 %d %d 3]", t.path, shape, m.height, m.width)
	}
	if out := t.ip.Output(0).Shape(); !slices.Equal(out, []int{1, m.dim}) {
		t.close()
		return nil, fmt.Errorf("clip: vision tower %s gives %v, the manifest's projection_dim says [1 %d]", t.path, out, m.dim)
	}
	return &Session{m: m, vision: newImageTower(t, m.height, m.width)}, nil
}

// Close frees the session's interpreter.
func (s *Session) Close() error {
	if s == nil || s.vision == nil {
		return nil
	}
	return s.vision.close()
}

// EmbedImage preprocesses img as the checkpoint's image processor does and returns its
// L2-normalised embedding.
func (s *Session) EmbedImage(img image.Image) ([]float32, error) {
	out := make([]float32, s.m.dim)
	if err := s.EmbedImageInto(out, img); err != nil {
		return nil, err
	}
	return out, nil
}

// EmbedImageInto is EmbedImage writing the embedding into dst (Dim values). It allocates
// nothing: the pixels go through a buffer the session keeps.
func (s *Session) EmbedImageInto(dst []float32, img image.Image) error {
	if img == nil {
		return errors.New("clip: image embedding: nil image")
	}
	return s.vision.embedImageInto(dst, img, s.m.proc)
}

// EmbedPixels returns the L2-normalised embedding of preprocessed pixels: float32 NHWC
// [1, H, W, 3] as imageproc makes them (PixelSize gives H and W).
func (s *Session) EmbedPixels(pixels []float32) ([]float32, error) {
	out := make([]float32, s.m.dim)
	if err := s.EmbedPixelsInto(out, pixels); err != nil {
		return nil, err
	}
	return out, nil
}

// EmbedPixelsInto is EmbedPixels writing the embedding into dst (Dim values), allocating
// nothing.
func (s *Session) EmbedPixelsInto(dst, pixels []float32) error {
	return s.vision.embedInto(dst, pixels)
}

// session is the Model's own session, made on first use.
func (m *Model) session() (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.own == nil {
		s, err := m.NewSession()
		if err != nil {
			return nil, err
		}
		m.own = s
	}
	return m.own, nil
}

// textTower returns the Model's text tower interpreter, made on first use.
func (m *Model) textTower() (*textTower, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.text == nil {
		t, err := m.textModel.newTower(m.run)
		if err != nil {
			return nil, err
		}
		m.text = &textTower{tower: t, context: m.context, vocab: m.vocab, dim: m.dim, after: m.afterTextRun}
	}
	return m.text, nil
}

// OpenText makes the text tower's interpreter now, if it is not made yet, rather than at the
// next text embedding.
func (m *Model) OpenText() error {
	_, err := m.textTower()
	return err
}

// CloseText frees the text tower's interpreter (its weights as the delegate packed them, its
// tensors): a model that labels frames needs it only for new texts. The next text embedding
// makes it again. The caller makes sure no text embedding runs meanwhile: one that does fails.
func (m *Model) CloseText() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.text == nil {
		return nil
	}
	err := m.text.close()
	m.text = nil
	return err
}

func manifestValues(man *bundle.Manifest) (scale float32, dim int, pooling string, eos int, err error) {
	s, err := man.FloatIn(spec.ValueLogitScale, minLogitScale, maxLogitScale)
	if err != nil {
		return
	}
	if dim, err = man.IntIn(spec.ValueProjection, 1, hf.MaxWidth); err != nil {
		return
	}
	if pooling, err = man.Text(spec.ValueTextPooling); err != nil {
		return
	}
	if pooling != "argmax" && pooling != "eos" {
		err = fmt.Errorf("text pooling %q, want argmax or eos", pooling)
		return
	}
	eos, err = man.IntIn(spec.ValueEOSTokenID, 0, hf.MaxVocab-1)
	return float32(s), dim, pooling, eos, err
}

// Bounds of the logit scale: CLIP's training clamps it to 100; a model with a scale far
// outside is broken, and one of 1e30 would make every softmax infinite.
const (
	minLogitScale = 1e-3
	maxLogitScale = 1e4
)

// Close frees the Model's own interpreters and its models; close its Sessions first.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var textErr error
	if m.text != nil {
		textErr = m.text.close()
	}
	return errors.Join(m.own.Close(), textErr, m.visionModel.close(), m.textModel.close())
}

// LogitScale is the multiplier of cosine similarities before the softmax (exp of the
// checkpoint's logit_scale; 100 for the released CLIP models).
func (m *Model) LogitScale() float32 { return m.logitScale }

// Dim is the width of the embeddings.
func (m *Model) Dim() int { return m.dim }

// Processor is the image preprocessing of the bundle (CLIPImageProcessor's).
func (m *Model) Processor() *imageproc.Processor { return m.proc }

// PixelSize is the height and width of the vision tower's input.
func (m *Model) PixelSize() (height, width int) { return m.height, m.width }

// EmbedImage is Session.EmbedImage on the Model's own session (one call at a time).
func (m *Model) EmbedImage(img image.Image) ([]float32, error) {
	s, err := m.session()
	if err != nil {
		return nil, err
	}
	return s.EmbedImage(img)
}

// EmbedImageInto is Session.EmbedImageInto on the Model's own session.
func (m *Model) EmbedImageInto(dst []float32, img image.Image) error {
	s, err := m.session()
	if err != nil {
		return err
	}
	return s.EmbedImageInto(dst, img)
}

// EmbedPixels is Session.EmbedPixels on the Model's own session.
func (m *Model) EmbedPixels(pixels []float32) ([]float32, error) {
	s, err := m.session()
	if err != nil {
		return nil, err
	}
	return s.EmbedPixels(pixels)
}

// EmbedPixelsInto is Session.EmbedPixelsInto on the Model's own session.
func (m *Model) EmbedPixelsInto(dst, pixels []float32) error {
	s, err := m.session()
	if err != nil {
		return err
	}
	return s.EmbedPixelsInto(dst, pixels)
}

// EmbedTokens returns the L2-normalised embedding of token ids as the tokenizer gives them
// (start token, text, end token, optionally padded): the text tower runs on the ids up to the
// position transformers pools at, which gives the same embedding as the padded context.
func (m *Model) EmbedTokens(ids []int32) ([]float32, error) {
	embs, err := m.EmbedTokensBatch([][]int32{ids})
	if err != nil {
		return nil, err
	}
	return embs[0], nil
}
