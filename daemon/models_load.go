package daemon

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/confirm"
	"github.com/edged/edged/convert"
	"github.com/edged/edged/runtime/tflite"
	"github.com/edged/edged/tokenizer"
)

// The adapters here put the real CLIP and BLIP behind the daemon's contracts (models.go).
// A TFLite interpreter runs one call at a time, so each adapter keeps a pool with one
// interpreter set per worker of its lane: workers run in parallel, and a worker never waits
// for another lane's model.

// loadModels is the real ModelLoader: every model folder in cfg is a bundle or a Hugging
// Face checkpoint, converted on first use into the cache (cache_dir/models).
func loadModels(log *slog.Logger) ModelLoader {
	return func(ctx context.Context, cfg *Config) (*Models, error) {
		// convert.Open cannot be interrupted; when ctx ends first, the conversion is left to
		// finish or die with the process (bundles are published atomically).
		type result struct {
			m   *Models
			err error
		}
		done := make(chan result, 1)
		go func() {
			m, err := openModels(cfg, log)
			done <- result{m, err}
		}()
		select {
		case r := <-done:
			return r.m, r.err
		case <-ctx.Done():
			go func() {
				if r := <-done; r.m != nil && r.m.Close != nil {
					r.m.Close()
				}
			}()
			return nil, ctx.Err()
		}
	}
}

// runOptions are the interpreter settings from the config. With threads 0 the cores are
// shared out among the workers: TFLite's thread pool spins while it waits for a core, so
// more threads than cores makes every model slower, not faster.
func runOptions(cfg *Config) tflite.Options {
	threads := cfg.Runtime.Threads
	if threads == 0 {
		threads = max(1, runtime.NumCPU()/max(1, cfg.Runtime.Workers))
	}
	return tflite.Options{
		Threads:         threads,
		Delegate:        tflite.DelegateKind(cfg.Runtime.Delegate),
		DelegateLibrary: cfg.Resolve(cfg.Runtime.DelegateLibrary),
		DelegateOptions: cfg.Runtime.DelegateOptions,
		Kernels:         cfg.Runtime.Kernels,
	}
}

// cacheDir is where converted models and text embeddings live.
func cacheDir(cfg *Config) (string, error) {
	if cfg.CacheDir != "" {
		return cfg.Resolve(cfg.CacheDir), nil
	}
	return convert.DefaultCacheDir()
}

func openModels(cfg *Config, log *slog.Logger) (ms *Models, err error) {
	cache, err := cacheDir(cfg)
	if err != nil {
		return nil, fmt.Errorf("cache_dir: %w", err)
	}
	labelWorkers, blipWorkers := laneWorkers(cfg.Runtime.Workers)
	run := runOptions(cfg)
	// "" lets each architecture take its own default precision.
	precision := cfg.Runtime.Precision
	open := func(field, dir string) (*bundle.Bundle, error) {
		path := cfg.Resolve(dir)
		b, err := convert.Open(path, filepath.Join(cache, "models"), precision,
			convert.Options{Progress: convert.NewProgress(nil, log.With("model", field))})
		if err != nil {
			return nil, fmt.Errorf("models.%s (%s): %w", field, path, err)
		}
		log.Info("model ready", "model", field, "bundle", b.Dir, "precision", b.Manifest.Precision)
		return b, nil
	}

	ms = &Models{}
	var closers []func() error
	ms.Close = func() error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c())
		}
		return errors.Join(errs...)
	}
	defer func() {
		// Every error path returns a nil *Models, so close what was opened through the
		// closers themselves, not through ms.
		if err != nil {
			for _, c := range closers {
				c()
			}
		}
	}()

	if cfg.Models.CLIP != "" {
		b, err := open("clip", cfg.Models.CLIP)
		if err != nil {
			return nil, err
		}
		l, err := newCLIPLabeler(b, clip.Options{RunOptions: clip.RunOptions{Threads: run.Threads, Delegate: run.Delegate, Kernels: run.Kernels},
			TextCacheDir: filepath.Join(cache, "text")}, labelWorkers)
		if err != nil {
			return nil, fmt.Errorf("models.clip: %w", err)
		}
		closers = append(closers, l.close)
		ms.Labeler = l
	}
	if cfg.Models.BLIPCaption != "" {
		b, err := open("blip_caption", cfg.Models.BLIPCaption)
		if err != nil {
			return nil, err
		}
		p, err := newBLIPPool(b, run, blipWorkers, blip.ArchCaption)
		if err != nil {
			return nil, fmt.Errorf("models.blip_caption: %w", err)
		}
		closers = append(closers, p.close)
		ms.Captioner = &blipCaptioner{p}
	}
	if cfg.Models.BLIPVQA != "" {
		b, err := open("blip_vqa", cfg.Models.BLIPVQA)
		if err != nil {
			return nil, err
		}
		p, err := newBLIPPool(b, run, blipWorkers, blip.ArchVQA)
		if err != nil {
			return nil, fmt.Errorf("models.blip_vqa: %w", err)
		}
		closers = append(closers, p.close)
		ms.Answerer = &blipAnswerer{p}
	}
	if cfg.Models.BLIPITM != "" {
		b, err := open("blip_itm", cfg.Models.BLIPITM)
		if err != nil {
			return nil, err
		}
		if b.Manifest.Architecture != blip.ArchRetrieval {
			return nil, fmt.Errorf("models.blip_itm: %s is a %s, not a %s (image-text matching)", b.Dir, b.Manifest.Architecture, blip.ArchRetrieval)
		}
		m, err := blip.Open(b, blip.Options{Runtime: run})
		if err != nil {
			return nil, fmt.Errorf("models.blip_itm: %w", err)
		}
		closers = append(closers, m.Close)
		// Events are checked on the label lane, searches re-ranked from HTTP and MQTT: one
		// session per label worker, and searches wait for a free one.
		bm, err := confirm.NewBLIPMatcher(m, labelWorkers)
		if err != nil {
			return nil, fmt.Errorf("models.blip_itm: %w", err)
		}
		closers = append([]func() error{bm.Close}, closers...) // sessions before their model
		ms.Matcher = bm
	}
	return ms, nil
}

