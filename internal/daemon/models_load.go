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
	"github.com/edged/edged/internal/confirm"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/pool"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// The adapters here put the real CLIP and BLIP behind the daemon's contracts (models.go).
// A TFLite interpreter runs one call at a time, so each adapter keeps a pool with one
// interpreter set per worker of its lane: workers run in parallel, and a worker never waits
// for another lane's model.

// loadModels is the real ModelLoader: every model folder in cfg is a bundle or a Hugging
// Face checkpoint, converted on first use into the cache (cache_dir/models).
func loadModels(log *slog.Logger) ModelLoader {
	return func(ctx context.Context, cfg *Config) (*Models, error) {
		// models.Open cannot be interrupted; when ctx ends first, the conversion is left to
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
	return models.DefaultCacheDir()
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
		b, err := models.Open(path, filepath.Join(cache, "models"), precision,
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
		opts := clip.Options{RunOptions: clip.RunOptions{Threads: run.Threads, Delegate: run.Delegate, Kernels: run.Kernels},
			TextCacheDir: filepath.Join(cache, "text")}
		if cfg.Models.CLIPContrast != "" {
			if opts.Contrast, err = clip.LoadLabelSet(cfg.Resolve(cfg.Models.CLIPContrast)); err != nil {
				return nil, fmt.Errorf("models.clip_contrast: %w", err)
			}
		}
		l, err := newCLIPLabeler(b, opts, labelWorkers)
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
		ms.Captioner = &blipCaptioner{p: p, judges: map[string]blip.Scorer{}}
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
	if cfg.Models.BLIPITM != "" && !cfg.usesITM() {
		log.Info("model not loaded: nothing in the config uses it (labels.confirm, search.rerank, caption.rank)", "model", "blip_itm")
	}
	if cfg.Models.BLIPITM != "" && cfg.usesITM() {
		b, err := open("blip_itm", cfg.Models.BLIPITM)
		if err != nil {
			return nil, err
		}
		if b.Manifest.Architecture != blip.ArchRetrieval {
			return nil, fmt.Errorf("models.blip_itm: %s is a %s, not a %s (image-text matching)", b.Dir, b.Manifest.Architecture, blip.ArchRetrieval)
		}
		m, err := blip.Load(b, blip.Options{Runtime: run})
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
	if c, ok := ms.Captioner.(*blipCaptioner); ok {
		if ms.Matcher != nil {
			c.judges["itm"] = ms.Matcher
		}
		if l, ok := ms.Labeler.(*clipLabeler); ok {
			c.judges["clip"] = l
		}
	}
	return ms, nil
}

// --- CLIP ---

// clipLabeler embeds images on a pool of CLIP sessions (one per label worker) and classifies
// with clip.Classifiers, whose label embeddings come through clip's text cache.
type clipLabeler struct {
	model    *clip.Model
	sessions *pool.Pool[*clip.Session]
	mu       sync.Mutex
	classes  *classifierCache
}

func newCLIPLabeler(b *bundle.Bundle, opts clip.Options, workers int) (*clipLabeler, error) {
	m, err := clip.Load(b, opts)
	if err != nil {
		return nil, err
	}
	sessions, err := pool.New(workers, m.NewSession, (*clip.Session).Close)
	if err != nil {
		m.Close()
		return nil, err
	}
	return &clipLabeler{model: m, sessions: sessions, classes: newClassifierCache(64)}, nil
}

func (l *clipLabeler) close() error {
	return errors.Join(l.sessions.Close(), l.model.Close())
}

func (l *clipLabeler) EmbedImage(ctx context.Context, img image.Image) ([]float32, error) {
	var emb []float32
	err := l.sessions.With(ctx, func(s *clip.Session) (err error) {
		emb, err = s.EmbedImage(img)
		return err
	})
	return emb, err
}

// Match is CLIP's probability over texts that img shows each (clip.Session.MatchTexts), for
// ranking candidate captions.
func (l *clipLabeler) Match(ctx context.Context, img image.Image, texts []string) ([]float64, error) {
	var p []float64
	err := l.sessions.With(ctx, func(s *clip.Session) (err error) {
		p, err = s.MatchTexts(img, texts)
		return err
	})
	return p, err
}

func (l *clipLabeler) EmbedText(_ context.Context, text string) ([]float32, error) {
	return l.model.EmbedQuery(text)
}

func (l *clipLabeler) LabelEmbeddings(_ context.Context, set *clip.LabelSet) ([][]float32, error) {
	return l.model.LabelEmbeddings(set)
}

func (l *clipLabeler) LogitScale() float64 { return float64(l.model.LogitScale()) }

func (l *clipLabeler) PrepareLabels(ctx context.Context, set *clip.LabelSet) error {
	_, err := l.classifier(set)
	return err
}

func (l *clipLabeler) Classify(ctx context.Context, emb []float32, set *clip.LabelSet) ([]clip.Score, error) {
	c, err := l.classifier(set)
	if err != nil {
		return nil, err
	}
	return c.Classify(emb)
}

// classifier returns the set's classifier, making it on first use. Sets are immutable once
// loaded (a reload makes new ones), so the set's pointer is its key.
func (l *clipLabeler) classifier(set *clip.LabelSet) (*clip.Classifier, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.classes.get(set); ok {
		return c, nil
	}
	c, err := l.model.Classifier(set)
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

// blipPool is a BLIP model with one session per BLIP worker.
type blipPool struct {
	model    *blip.Model
	sessions *pool.Pool[*blip.Session]
}

func newBLIPPool(b *bundle.Bundle, run tflite.Options, workers int, arch string) (*blipPool, error) {
	if b.Manifest.Architecture != arch {
		return nil, fmt.Errorf("%s is a %s, not a %s", b.Dir, b.Manifest.Architecture, arch)
	}
	m, err := blip.Load(b, blip.Options{Runtime: run})
	if err != nil {
		return nil, err
	}
	if _, err := m.Tokenizer(); err != nil {
		m.Close()
		return nil, err
	}
	sessions, err := pool.New(workers, m.NewSession, (*blip.Session).Close)
	if err != nil {
		m.Close()
		return nil, err
	}
	return &blipPool{model: m, sessions: sessions}, nil
}

func (p *blipPool) close() error {
	return errors.Join(p.sessions.Close(), p.model.Close())
}

// blipCaptioner captions on a pool of BLIP sessions; with candidates it ranks them by its
// judges, set once the ranking models are loaded.
type blipCaptioner struct {
	p      *blipPool
	judges map[string]blip.Scorer // "itm", "clip"
}

func (c *blipCaptioner) Caption(ctx context.Context, img image.Image, opts CaptionOptions) (Caption, error) {
	o := c.p.model.GenerateDefaults()
	o.NumBeams, o.MaxNewTokens = opts.Beams, opts.MaxTokens
	if opts.Candidates > 1 {
		return c.rank(ctx, img, opts, o)
	}
	var text string
	err := c.p.sessions.With(ctx, func(s *blip.Session) error {
		im, err := s.EncodeImage(img)
		if err != nil {
			return err
		}
		text, err = s.Caption(im, opts.Prompt, o)
		return err
	})
	return Caption{Text: text}, err
}

// rank is CapFilt: the candidates of img, ranked by the judges opts.Rank names. The
// candidates' decoding holds a caption session; the judges run after it is given back.
func (c *blipCaptioner) rank(ctx context.Context, img image.Image, opts CaptionOptions, o blip.GenerateOptions) (Caption, error) {
	var judges []blip.Judge
	for _, name := range []string{"itm", "clip"} {
		if opts.Rank == name || opts.Rank == "both" {
			sc, ok := c.judges[name]
			if !ok {
				return Caption{}, fmt.Errorf("caption ranking by %s: the model is not loaded", name)
			}
			judges = append(judges, blip.Judge{Name: name, Scorer: sc})
		}
	}
	co := blip.CandidateOptions{Beams: opts.Candidates - opts.Samples, Samples: opts.Samples, Sample: blip.DefaultSampleOptions(), Seed: 1}
	var cands []blip.Candidate
	err := c.p.sessions.With(ctx, func(s *blip.Session) error {
		im, err := s.EncodeImage(img)
		if err != nil {
			return err
		}
		cands, err = s.CaptionCandidates(im, opts.Prompt, o, co)
		return err
	})
	if err != nil {
		return Caption{}, err
	}
	if err := blip.Rank(ctx, img, cands, judges...); err != nil {
		return Caption{}, err
	}
	out := Caption{Text: cands[0].Text, Ranked: true, Score: cands[0].Score}
	for _, cd := range cands {
		out.Candidates = append(out.Candidates, RankedCaption{Text: cd.Text, Score: cd.Score})
	}
	return out, nil
}

type blipAnswerer struct{ p *blipPool }

func (a *blipAnswerer) Answer(ctx context.Context, img image.Image, questions []string) ([]string, error) {
	answers := make([]string, len(questions))
	err := a.p.sessions.With(ctx, func(s *blip.Session) error {
		im, err := s.EncodeImage(img)
		if err != nil {
			return err
		}
		for i, q := range questions {
			if err := ctx.Err(); err != nil {
				return err
			}
			if answers[i], err = s.Answer(im, q, a.p.model.GenerateDefaults()); err != nil {
				return fmt.Errorf("question %q: %w", q, err)
			}
		}
		return nil
	})
	return answers, err
}
