package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/publish"
	"github.com/edged/edged/internal/recall"
	"github.com/edged/edged/internal/web"
)

// page is the live page's Backend (package web) over the daemon: results reach it through
// its sink, frames come from the runners, asks go to the BLIP lane as MQTT asks do, and text
// search runs over the frames the label jobs remember.
type page struct {
	d      *Daemon
	live   *web.Live
	frames *web.FrameEncoder
	search atomic.Pointer[web.RecallSearch] // set once the models are loaded
	rates  rateTracker

	pairsMu sync.Mutex
	pairs   map[*clip.LabelSet]*labelPairs // of the label sets in use
}

// labelPairs are the pair embeddings of a label set, computed once: their index pairs count
// from the set's first label.
type labelPairs struct {
	once  sync.Once
	pairs []recall.Pair
}

func newPage(d *Daemon) (*page, error) {
	frames, err := web.NewFrameEncoder(0, 0)
	if err != nil {
		return nil, err
	}
	return &page{d: d, live: web.NewLive(web.LiveOptions{}), frames: frames}, nil
}

// Result feeds the page's state from the daemon's results.
func (p *page) Result(r *Result) {
	info := web.FrameInfo{Seq: r.Frame.Seq, Time: r.Frame.Time}
	switch r.Kind {
	case KindLabels:
		labels := make([]web.Label, len(r.Labels))
		for i, s := range r.Labels {
			labels[i] = web.Label{Label: s.Label, Score: s.Score, Share: s.Share}
		}
		p.live.Labels(r.Camera, web.Labels{LabelSet: r.LabelSet, Frame: info, Labels: labels})
	case KindCaption:
		p.live.Caption(r.Camera, web.Caption{Frame: info, Caption: r.Text, LatencyMs: ms(r.Latency)})
	case KindAnswer:
		p.live.Answer(r.Camera, web.Answer{Frame: info, Question: r.Question, Answer: r.Text, LatencyMs: ms(r.Latency), Asked: r.Asked})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// enableSearch starts remembering frames for search, when the CLIP model has a text tower.
func (p *page) enableSearch(s *scheduler, cfg *Config) error {
	te, ok := s.models().Labeler.(TextEmbedder)
	if !ok {
		return nil
	}
	opts := cfg.Search.recallOptions()
	if cfg.Search.Rerank {
		opts.Reranker = recall.MatchReranker(readyMatcher{s})
	}
	store, err := recall.New(opts)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	s.recall.Store(store)
	p.search.Store(&web.RecallSearch{
		Store: store,
		EmbedText: func(ctx context.Context, text string) ([]float32, error) {
			if emb := p.labelNamed(te, text); emb != nil {
				return emb, nil
			}
			start := time.Now()
			emb, err := te.EmbedText(ctx, text)
			p.d.metrics.observe(modelCLIPText, time.Since(start), err)
			return emb, err
		},
		Contrast: func(camera string) ([][]float32, []recall.Pair, float64) {
			labels, pairs := p.contrast(te, camera)
			return labels, pairs, te.LogitScale()
		},
	})
	// Pairs take the text tower a while on a big label set (up to clip.MaxPairPrompts
	// texts): embed them now rather than in the first search.
	go p.contrast(te, "")
	return nil
}

// labelNamed returns the embedding of the label a query names ("red circle", "A red
// circle."), from any camera's label sets, or nil. Such a query is searched as the label
// (its prompts' embedding): the contrast then knows it as one of its texts, so its pairs
// count for it (recall.Query.Pairs), which a query embedded from its own words, close to
// the label's prompts but not the same, might miss.
func (p *page) labelNamed(te TextEmbedder, query string) []float32 {
	name := labelName(query)
	st := p.d.st.Load()
	for _, cam := range st.cfg.Cameras {
		for _, set := range st.sets[cam.Name] {
			for i, l := range set.Labels {
				if !strings.EqualFold(l.Name, name) {
					continue
				}
				embs, err := te.LabelEmbeddings(context.Background(), set)
				if err != nil {
					return nil
				}
				return embs[i]
			}
		}
	}
	return nil
}

// labelName is a query as a label would say it: spaces collapsed, without a final full stop
// or question mark and without a leading article.
func labelName(query string) string {
	q := strings.TrimRight(strings.Join(strings.Fields(query), " "), ".?!")
	for _, article := range []string{"a ", "an ", "the "} {
		if len(q) > len(article) && strings.EqualFold(q[:len(article)], article) {
			return q[len(article):]
		}
	}
	return q
}

// contrast is the label embeddings of a camera's label sets ("" every camera's), which a
// query is ranked against, and the embeddings of their pairs.
func (p *page) contrast(te TextEmbedder, camera string) ([][]float32, []recall.Pair) {
	st := p.d.st.Load()
	seen := map[*clip.LabelSet]bool{}
	var labels [][]float32
	var pairs []recall.Pair
	for _, cam := range st.cfg.Cameras {
		if camera != "" && cam.Name != camera {
			continue
		}
		for _, set := range st.sets[cam.Name] {
			if seen[set] {
				continue
			}
			seen[set] = true
			embs, err := te.LabelEmbeddings(context.Background(), set)
			if err != nil {
				p.d.log.Warn("search: label embeddings", "label_set", set.Name, "err", err)
				continue
			}
			for _, pr := range p.labelPairs(te, set) {
				pr.A, pr.B = pr.A+len(labels), pr.B+len(labels)
				pairs = append(pairs, pr)
			}
			labels = append(labels, embs...)
		}
	}
	return labels, pairs
}

// labelPairs returns the pair embeddings of a label set (none when it has no pairs),
// embedding them on first use. Sets no camera uses any more (after a reload) are forgotten.
func (p *page) labelPairs(te TextEmbedder, set *clip.LabelSet) []recall.Pair {
	p.pairsMu.Lock()
	if p.pairs == nil {
		p.pairs = map[*clip.LabelSet]*labelPairs{}
	}
	lp := p.pairs[set]
	if lp == nil {
		lp = &labelPairs{}
		p.pairs[set] = lp
		st := p.d.st.Load()
		for old := range p.pairs {
			if !st.usesLabelSet(old) {
				delete(p.pairs, old)
			}
		}
	}
	p.pairsMu.Unlock()
	lp.once.Do(func() {
		pairSet, idx := set.PairSet()
		if pairSet == nil {
			return
		}
		start := time.Now()
		embs, err := te.LabelEmbeddings(context.Background(), pairSet)
		if err != nil {
			p.d.log.Warn("search: label pairs are not used", "label_set", set.Name, "err", err)
			return
		}
		lp.pairs = recall.NewPairs(embs, idx)
		p.d.log.Info("search: label pairs embedded", "label_set", set.Name, "pairs", len(idx), "took", time.Since(start).Round(time.Millisecond))
	})
	return lp.pairs
}

func (p *page) Status() web.Status {
	st := p.d.st.Load()
	stats := p.d.cameraStats()
	out := web.Status{Device: st.cfg.Device, Models: p.d.metrics.modelHealth(), Search: p.search.Load().Health()}
	for _, cam := range st.cfg.Cameras {
		cs := p.live.Camera(cam.Name)
		if s, ok := stats[cam.Name]; ok {
			h := healthCamera(s, time.Now())
			cs.Health = web.CameraHealth{State: h.State, Captured: h.Captured, Dropped: h.Dropped, Reconnects: h.Reconnects,
				Stalls: h.Stalls, FrameAge: h.FrameAge, LastError: h.LastError, FPS: p.rates.rate(cam.Name, s.Captured)}
		}
		out.Cameras = append(out.Cameras, cs)
	}
	if p.d.prep != nil {
		statuses, order := p.d.prep.snapshot()
		for _, f := range order {
			s := statuses[f]
			if s.State != modelReady {
				out.Preparing = append(out.Preparing, web.ModelPrep{Model: f, Name: s.Name, State: s.State, Step: s.Step, Percent: s.Percent, Error: s.Error})
			}
			if c := s.Calibration; c != nil {
				mc := web.ModelCalibration{Model: f, Precision: s.Precision, State: c.State, Frames: c.Frames, MinFrames: c.MinFrames, Gate: c.Gate, Error: c.Error}
				if c.Memory != nil {
					mc.Memory = c.Memory.String()
				}
				if sh := c.Shadow; sh != nil {
					mc.Agreement, mc.Checks, mc.Fallbacks = sh.Agreement, sh.Checks, sh.Fallbacks
					if sh.Error != "" {
						mc.Error = sh.Error
					}
				}
				out.Calibration = append(out.Calibration, mc)
			}
		}
	}
	ps := p.d.pub.Stats()
	out.MQTT = web.MQTTHealth{Connected: ps.Connected, Broker: p.d.pub.BrokerURL(), Queued: ps.Queued,
		Published: ps.Published, Dropped: ps.Dropped, LastError: ps.LastError}
	return out
}

// runner returns a camera's runner once the daemon runs.
func (p *page) runner(camera string) (*runner, error) {
	if p.d.st.Load().camera(camera) == nil {
		return nil, web.ErrUnknownCamera
	}
	if !p.d.ready.Load() {
		return nil, fmt.Errorf("%w: models are still loading", web.ErrUnavailable)
	}
	return p.d.runners[camera], nil
}

func (p *page) Frame(camera string) (web.Frame, error) {
	r, err := p.runner(camera)
	if err != nil {
		return web.Frame{}, err
	}
	f := r.newestFrame()
	if f == nil {
		return web.Frame{}, fmt.Errorf("%w: no frame yet", web.ErrUnavailable)
	}
	defer f.Release()
	return p.frames.Encode(camera, web.FrameInfo{Seq: f.Seq, Time: f.Time}, f.Image)
}

func (p *page) Subscribe(ctx context.Context) <-chan web.Update { return p.live.Subscribe(ctx) }

func (p *page) Ask(ctx context.Context, camera, question string) (web.Answer, error) {
	r, err := p.runner(camera)
	if err != nil {
		return web.Answer{}, err
	}
	if p.d.sched.models().Answerer == nil {
		return web.Answer{}, fmt.Errorf("%w: no VQA model (the config names no models.blip_vqa)", web.ErrUnavailable)
	}
	f, err := r.currentFrame()
	if err != nil {
		return web.Answer{}, fmt.Errorf("%w: %v", web.ErrUnavailable, err)
	}
	f.Release()
	start := time.Now()
	a, err := p.d.ask(ctx, camera, question, "")
	if errors.Is(err, errLaneClosed) {
		return web.Answer{}, fmt.Errorf("%w: %v", web.ErrUnavailable, err)
	}
	if err != nil {
		return web.Answer{}, err
	}
	return web.Answer{Frame: web.FrameInfo{Seq: a.Frame, Time: a.Ts.Time()}, Question: question, Answer: a.Answer,
		LatencyMs: ms(time.Since(start)), Asked: true}, nil
}

func (p *page) Search(ctx context.Context, query, camera string, k int) ([]web.Hit, error) {
	if camera != "" && p.d.st.Load().camera(camera) == nil {
		return nil, web.ErrUnknownCamera
	}
	s := p.search.Load()
	if s == nil {
		return nil, fmt.Errorf("%w: search needs models.clip (and the models loaded)", web.ErrUnavailable)
	}
	return s.Search(ctx, query, camera, k)
}

func (p *page) Thumbnail(camera string, frame uint64) ([]byte, error) {
	return p.search.Load().Thumbnail(camera, frame)
}

// searchMQTT answers search requests from MQTT with the page's search.
func (p *page) searchMQTT(ctx context.Context, query, camera string, k int) ([]publish.SearchHit, error) {
	hits, err := p.Search(ctx, query, camera, k)
	if errors.Is(err, web.ErrUnknownCamera) {
		return nil, fmt.Errorf("unknown camera %q", camera)
	}
	if err != nil {
		return nil, err
	}
	out := make([]publish.SearchHit, len(hits))
	for i, h := range hits {
		out[i] = publish.SearchHit{Camera: h.Camera, Frame: h.Frame.Seq, Ts: publish.Timestamp(h.Frame.Time), Score: h.Score, Similar: h.Similar}
	}
	return out, nil
}

// rateTracker estimates each camera's frames per second from its capture counter, over at
// least a second.
type rateTracker struct {
	mu    sync.Mutex
	last  map[string]rateSample
	rates map[string]float64
}

type rateSample struct {
	captured uint64
	at       time.Time
}

func (t *rateTracker) rate(camera string, captured uint64) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last, t.rates = map[string]rateSample{}, map[string]float64{}
	}
	now := time.Now()
	prev, ok := t.last[camera]
	switch {
	case !ok || captured < prev.captured:
		t.last[camera] = rateSample{captured, now}
	case now.Sub(prev.at) >= time.Second:
		t.rates[camera] = float64(captured-prev.captured) / now.Sub(prev.at).Seconds()
		t.last[camera] = rateSample{captured, now}
	}
	return t.rates[camera]
}
