package clip

import (
	"errors"
	"fmt"
	"image"
	"sync"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip/spec"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/tokenizer"
)

// Model is a loaded CLIP bundle: the vision and text towers, the image preprocessing and the
// tokenizer the checkpoint came with, and the logit scale.
//
// Goroutines: a Model is safe for concurrent use. Each tower has one TFLite interpreter, which
// is used by one goroutine at a time (a mutex per tower serialises the calls), so concurrent
// image embeddings queue behind each other. To encode images in parallel, load one Model per
// worker; their models are memory-mapped from the same files.
type Model struct {
	Bundle *bundle.Bundle

	vision     *imageTower
	text       *textTower
	proc       *imageproc.Processor
	logitScale float32
	dim        int
	pooling    string
	eos        int

	tokOnce sync.Once
	tok     *tokenizer.CLIP
	tokErr  error

	cache *TextCache
}

// Options configure Load.
type Options struct {
	RunOptions
	// TextCacheDir keeps text embeddings on disk across runs (see TextCache); empty keeps them
	// in memory only.
	TextCacheDir string
}

// Load opens the towers of a CLIP bundle.
func Load(b *bundle.Bundle, opts Options) (*Model, error) {
	if b.Manifest.Architecture != Architecture {
		return nil, fmt.Errorf("clip: bundle %s is a %s, not a %s", b.Dir, b.Manifest.Architecture, Architecture)
	}
	m := &Model{Bundle: b}
	var err error
	if m.logitScale, m.dim, m.pooling, m.eos, err = manifestValues(b.Manifest); err != nil {
		return nil, fmt.Errorf("clip: bundle %s: %w", b.Dir, err)
	}
	context, err := b.Manifest.Int(spec.ValueContext)
	if err != nil {
		return nil, fmt.Errorf("clip: bundle %s: %w", b.Dir, err)
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
	vt, err := loadTower(b, spec.RoleVisionTower, opts.RunOptions)
	if err != nil {
		return nil, err
	}
	shape := vt.ip.Input(0).Shape()
	if len(shape) != 4 || shape[0] != 1 || shape[3] != 3 {
		vt.close()
		return nil, fmt.Errorf("clip: vision tower %s takes %v, want [1 H W 3]", vt.path, shape)
	}
	m.vision = newImageTower(vt, shape[1], shape[2])
	if h, w, err := m.proc.OutputSize(shape[2], shape[1]); err != nil || h != shape[1] || w != shape[2] {
		m.Close()
		return nil, fmt.Errorf("clip: %s makes %dx%d pixels, the vision tower takes %dx%d", prePath, w, h, shape[2], shape[1])
	}
	tt, err := loadTower(b, spec.RoleTextTower, opts.RunOptions)
	if err != nil {
		m.Close()
		return nil, err
	}
	m.text = &textTower{tower: tt, context: context}
	m.cache = NewTextCache(opts.TextCacheDir, textModelKey(b))
	return m, nil
}

func manifestValues(man *bundle.Manifest) (scale float32, dim int, pooling string, eos int, err error) {
	s, err := man.Float(spec.ValueLogitScale)
	if err != nil {
		return
	}
	if dim, err = man.Int(spec.ValueProjection); err != nil {
		return
	}
	if pooling, err = man.Text(spec.ValueTextPooling); err != nil {
		return
	}
	if pooling != "argmax" && pooling != "eos" {
		err = fmt.Errorf("text pooling %q, want argmax or eos", pooling)
		return
	}
	eos, err = man.Int(spec.ValueEOSTokenID)
	return float32(s), dim, pooling, eos, err
}

// Close frees the interpreters.
func (m *Model) Close() error {
	return errors.Join(m.vision.closeTower(), m.text.closeTower())
}

func (t *imageTower) closeTower() error {
	if t == nil {
		return nil
	}
	return t.close()
}

func (t *textTower) closeTower() error {
	if t == nil {
		return nil
	}
	return t.close()
}

// LogitScale is the multiplier of cosine similarities before the softmax (exp of the
// checkpoint's logit_scale; 100 for the released CLIP models).
func (m *Model) LogitScale() float32 { return m.logitScale }

// Dim is the width of the embeddings.
func (m *Model) Dim() int { return m.dim }

// Processor is the image preprocessing of the bundle (CLIPImageProcessor's).
func (m *Model) Processor() *imageproc.Processor { return m.proc }

// PixelSize is the height and width of the vision tower's input.
func (m *Model) PixelSize() (height, width int) { return m.vision.height, m.vision.width }

// EmbedImage preprocesses img as the checkpoint's image processor does and returns its
// L2-normalised embedding.
func (m *Model) EmbedImage(img image.Image) ([]float32, error) {
	out := make([]float32, m.dim)
	if err := m.EmbedImageInto(out, img); err != nil {
		return nil, err
	}
	return out, nil
}

// EmbedImageInto is EmbedImage writing the embedding into dst (Dim values). It allocates
// nothing: the pixels go through a buffer the model keeps.
func (m *Model) EmbedImageInto(dst []float32, img image.Image) error {
	if img == nil {
		return errors.New("clip: image embedding: nil image")
	}
	return m.vision.embedImageInto(dst, img, m.proc)
}

// EmbedPixels returns the L2-normalised embedding of preprocessed pixels: float32 NHWC
// [1, H, W, 3] as imageproc makes them (PixelSize gives H and W).
func (m *Model) EmbedPixels(pixels []float32) ([]float32, error) {
	out := make([]float32, m.dim)
	if err := m.EmbedPixelsInto(out, pixels); err != nil {
		return nil, err
	}
	return out, nil
}

// EmbedPixelsInto is EmbedPixels writing the embedding into dst (Dim values), allocating
// nothing.
func (m *Model) EmbedPixelsInto(dst, pixels []float32) error {
	return m.vision.embedInto(dst, pixels)
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