// --- CLIP ---

// clipLabeler embeds images on a pool of CLIP models (one per label worker) and classifies
// with clip.Classifiers, whose label embeddings come through clip's text cache.
type clipLabeler struct {
	pool    chan *clip.Model
	models  []*clip.Model
	text    *clip.Model // makes the text embeddings
	mu      sync.Mutex
	classes *classifierCache
}

func newCLIPLabeler(b *bundle.Bundle, opts clip.Options, workers int) (*clipLabeler, error) {
	l := &clipLabeler{pool: make(chan *clip.Model, workers), classes: newClassifierCache(64)}
	for range workers {
		m, err := clip.Load(b, opts)
		if err != nil {
			l.close()
			return nil, err
		}
		l.models = append(l.models, m)
		l.pool <- m
	}
	l.text = l.models[0]
	return l, nil
}

func (l *clipLabeler) close() error {
	var errs []error
	for _, m := range l.models {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}

func (l *clipLabeler) EmbedImage(ctx context.Context, img image.Image) ([]float32, error) {
	var m *clip.Model
	select {
	case m = <-l.pool:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { l.pool <- m }()
	return m.EmbedImage(img)
}

func (l *clipLabeler) EmbedText(_ context.Context, text string) ([]float32, error) {
	return l.text.EmbedQuery(text)
}

func (l *clipLabeler) LabelEmbeddings(_ context.Context, set *clip.LabelSet) ([][]float32, error) {
	return l.text.LabelEmbeddings(set)
}

func (l *clipLabeler) LogitScale() float64 { return float64(l.text.LogitScale()) }

func (l *clipLabeler) PrepareLabels(ctx context.Context, set *clip.LabelSet) error {
	_, err := l.classifier(set)
	return err
}

func (l *clipLabeler) Classify(ctx context.Context, emb []float32, set *clip.LabelSet) ([]Score, error) {
	c, err := l.classifier(set)
	if err != nil {
		return nil, err
	}
	scores, err := c.Classify(emb)
	if err != nil {
		return nil, err
	}
	out := make([]Score, len(scores))
	for i, s := range scores {
		out[i] = Score{Label: s.Label, Score: float64(s.Score)}
	}
	return out, nil
}

// classifier returns the set's classifier, making it on first use. Sets are immutable once
// loaded (a reload makes new ones), so the set's pointer is its key.
func (l *clipLabeler) classifier(set *clip.LabelSet) (*clip.Classifier, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.classes.get(set); ok {
		return c, nil
	}
	c, err := l.text.Classifier(set)
	if err != nil {
		return nil, err
	}
	l.classes.put(set, c)
	return c, nil
}

// classifierCache keeps the classifiers of the most recently used label sets, so that
// reloads (each makes new sets) do not grow memory without bound. A dropped classifier is
// made again from the text cache if its set is used again.
type classifierCache struct {
	max   int
	order *list.List // of *clip.LabelSet, most recent first
	items map[*clip.LabelSet]*classifierEntry
}

type classifierEntry struct {
	c  *clip.Classifier
	el *list.Element
}

func newClassifierCache(max int) *classifierCache {
	return &classifierCache{max: max, order: list.New(), items: map[*clip.LabelSet]*classifierEntry{}}
}

func (c *classifierCache) get(set *clip.LabelSet) (*clip.Classifier, bool) {
	e, ok := c.items[set]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e.el)
	return e.c, true
}

func (c *classifierCache) put(set *clip.LabelSet, cl *clip.Classifier) {
	c.items[set] = &classifierEntry{c: cl, el: c.order.PushFront(set)}
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*clip.LabelSet))
	}
}

