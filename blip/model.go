// Package blip runs BLIP bundles (captioning, visual question answering, image-text
// retrieval; written by blip/export) as transformers does: captions and answers by greedy or
// beam search over a text decoder with a key/value cache, and image-text matching (ITM
// probability, ITC cosine).
//
// Inference opens a bundle once (Load, safe to share) and runs it through Sessions, one per
// goroutine: EncodeImage once per picture, then any number of captions, answers or matches
// on it.
package blip

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/hf"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/runtime/tflite"
	"github.com/edged/edged/tokenizer"
)

// The checkpoint classes whose bundles Load opens.
const (
	ArchCaption   = spec.ArchCaption
	ArchVQA       = spec.ArchVQA
	ArchRetrieval = spec.ArchRetrieval
)

// Options configure how a bundle runs.
type Options struct {
	// Runtime are the interpreter options (threads, delegate) of every model.
	Runtime tflite.Options
	// AfterRun, when set, is called after every run of one of the bundle's models with its
	// interpreter, on the session's goroutine (role names the model): calibration observes a
	// float model's activations through it while the model captions and answers as it will
	// at run time. An error stops the call that ran the model.
	AfterRun func(role string, ip *tflite.Interpreter) error
}

// Model is an opened BLIP bundle: its TFLite models, preprocessing and generation defaults.
// It is safe for concurrent use; each goroutine runs it through its own Session.
type Model struct {
	// Architecture is the checkpoint class the bundle was converted from.
	Architecture string
	bundle       *bundle.Bundle
	opts         Options
	models       map[string]*tflite.Model
	proc         *imageproc.Processor
	tok          *tokenizer.BERT // nil when the checkpoint shipped no tokenizer
	gen          GenerateOptions

	imageSize, visionTokens, visionHidden int
	textHidden, textContext, projection   int
	vocab                                 int
	dec                                   decoderDims
	bos, sep, pad                         int32
}

// rolesOf lists the model files each architecture needs.
var rolesOf = map[string][]string{
	spec.ArchCaption:   {spec.RoleVision, spec.RoleCrossKV, spec.RoleDecoderStep},
	spec.ArchVQA:       {spec.RoleVision, spec.RoleQuestionEncoder, spec.RoleCrossKV, spec.RoleDecoderStep},
	spec.ArchRetrieval: {spec.RoleVision, spec.RoleITM, spec.RoleITCText},
}

// Load opens the models of a BLIP bundle.
func Load(b *bundle.Bundle, opts Options) (*Model, error) {
	arch := b.Manifest.Architecture
	roles, ok := rolesOf[arch]
	if !ok {
		return nil, fmt.Errorf("blip: bundle %s holds a %s, not a BLIP model (%s, %s or %s)", b.Dir, arch, spec.ArchCaption, spec.ArchVQA, spec.ArchRetrieval)
	}
	m := &Model{Architecture: arch, bundle: b, opts: opts, models: map[string]*tflite.Model{}}
	if err := m.readValues(); err != nil {
		return nil, fmt.Errorf("blip: bundle %s: %w", b.Dir, err)
	}
	if err := m.checkConfig(); err != nil {
		return nil, err
	}
	var err error
	if m.proc, err = loadProcessor(b, m.imageSize); err != nil {
		return nil, err
	}
	if m.gen, err = loadGenerationDefaults(b); err != nil {
		return nil, err
	}
	if m.tok, err = loadTokenizer(b); err != nil {
		return nil, err
	}
	if m.tok != nil && m.tok.VocabSize() > m.vocab {
		return nil, fmt.Errorf("blip: bundle %s: the tokenizer has ids up to %d, the text models know %d tokens (vocab_size)", b.Dir, m.tok.VocabSize()-1, m.vocab)
	}
	for _, role := range roles {
		path, err := b.Path(role)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("blip: %w", err)
		}
		rm, err := tflite.LoadModel(path)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("blip: load %s model: %w", role, err)
		}
		m.models[role] = rm
	}
	return m, nil
}

