package daemon

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged/edged/internal/progress"
	"github.com/edged/edged/internal/web"
	"github.com/edged/edged/models"
)

// The daemon runs while its models are prepared (pulled from the hub, converted, loaded):
// each feature starts when its model is ready, and /healthz, the live page and the log say
// where the others stand.

// Model states while the daemon runs.
const (
	modelPreparing = "preparing" // being pulled, converted or loaded
	modelWaiting   = "waiting"   // the hub cannot be reached; tried again later
	modelReady     = "ready"
	modelFailed    = "failed" // cannot be used (a bad checkpoint, a refused download...)
)

// Model keys, as the config's models section names them.
const (
	fieldCLIP        = "clip"
	fieldBLIPCaption = "blip_caption"
	fieldBLIPVQA     = "blip_vqa"
	fieldBLIPITM     = "blip_itm"
)

// ModelStatus is where one model stands: the "models" of /healthz.
type ModelStatus struct {
	Name  string `json:"name"`  // as the config names it: a folder or owner/name[@revision]
	State string `json:"state"` // preparing, waiting, ready, failed
	// Step is what preparing does now ("pull model.safetensors", "convert vision"), with
	// Done of Total units (bytes for a pull) and Percent.
	Step    string `json:"step,omitempty"`
	Done    int    `json:"done,omitempty"`
	Total   int    `json:"total,omitempty"`
	Percent int    `json:"percent,omitempty"`
	Error   string `json:"error,omitempty"`
	// Retry is when a waiting model tries the hub again (RFC 3339).
	Retry string `json:"retry,omitempty"`
	// Precision is the loaded model's: fp32, fp16, int8-dynamic (the safe precision) or int8.
	Precision string `json:"precision,omitempty"`
	// Parts are the loaded model's files (CLIP's towers; BLIP's vision tower and text models)
	// at the precision each runs, and whether edged's kernels run its int8 work (models.Part).
	Parts []models.Part `json:"parts,omitempty"`
	// Calibration is where calibrating a safe-precision CLIP model on the cameras' frames
	// stands (calibrating.go).
	Calibration *CalibrationStatus `json:"calibration,omitempty"`
	// UnloadStatus says whether the ready model is closed while idle (models.idle_unload).
	UnloadStatus
	// TextTower is the same for a CLIP model's text tower, closed on its own while the image
	// tower labels frames.
	TextTower *UnloadStatus `json:"text_tower,omitempty"`
}

// UnloadStatus is where unloading an idle model, or part of one, stands.
type UnloadStatus struct {
	// Unloaded is closed while idle (models.idle_unload), loaded again on its next use;
	// Unloads counts the times, ReloadSeconds is how long the last reload took.
	Unloaded      bool    `json:"unloaded,omitempty"`
	Unloads       int     `json:"unloads,omitempty"`
	ReloadSeconds float64 `json:"reload_seconds,omitempty"`
}

// preparation tracks the models the config names, from the start until each is ready or
// failed. Safe for concurrent use.
type preparation struct {
	mu     sync.Mutex
	order  []string // fields in the config's order
	models map[string]*ModelStatus
	// budget admits each model whose size is known only once its bundle is ready; nil
	// checks none.
	budget *memoryBudget
	// unload closes the models no schedule uses when they are idle; nil unloads none.
	unload *idleUnload
	// config is the running config, which a reload changes without loading the models again
	// (the cameras' schedules: what a VQA model's gate asks); nil: the one they were loaded on.
	config func() *Config
}

func newPreparation(cfg *Config) *preparation {
	p := &preparation{models: map[string]*ModelStatus{}}
	for _, m := range configuredModels(cfg) {
		p.order = append(p.order, m.field)
		p.models[m.field] = &ModelStatus{Name: m.name, State: modelPreparing}
	}
	return p
}

// configuredModel is a model the config names and something in it uses.
type configuredModel struct{ field, name string }

