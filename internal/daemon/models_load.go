package daemon

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/hf/hub"
	"github.com/edged/edged/internal/confirm"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/fidelity"
	"github.com/edged/edged/internal/pool"
	"github.com/edged/edged/internal/progress"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// The adapters here put the real CLIP and BLIP behind the daemon's contracts (models.go).
// A TFLite interpreter runs one call at a time, so each adapter keeps a pool with one
// interpreter set per worker of its lane: workers run in parallel, and a worker never waits
// for another lane's model.

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

// loadModels is the real ModelLoader: every model the config names is a bundle, a Hugging
// Face checkpoint folder or a repository id (models.Open), pulled and converted on first use
// into the cache. Each model is prepared on its own goroutine, so one that waits for the hub
// holds back no other; pulls, conversions and loads take turns (one at a time), so two
// conversions never hold their memory at once. A model whose repository cannot be reached
// is tried again with growing waits; any other failure is final and leaves the other
// models running.
func loadModels(log *slog.Logger, prep *preparation) ModelLoader {
	return func(ctx context.Context, cfg *Config, ready func(*Models)) error {
		l, err := newLoader(cfg, log, prep, ready)
		if err != nil {
			return err
		}
		var wg sync.WaitGroup
		for _, m := range configuredModels(cfg) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.prepare(ctx, m)
			}()
		}
		wg.Wait()
		return nil
	}
}

// Waits between attempts at a model whose hub cannot be reached: doubled each time.
const (
	firstHubRetry = 10 * time.Second
	maxHubRetry   = 10 * time.Minute
)

// loader prepares the models of one config.
type loader struct {
	cfg   *Config
	log   *slog.Logger
	prep  *preparation
	ready func(*Models)
	cache string
	run   tflite.Options
	// labelWorkers and blipWorkers size the session pools.
	labelWorkers, blipWorkers int
	// firstRetry is the wait before a model whose hub cannot be reached is tried again.
	firstRetry time.Duration
	turn       sync.Mutex // one pull, conversion or load at a time

	// The models that rank captions join the captioner whichever is ready first.
	mu        sync.Mutex
	captioner *blipCaptioner
	judges    map[string]blip.Scorer
}

func newLoader(cfg *Config, log *slog.Logger, prep *preparation, ready func(*Models)) (*loader, error) {
	cache, err := cacheDir(cfg)
	if err != nil {
		return nil, fmt.Errorf("cache_dir: %w", err)
	}
	l := &loader{cfg: cfg, log: log, prep: prep, ready: ready, cache: cache, run: runOptions(cfg), judges: map[string]blip.Scorer{},
		firstRetry: firstHubRetry}
	l.labelWorkers, l.blipWorkers = laneWorkers(cfg.Runtime.Workers)
	return l, nil
}

// runningConfig is the config the daemon runs now: l.cfg until a reload changes it.
func (l *loader) runningConfig() *Config {
	if l.prep != nil && l.prep.config != nil {
		return l.prep.config()
	}
	return l.cfg
}