func (m *Model) readValues() error {
	mf := m.bundle.Manifest
	var err error
	// get reads a value within [lo, hi]: sizes bounded by what a device holds (hf's limits),
	// so that nothing is allocated from a damaged manifest before the models are checked
	// against it (checkDims).
	get := func(name string, lo, hi int) int {
		if err != nil {
			return 0
		}
		var v int
		v, err = mf.IntIn(name, lo, hi)
		return v
	}
	m.vocab = get(spec.ValueVocabSize, 1, hf.MaxVocab)
	id := func(name string) int32 { return int32(get(name, 0, m.vocab-1)) }
	m.imageSize = get(spec.ValueImageSize, 1, hf.MaxImageSide)
	m.visionTokens, m.visionHidden = get(spec.ValueVisionTokens, 1, hf.MaxPositions), get(spec.ValueVisionHidden, 1, hf.MaxWidth)
	m.textHidden, m.textContext = get(spec.ValueTextHidden, 1, hf.MaxWidth), get(spec.ValueTextContext, 2, hf.MaxPositions)
	m.bos, m.sep, m.pad = id(spec.ValueBosTokenID), id(spec.ValueSepTokenID), id(spec.ValuePadTokenID)
	heads := get(spec.ValueTextHeads, 1, hf.MaxHeads)
	switch m.Architecture {
	case spec.ArchCaption, spec.ArchVQA:
		m.dec = decoderDims{layers: get(spec.ValueTextLayers, 1, hf.MaxLayers), heads: heads, vocab: m.vocab,
			cache: get(spec.ValueDecoderCache, 1, hf.MaxPositions), crossLen: get(spec.ValueCrossLength, 1, hf.MaxPositions)}
		if err == nil && m.textHidden%heads != 0 {
			return fmt.Errorf("manifest: text_hidden %d does not split into %d heads", m.textHidden, heads)
		}
		m.dec.headDim = m.textHidden / max(heads, 1)
	case spec.ArchRetrieval:
		m.projection = get(spec.ValueProjection, 1, hf.MaxWidth)
	}
	return err
}

// checkConfig holds the manifest's sizes against the config.json the bundle carries (checked
// against its SHA-256 with the bundle): the vocabulary is the token table's size, and no text
// may be longer than the position table.
func (m *Model) checkConfig() error {
	path, err := m.bundle.Path(bundle.RoleConfig)
	if err != nil {
		return fmt.Errorf("blip: %w (it says how many tokens the text models know)", err)
	}
	cfg, err := hf.ReadConfig(path)
	if err != nil {
		return fmt.Errorf("blip: %w", err)
	}
	c, err := cfg.Blip()
	if err != nil {
		return fmt.Errorf("blip: %w", err)
	}
	longest := max(m.textContext, m.dec.cache)
	switch {
	case m.vocab != c.Text.VocabSize:
		return fmt.Errorf("blip: bundle %s: the manifest's vocab_size %d is not text_config.vocab_size %d of %s", m.bundle.Dir, m.vocab, c.Text.VocabSize, path)
	case longest > c.Text.MaxPositionEmbeddings:
		return fmt.Errorf("blip: bundle %s: the manifest's text_context or decoder_cache %d is longer than text_config.max_position_embeddings %d of %s",
			m.bundle.Dir, longest, c.Text.MaxPositionEmbeddings, path)
	}
	return nil
}

// loadProcessor reads the bundle's preprocessor_config.json. Without one it takes
// BlipImageProcessor's defaults at the vision model's size (the defaults are BLIP base's 384
// pixels). The processor must make what the vision model takes: a config that resizes to
// another size is refused here, not at the first image.
func loadProcessor(b *bundle.Bundle, size int) (*imageproc.Processor, error) {
	cfg := imageproc.BLIPDefaults()
	cfg.Size = imageproc.Size{Height: size, Width: size}
	path, err := b.Path(bundle.RolePreprocessorConfig)
	if err == nil {
		if cfg, err = imageproc.LoadConfig(path); err != nil {
			return nil, fmt.Errorf("blip: %w", err)
		}
	}
	p, err := imageproc.New(cfg, imageproc.Options{})
	if err != nil {
		return nil, fmt.Errorf("blip: image processor: %w", err)
	}
	if h, w, err := p.OutputSize(size, size); err != nil || h != size || w != size {
		return nil, fmt.Errorf("blip: %s makes %d×%d pixels, the vision model takes %d×%d", path, w, h, size, size)
	}
	return p, nil
}