// configuredModels are the models the daemon prepares, in the order it prepares them: CLIP
// (labels, the main job) first. models.blip_itm only when something uses it.
func configuredModels(cfg *Config) []configuredModel {
	var out []configuredModel
	for _, m := range []configuredModel{{fieldCLIP, cfg.Models.CLIP}, {fieldBLIPCaption, cfg.Models.BLIPCaption},
		{fieldBLIPVQA, cfg.Models.BLIPVQA}, {fieldBLIPITM, cfg.Models.BLIPITM}} {
		if m.name == "" || m.field == fieldBLIPITM && !cfg.usesITM() {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (p *preparation) update(field string, f func(*ModelStatus)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m, ok := p.models[field]; ok {
		f(m)
	}
}

// reporter returns the progress of field's preparation: phase ("pull", "convert") and the
// step's name make the status's Step.
func (p *preparation) reporter(field, phase string) progress.Reporter {
	return stepFunc(func(name string, done, total int) {
		p.update(field, func(m *ModelStatus) {
			m.State, m.Error, m.Retry = modelPreparing, "", ""
			m.Step, m.Done, m.Total, m.Percent = phase+" "+name, done, total, 0
			if total > 0 {
				m.Percent = int(100 * int64(done) / int64(total))
			}
		})
	})
}

type stepFunc func(name string, done, total int)

func (f stepFunc) Step(name string, done, total int) { f(name, done, total) }

func (p *preparation) set(field, state string, err error, retry time.Time) {
	p.update(field, func(m *ModelStatus) {
		m.State, m.Error, m.Retry = state, "", ""
		if err != nil {
			m.Error = err.Error()
		}
		if !retry.IsZero() {
			m.Retry = retry.UTC().Format(time.RFC3339)
		}
		if state == modelReady || state == modelFailed {
			m.Step, m.Done, m.Total, m.Percent = "", 0, 0, 0
		}
	})
}

// failUnready marks every model that is not ready as failed with err.
func (p *preparation) failUnready(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.models {
		if m.State != modelReady {
			m.State, m.Error, m.Step = modelFailed, err.Error(), ""
		}
	}
}

// snapshot returns the statuses by field, and the fields in order.
func (p *preparation) snapshot() (map[string]ModelStatus, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]ModelStatus, len(p.models))
	for f, m := range p.models {
		out[f] = *m
	}
	return out, p.order
}

// problems are the health problems of models that are not ready: still being prepared, and
// failed.
func (p *preparation) problems() (preparing, failed []string) {
	statuses, order := p.snapshot()
	for _, f := range order {
		m := statuses[f]
		switch m.State {
		case modelPreparing:
			msg := "models." + f + ": preparing " + m.Name
			if m.Step != "" {
				msg += ": " + m.Step
				if m.Total > 0 {
					msg += fmt.Sprintf(" %d%%", m.Percent)
				}
			}
			preparing = append(preparing, msg)
		case modelWaiting:
			preparing = append(preparing, "models."+f+": waiting for the hub ("+m.Error+"); retrying at "+m.Retry)
		case modelFailed:
			failed = append(failed, "models."+f+": failed: "+m.Error)
		}
	}
	return preparing, failed
}

// liveModels are the models ready so far: a Models snapshot that grows as models join. A job
// reads the snapshot once and uses what it holds.
type liveModels struct {
	cur     atomic.Pointer[Models]
	mu      sync.Mutex
	closers []func() error
	closed  bool
}

func newLiveModels() *liveModels {
	l := &liveModels{}
	l.cur.Store(&Models{})
	return l
}

func (l *liveModels) load() *Models { return l.cur.Load() }

// add puts part's models beside the others. After close it closes part instead and returns
// false (a model that became ready while the daemon stopped).
func (l *liveModels) add(part *Models) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		if part.Close != nil {
			part.Close()
		}
		return false
	}
	next := *l.cur.Load()
	next.Close = nil
	if part.Labeler != nil {
		next.Labeler = part.Labeler
	}
	if part.Captioner != nil {
		next.Captioner = part.Captioner
	}
	if part.Answerer != nil {
		next.Answerer = part.Answerer
	}
	if part.Matcher != nil {
		next.Matcher = part.Matcher
	}
	if part.Close != nil {
		l.closers = append(l.closers, part.Close)
	}
	l.cur.Store(&next)
	return true
}

// close closes every model, the last to join first (an ITM matcher's sessions before the
// model the captioner ranks with).
func (l *liveModels) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	var errs []error
	for i := len(l.closers) - 1; i >= 0; i-- {
		errs = append(errs, l.closers[i]())
	}
	l.closers = nil
	return errors.Join(errs...)
}

// fieldsOf names the models part holds.
func fieldsOf(part *Models) []string {
	var out []string
	if part.Labeler != nil {
		out = append(out, fieldCLIP)
	}
	if part.Captioner != nil {
		out = append(out, fieldBLIPCaption)
	}
	if part.Answerer != nil {
		out = append(out, fieldBLIPVQA)
	}
	if part.Matcher != nil {
		out = append(out, fieldBLIPITM)
	}
	return out
}

// prepareModels loads the models in the background until they are all ready or failed (or
// ctx ends), starting each feature as its model joins.
func (d *Daemon) prepareModels(ctx context.Context, cfg *Config, load ModelLoader) {
	start := time.Now()
	d.log.Info("preparing models (a repository is pulled and a checkpoint converted on the first run, which takes a while)")
	err := load(ctx, cfg, func(part *Models) { d.modelReady(ctx, cfg, part) })
	switch {
	case ctx.Err() != nil:
		return
	case err != nil:
		d.prep.failUnready(err)
		d.log.Error("models", "err", err)
		return
	}
	if _, failed := d.prep.problems(); len(failed) == 0 {
		d.log.Info("models ready", "took", time.Since(start).Round(time.Millisecond))
	}
}

// msgModelFailed is logged when a model cannot be used, whichever step refused it.
const msgModelFailed = "model failed; the features that need it stay off"

// modelReady starts what part's models do: label sets' text embeddings first, then the
// schedule of every camera, search with CLIP.
func (d *Daemon) modelReady(ctx context.Context, cfg *Config, part *Models) {
	fields := fieldsOf(part)
	if part.Labeler != nil {
		if err := prepareSets(ctx, part, d.st.Load(), d.metrics); err != nil {
			if part.Close != nil {
				part.Close()
			}
			d.prep.set(fieldCLIP, modelFailed, err, time.Time{})
			d.log.Error(msgModelFailed, "model", fieldCLIP, "err", err)
			return
		}
	}
	if !d.sched.live.add(part) {
		return
	}
	if part.Labeler != nil {
		if err := d.page.enableSearch(d.sched, cfg); err != nil {
			d.log.Error("search is off", "err", err)
		}
	}
	for _, f := range fields {
		d.prep.set(f, modelReady, nil, time.Time{})
	}
	for _, r := range d.runners {
		r.notifyReload() // its intervals now include the new model's work
	}
	d.log.Info("feature started", "models", fields)
}

// readyMatcher re-ranks searches with the ITM model, or says it is not ready yet.
type readyMatcher struct{ s *scheduler }

func (m readyMatcher) Match(ctx context.Context, img image.Image, texts []string) ([]float64, error) {
	mt := m.s.matcher()
	if mt == nil {
		return nil, fmt.Errorf("%w: re-ranking needs models.blip_itm, which is not ready yet", web.ErrUnavailable)
	}
	return mt.Match(ctx, img, texts)
}