// prepare opens m until it is ready, fails, or ctx ends.
func (l *loader) prepare(ctx context.Context, m configuredModel) {
	wait := l.firstRetry
	for {
		part, err := l.open(ctx, m)
		if err == nil {
			l.ready(part)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if !hub.IsUnreachable(err) {
			// Logged first: whoever sees the failure on /healthz finds it in the log too.
			l.log.Error(msgModelFailed, "model", m.field, "err", err)
			l.prep.set(m.field, modelFailed, err, time.Time{})
			return
		}
		retry := time.Now().Add(wait)
		l.prep.set(m.field, modelWaiting, err, retry)
		l.log.Warn("cannot reach the hub; the model's features wait, the others run", "model", m.field, "name", m.name, "retry_in", wait.String(), "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxHubRetry)
	}
}

// open opens the bundle of m (pulling and converting it if need be) and loads its model
// behind the daemon's contracts, in the loader's turn.
func (l *loader) open(ctx context.Context, m configuredModel) (*Models, error) {
	l.turn.Lock()
	defer l.turn.Unlock()
	l.prep.set(m.field, modelPreparing, nil, time.Time{})
	log := l.log.With("model", m.field)
	b, err := models.Open(ctx, l.cfg.ResolveModel(m.name), models.Options{
		CacheDir: l.cache,
		// "" lets each architecture take its own default precision.
		Precision: l.cfg.Runtime.Precision,
		Convert: convert.Options{Progress: progress.Tee{
			progress.New(nil, log, progress.Options{Prefix: "convert: ", Every: 10 * time.Second}),
			l.prep.reporter(m.field, "convert")}},
		// One quick retry: prepare tries again later, resuming what was fetched, and holds
		// no turn while it waits.
		Hub: hub.Options{Logger: log, Retries: 1, Progress: progress.Tee{
			progress.New(nil, log, progress.Options{Prefix: "pull: ", Unit: progress.Bytes, Every: 10 * time.Second}),
			l.prep.reporter(m.field, "pull")}},
		Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("models.%s (%s): %w", m.field, m.name, err)
	}
	if l.prep.budget != nil {
		warning, err := l.prep.budget.admit(l.cfg, m.field, m.name, b.Manifest, l.recalibration(m.field, b))
		if err != nil {
			return nil, fmt.Errorf("models.%s: %w", m.field, err)
		}
		if warning != "" {
			l.log.Warn(warning)
		}
	}
	part, err := l.load(m.field, b)
	if err != nil {
		return nil, fmt.Errorf("models.%s: %w", m.field, err)
	}
	l.prep.update(m.field, func(s *ModelStatus) {
		if s.Precision == "" {
			s.Precision = b.Manifest.Precision
		}
	})
	l.reportParts(m.field, b.Manifest)
	releaseFreedMemory() // what loading used and freed (the next model loads on less)
	log.Info("model ready", "bundle", b.Dir, "precision", b.Manifest.Precision)
	return part, nil
}

// reportParts shows the parts of field's model, loaded from a bundle with manifest man, in
// its status.
func (l *loader) reportParts(field string, man *bundle.Manifest) {
	parts, err := models.Parts(man, l.run)
	if err != nil { // the config's runtime options were checked at start
		l.log.Warn("the model's parts", "model", field, "err", err)
		return
	}
	l.prep.update(field, func(s *ModelStatus) { s.Parts = parts })
}

// load puts the model of bundle b behind the contract its field fills.
func (l *loader) load(field string, b *bundle.Bundle) (*Models, error) {
	switch field {
	case fieldCLIP:
		opts := clip.Options{RunOptions: l.run, TextCacheDir: models.TextDir(l.cache)}
		if l.cfg.Models.CLIPContrast != "" {
			var err error
			if opts.Contrast, err = clip.LoadLabelSet(l.cfg.Resolve(l.cfg.Models.CLIPContrast)); err != nil {
				return nil, fmt.Errorf("models.clip_contrast: %w", err)
			}
		}
		lb, err := newCLIPLabeler(b, opts, l.labelWorkers)
		if err != nil {
			return nil, err
		}
		if safe := l.needsCameraCalibration(b); safe || l.needsShadowChecks(b) {
			cl, err := l.calibrating(b, lb, !safe, opts)
			if err != nil {
				lb.close()
				return nil, err
			}
			l.addJudge("clip", cl)
			return &Models{Labeler: cl, Close: cl.close}, nil
		}
		lb.text = l.prep.unload.unloadableText(lb.model)
		l.addJudge("clip", lb)
		return &Models{Labeler: lb, Close: lb.close}, nil
	case fieldBLIPCaption, fieldBLIPVQA:
		var cal *calibratingBLIP
		if safe := l.needsCameraCalibration(b); safe || l.needsShadowChecks(b) {
			var err error
			if cal, err = l.calibratingBLIP(field, b, !safe); err != nil {
				return nil, err
			}
		}
		part, c, err := l.openBLIP(field, blipArch(field), b, cal)
		if err != nil {
			if cal != nil {
				cal.stop()
			}
			return nil, err
		}
		if c != nil {
			l.mu.Lock()
			l.captioner = c
			for name, j := range l.judges {
				c.setJudge(name, j)
			}
			l.mu.Unlock()
		} else {
			part = l.prep.unload.unloadable(field, part, func() (*Models, error) {
				part, _, err := l.openBLIP(field, blipArch(field), b, cal)
				return part, err
			})
		}
		if cal != nil {
			closeModel := part.Close
			part.Close = func() error {
				cal.stop()
				return closeModel()
			}
		}
		return part, nil
	case fieldBLIPITM:
		if b.Manifest.Architecture != blip.ArchRetrieval {
			return nil, fmt.Errorf("%s is a %s, not a %s (image-text matching)", b.Dir, b.Manifest.Architecture, blip.ArchRetrieval)
		}
		open := func() (*Models, error) { return l.loadMatcher(b) }
		part, err := open()
		if err != nil {
			return nil, err
		}
		part = l.prep.unload.unloadable(field, part, open)
		l.addJudge("itm", part.Matcher)
		return part, nil
	}
	return nil, fmt.Errorf("unknown model %q", field)
}

// loadMatcher loads a BLIP image-text matching model. Events are checked on the label lane,
// searches re-ranked from HTTP and MQTT: one session per label worker, and searches wait for
// a free one.
func (l *loader) loadMatcher(b *bundle.Bundle) (*Models, error) {
	m, err := blip.Load(b, blip.Options{Runtime: l.run})
	if err != nil {
		return nil, err
	}
	bm, err := confirm.NewBLIPMatcher(m, l.labelWorkers)
	if err != nil {
		m.Close()
		return nil, err
	}
	return &Models{Matcher: bm, Close: func() error { return errors.Join(bm.Close(), m.Close()) }}, nil
}

// addJudge makes a ready model one the captioner can rank captions with.
func (l *loader) addJudge(name string, j blip.Scorer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.judges[name] = j
	if l.captioner != nil {
		l.captioner.setJudge(name, j)
	}
}

// --- CLIP ---

// clipLabeler embeds images on a pool of CLIP sessions (one per label worker) and classifies
// with clip.Classifiers, whose label embeddings come through clip's text cache.
type clipLabeler struct {
	model    *clip.Model
	sessions *pool.Pool[*clip.Session]
	// text closes the model's text tower when idle; nil keeps it. Every use of the text
	// tower goes through withText.
	text    *idleModel
	mu      sync.Mutex
	classes *classifierCache
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
	var textErr error
	if l.text != nil {
		textErr = l.text.close()
	}
	return errors.Join(textErr, l.sessions.Close(), l.model.Close())
}

// withText runs f, which may embed texts, with the text tower loaded (again, if it was
// unloaded while idle).
func withText[T any](l *clipLabeler, f func() (T, error)) (T, error) {
	if l.text == nil {
		return f()
	}
	return withIdle(l.text, func(*Models) (T, error) { return f() })
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
	return withText(l, func() ([]float64, error) {
		var p []float64
		err := l.sessions.With(ctx, func(s *clip.Session) (err error) {
			p, err = s.MatchTexts(img, texts)
			return err
		})
		return p, err
	})
}

func (l *clipLabeler) EmbedText(_ context.Context, text string) ([]float32, error) {
	return withText(l, func() ([]float32, error) { return l.model.EmbedQuery(text) })
}

func (l *clipLabeler) LabelEmbeddings(_ context.Context, set *clip.LabelSet) ([][]float32, error) {
	return withText(l, func() ([][]float32, error) { return l.model.LabelEmbeddings(set) })
}

func (l *clipLabeler) LogitScale() float64 { return float64(l.model.LogitScale()) }

func (l *clipLabeler) OpenText() error  { return l.model.OpenText() }
func (l *clipLabeler) CloseText() error { return l.model.CloseText() }

func (l *clipLabeler) manifest() *bundle.Manifest { return l.model.Bundle.Manifest }

// guardText is how a calibratingLabeler shares its idle text tower with the models it swaps:
// set and cleared while no call runs on l.
func (l *clipLabeler) guardText(idle *idleModel) { l.text = idle }

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
	c, err := withText(l, func() (*clip.Classifier, error) { return l.model.Classifier(set) })
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
// judges, which join as the ranking models are ready. The frames it captions are offered to
// cal, when its model is being calibrated on them.
type blipCaptioner struct {
	pool   *hotSwap[*blipPool]
	cal    *calibratingBLIP
	mu     sync.Mutex
	judges map[string]blip.Scorer // "itm", "clip"
}

func (c *blipCaptioner) setJudge(name string, j blip.Scorer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.judges == nil {
		c.judges = map[string]blip.Scorer{}
	}
	c.judges[name] = j
}

func (c *blipCaptioner) judge(name string) (blip.Scorer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, ok := c.judges[name]
	return j, ok
}

func (c *blipCaptioner) Caption(ctx context.Context, img image.Image, opts CaptionOptions) (Caption, error) {
	if opts.Candidates > 1 {
		return c.rank(ctx, img, opts)
	}
	var text string
	err := onImage(ctx, c.pool, c.cal, img, func(p *blipPool, s *blip.Session, im *blip.Image) ([]fidelity.BLIPText, error) {
		gen := p.generateOptions(opts)
		var err error
		text, err = s.Caption(im, opts.Prompt, gen)
		return []fidelity.BLIPText{{Prompt: opts.Prompt, Options: gen, Text: text}}, err
	})
	return Caption{Text: text}, err
}

// onImage runs f on a session of the model in h, with img encoded; a frame f succeeded on is
// offered to cal, when the model is being calibrated on them, and kept for a shadow check with
// the texts f gave, when the full-int8 model is watched and a check is due.
func onImage(ctx context.Context, h *hotSwap[*blipPool], cal *calibratingBLIP, img image.Image, f func(*blipPool, *blip.Session, *blip.Image) ([]fidelity.BLIPText, error)) error {
	var keep func()
	err := h.with(func(p *blipPool) error {
		return p.sessions.With(ctx, func(s *blip.Session) error {
			im, err := s.EncodeImage(img)
			if err != nil {
				return err
			}
			texts, err := f(p, s, im)
			if err == nil && cal.shadowDue() {
				keep = cal.keepShadow(p, img, im, texts)
			}
			return err
		})
	})
	if keep != nil { // out of the model's lock: keeping takes the calibrator's
		keep()
	}
	if err == nil && cal != nil {
		cal.see(img)
	}
	return err
}

// generateOptions are the model's decoding defaults with the caption's beams and length.
func (p *blipPool) generateOptions(opts CaptionOptions) blip.GenerateOptions {
	o := p.model.GenerateDefaults()
	o.NumBeams, o.MaxNewTokens = opts.Beams, opts.MaxTokens
	return o
}

// rank is CapFilt: the candidates of img, ranked by the judges opts.Rank names. The
// candidates' decoding holds a caption session; the judges run after it is given back.
func (c *blipCaptioner) rank(ctx context.Context, img image.Image, opts CaptionOptions) (Caption, error) {
	var judges []blip.Judge
	for _, name := range []string{"itm", "clip"} {
		if opts.Rank == name || opts.Rank == "both" {
			sc, ok := c.judge(name)
			if !ok {
				return Caption{}, fmt.Errorf("caption ranking by %s: the model is not ready", name)
			}
			judges = append(judges, blip.Judge{Name: name, Scorer: sc})
		}
	}
	co := blip.CandidateOptions{Beams: opts.Candidates - opts.Samples, Samples: opts.Samples, Sample: blip.DefaultSampleOptions(), Seed: 1}
	var cands []blip.Candidate
	err := onImage(ctx, c.pool, c.cal, img, func(p *blipPool, s *blip.Session, im *blip.Image) (_ []fidelity.BLIPText, err error) {
		// Candidates are not kept to compare: the vision output is.
		cands, err = s.CaptionCandidates(im, opts.Prompt, p.generateOptions(opts), co)
		return nil, err
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

// blipAnswerer answers on a pool of BLIP sessions; the frames it answers about are offered to
// cal, when its model is being calibrated on them.
type blipAnswerer struct {
	pool *hotSwap[*blipPool]
	cal  *calibratingBLIP
}

func (a *blipAnswerer) Answer(ctx context.Context, img image.Image, questions []string) ([]string, error) {
	answers := make([]string, len(questions))
	err := onImage(ctx, a.pool, a.cal, img, func(p *blipPool, s *blip.Session, im *blip.Image) ([]fidelity.BLIPText, error) {
		gen := p.model.GenerateDefaults()
		texts := make([]fidelity.BLIPText, len(questions))
		for i, q := range questions {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			var err error
			if answers[i], err = s.Answer(im, q, gen); err != nil {
				return nil, fmt.Errorf("question %q: %w", q, err)
			}
			texts[i] = fidelity.BLIPText{Question: q, Options: gen, Text: answers[i]}
		}
		return texts, nil
	})
	return answers, err
}