// --- BLIP ---

// blipPool holds one BLIP session per BLIP worker, and the bundle's tokenizer.
type blipPool struct {
	model    *blip.Model
	tok      *tokenizer.BERT
	sessions chan *blip.Session
	all      []*blip.Session
}

func newBLIPPool(b *bundle.Bundle, run tflite.Options, workers int, arch string) (*blipPool, error) {
	if b.Manifest.Architecture != arch {
		return nil, fmt.Errorf("%s is a %s, not a %s", b.Dir, b.Manifest.Architecture, arch)
	}
	m, err := blip.Open(b, blip.Options{Runtime: run})
	if err != nil {
		return nil, err
	}
	p := &blipPool{model: m, sessions: make(chan *blip.Session, workers)}
	if p.tok, err = tokenizer.LoadBERT(b.Dir); err != nil {
		p.close()
		return nil, fmt.Errorf("tokenizer of %s: %w", b.Dir, err)
	}
	for range workers {
		s, err := m.NewSession()
		if err != nil {
			p.close()
			return nil, err
		}
		p.all = append(p.all, s)
		p.sessions <- s
	}
	return p, nil
}

func (p *blipPool) close() error {
	var errs []error
	for _, s := range p.all {
		errs = append(errs, s.Close())
	}
	return errors.Join(append(errs, p.model.Close())...)
}

// with runs fn on a free session.
func (p *blipPool) with(ctx context.Context, fn func(*blip.Session) error) error {
	var s *blip.Session
	select {
	case s = <-p.sessions:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { p.sessions <- s }()
	return fn(s)
}

type blipCaptioner struct{ p *blipPool }

func (c *blipCaptioner) Caption(ctx context.Context, img image.Image, opts CaptionOptions) (string, error) {
	o := c.p.model.GenerateDefaults()
	o.NumBeams, o.MaxNewTokens = opts.Beams, opts.MaxTokens
	var prompt []int32
	if opts.Prompt != "" {
		prompt = c.p.tok.Encode(opts.Prompt)
	}
	var text string
	err := c.p.with(ctx, func(s *blip.Session) error {
		im, err := s.EncodeImage(img)
		if err != nil {
			return err
		}
		ids, err := s.CaptionIDs(im, prompt, o)
		if err != nil {
			return err
		}
		text = c.p.tok.Decode(ids)
		return nil
	})
	return text, err
}

type blipAnswerer struct{ p *blipPool }

func (a *blipAnswerer) Answer(ctx context.Context, img image.Image, questions []string) ([]string, error) {
	ids := make([][]int32, len(questions))
	for i, q := range questions {
		ids[i] = a.p.tok.Encode(q)
		if n := a.p.model.TextContext(); len(ids[i]) > n {
			return nil, fmt.Errorf("question %q is %d tokens long; the model takes at most %d", q, len(ids[i]), n)
		}
	}
	answers := make([]string, len(questions))
	err := a.p.with(ctx, func(s *blip.Session) error {
		im, err := s.EncodeImage(img)
		if err != nil {
			return err
		}
		for i := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			out, err := s.AnswerIDs(im, ids[i], a.p.model.GenerateDefaults())
			if err != nil {
				return fmt.Errorf("question %q: %w", questions[i], err)
			}
			answers[i] = a.p.tok.Decode(out)
		}
		return nil
	})
	return answers, err
}