// loadGenerationDefaults reads generation_config.json as transformers' generate would, or
// derives it from config.json when the checkpoint had none.
func loadGenerationDefaults(b *bundle.Bundle) (GenerateOptions, error) {
	var g *hf.GenerationConfig
	if path, err := b.Path(bundle.RoleGenerationConfig); err == nil {
		c, err := hf.ReadConfig(path)
		if err != nil {
			return GenerateOptions{}, fmt.Errorf("blip: %w", err)
		}
		if g, err = hf.ParseGenerationConfig(c); err != nil {
			return GenerateOptions{}, fmt.Errorf("blip: %w", err)
		}
	} else {
		path, err := b.Path(bundle.RoleConfig)
		if err != nil {
			return GenerateOptions{}, fmt.Errorf("blip: %w", err)
		}
		c, err := hf.ReadConfig(path)
		if errors.Is(err, fs.ErrNotExist) {
			return GenerateOptions{}, fmt.Errorf("blip: bundle %s has neither generation_config.json nor config.json: %w", b.Dir, err)
		}
		if err != nil {
			return GenerateOptions{}, fmt.Errorf("blip: %w", err)
		}
		if g, err = hf.GenerationConfigFromModel(c); err != nil {
			return GenerateOptions{}, fmt.Errorf("blip: %w", err)
		}
	}
	return GenerateOptions{
		MaxNewTokens: g.MaxNewTokens, MaxLength: g.MaxLength, MinLength: g.MinLength, MinNewTokens: g.MinNewTokens,
		NumBeams: g.NumBeams, LengthPenalty: g.LengthPenalty, RepetitionPenalty: g.RepetitionPenalty,
		NoRepeatNgramSize: g.NoRepeatNgramSize, EarlyStopping: g.EarlyStopping,
	}, nil
}

// runtimeOptions are the interpreter options of one model: the caller's, adapted to its file
// (XNNPACK's int8 operators for a full-int8 file).
func (m *Model) runtimeOptions(role string) tflite.Options {
	f, _ := m.bundle.Manifest.File(role)
	return f.RuntimeOptions(m.opts.Runtime)
}

// GenerateDefaults are the checkpoint's generation settings (generation_config.json, with
// transformers' defaults for what it leaves out).
func (m *Model) GenerateDefaults() GenerateOptions { return m.gen }

// Processor is the model's image preprocessor (BlipImageProcessor's): what EncodeImage feeds
// the vision model, for a caller that keeps a frame's pixels to run again (shadow checks).
func (m *Model) Processor() *imageproc.Processor { return m.proc }

// Bundle is the bundle the model was opened from.
func (m *Model) Bundle() *bundle.Bundle { return m.bundle }

// TextContext is the longest question or matched text, in tokens with [CLS] and [SEP].
func (m *Model) TextContext() int { return m.textContext }

// Close releases the models. Sessions made from it keep working until they are closed.
func (m *Model) Close() error {
	var err error
	for _, rm := range m.models {
		if e := rm.Close(); err == nil {
			err = e
		}
	}
	return err
}

// bundleFile reports whether the bundle folder has a file (for optional tokenizer files).
func bundleFile(b *bundle.Bundle, role string) (string, bool) {
	path, err := b.Path(role)
	if err != nil {
		return "", false
	}
	_, err = os.Stat(path)
	return path, err == nil
}

// loadTokenizer loads the bundle's BERT tokenizer (tokenizer.json or vocab.txt with
// tokenizer_config.json), or returns nil when the checkpoint shipped none.
func loadTokenizer(b *bundle.Bundle) (*tokenizer.BERT, error) {
	_, hasJSON := bundleFile(b, bundle.RoleTokenizer)
	_, hasVocab := bundleFile(b, bundle.RoleVocab)
	if !hasJSON && !hasVocab {
		return nil, nil
	}
	tok, err := tokenizer.LoadBERT(b.Dir)
	if err != nil {
		return nil, fmt.Errorf("blip: tokenizer: %w", err)
	}
	return tok, nil
}

// Tokenizer is the bundle's tokenizer, or an error when the checkpoint had none (the
// id-level methods still work then).
func (m *Model) Tokenizer() (*tokenizer.BERT, error) {
	if m.tok == nil {
		return nil, fmt.Errorf("blip: bundle %s has no tokenizer (tokenizer.json or vocab.txt); text needs one", m.bundle.Dir)
	}
	return m.tok, nil
}
