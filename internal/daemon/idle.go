package daemon

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged/edged/runtime/tflite"
)

// Models the cameras' schedules do not use (a VQA model only asks use, an ITM model only
// search re-ranking uses) are closed after models.idle_unload without use, and opened again
// from their bundle on the next use: their memory is free between an ask and the next. So is
// CLIP's text tower: a CLIP model that labels frames needs it only for texts it has not
// embedded yet (label embeddings are cached), such as search queries.

// DefaultIdleUnload is models.idle_unload when the config does not say.
const DefaultIdleUnload = 5 * time.Minute

// idleUnload is models.idle_unload, DefaultIdleUnload when absent.
func (m ModelsConfig) idleUnload() time.Duration {
	if m.IdleUnload == nil {
		return DefaultIdleUnload
	}
	return *m.IdleUnload
}

// idleUnload is the daemon's side of unloading: which models the schedule uses now, and
// where unloads and reloads are told.
type idleUnload struct {
	after time.Duration
	// scheduled says whether a camera's schedule uses field's model under the config in
	// force (a reload may add or remove standing questions).
	scheduled func(field string) bool
	metrics   *metrics
	log       *slog.Logger
	prep      *preparation
}

// idleCLIPText names CLIP's text tower as a model unloaded on its own (log, metrics), as
// its latency metric does.
const idleCLIPText = modelCLIPText

// scheduledModels are the models (and idleCLIPText) some camera's schedule runs more often
// than models.idle_unload: they would never stay idle that long, and are never unloaded. A
// schedule as slow as the wait or slower leaves its model unloaded between two runs.
func scheduledModels(cfg *Config) map[string]bool {
	after := cfg.Models.idleUnload()
	often := func(every time.Duration) bool { return every > 0 && (after <= 0 || every < after) }
	out := map[string]bool{}
	for _, cam := range cfg.Cameras {
		if len(cam.Labels.Sets) > 0 && often(cam.Labels.Every) {
			out[fieldCLIP] = true
			if len(cam.Labels.Confirm.Labels) > 0 {
				out[fieldBLIPITM] = true
			}
		}
		if often(cam.Caption.Every) {
			out[fieldBLIPCaption] = true
			itm, clip := cam.Caption.ranks()
			out[fieldBLIPITM] = out[fieldBLIPITM] || itm
			// Ranking embeds each caption's candidates: text.
			out[fieldCLIP] = out[fieldCLIP] || clip
			out[idleCLIPText] = out[idleCLIPText] || clip
		}
		if often(cam.Questions.Every) && len(cam.Questions.Ask) > 0 {
			out[fieldBLIPVQA] = true
		}
	}
	return out
}

// idleModel is one model, or part of one, that is closed when idle and opened again when
// used. Safe for concurrent use: a use while it is reloaded waits for that reload.
type idleModel struct {
	name   string                           // what the schedule, the log and the metrics call it (scheduledModels)
	field  string                           // the models field it belongs to
	status func(*ModelStatus) *UnloadStatus // its status in /healthz
	policy *idleUnload
	open   func() (*Models, error) // loads the model again from its bundle

	mu     sync.Mutex
	cur    *Models // nil while unloaded
	users  int
	last   time.Time // the end of the last use
	timer  *time.Timer
	closed bool
}

// newIdleModel takes over part, field's model loaded by open, and closes it once it has been
// idle long enough (counting from now).
func newIdleModel(field string, policy *idleUnload, part *Models, open func() (*Models, error)) *idleModel {
	return startIdle(&idleModel{name: field, field: field, status: wholeModel, policy: policy, open: open, cur: part})
}

func wholeModel(s *ModelStatus) *UnloadStatus { return &s.UnloadStatus }

func startIdle(m *idleModel) *idleModel {
	m.last = time.Now()
	m.mu.Lock()
	m.arm()
	m.mu.Unlock()
	return m
}

// use returns the loaded model, loading it again if it was closed; done must be called when
// the caller no longer uses it.
func (m *idleModel) use() (cur *Models, done func(), err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, nil, fmt.Errorf("models.%s: %w", m.field, errNoModel)
	}
	if m.cur == nil {
		start := time.Now()
		if m.cur, err = m.open(); err != nil {
			m.cur = nil
			return nil, nil, fmt.Errorf("models.%s: loading %s again: %w", m.field, m.name, err)
		}
		releaseFreedMemory()
		m.policy.reloaded(m, time.Since(start))
	}
	m.users++
	return m.cur, m.release, nil
}

// hold counts a request queued for the model as a use from now until done: a request that
// waits on the BLIP lane behind a caption, perhaps longer than models.idle_unload, must find
// the model still loaded, not pay a reload (or race an unload). It does not load the model:
// the request's use does, if it must.
func (m *idleModel) hold() (done func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users++
	var once sync.Once
	return func() { once.Do(m.release) }
}

func (m *idleModel) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users--
	m.last = time.Now()
	if m.users == 0 {
		m.arm()
	}
}

// arm starts the wait for the model to be idle; m.mu is held.
func (m *idleModel) arm() {
	if m.closed {
		return
	}
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timer = time.AfterFunc(m.policy.after-time.Since(m.last), m.expire)
}

// expire closes the model if it has been idle for the whole wait and the schedule does not
// use it.
func (m *idleModel) expire() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.cur == nil || m.users > 0 {
		return
	}
	if time.Since(m.last) < m.policy.after || m.policy.scheduled(m.name) {
		m.last = time.Now()
		m.arm()
		return
	}
	err := m.cur.Close()
	m.cur = nil
	releaseFreedMemory()
	m.policy.unloaded(m, err)
}

// releaseFreedMemory hands what a model's loading or unloading freed back to the system: glibc
// keeps freed pages for later allocations (below its mmap threshold, which grows to 32 MiB as
// large blocks are freed) and Go its heap's for a while. Without it an unloaded VQA model gave
// nothing back, and the next model loaded on top of the last one's leftovers (BENCHMARKS.md,
// "Memory and the hot path").
func releaseFreedMemory() {
	handBackFreedMemory()
	loadGeneration.Add(1)
}

// handBackFreedMemory returns to the system what glibc and Go hold freed.
func handBackFreedMemory() {
	tflite.ReleaseFreedMemory()
	debug.FreeOSMemory()
}

// loadGeneration counts releaseFreedMemory's calls, which follow every load, reload, swap and
// unload of a model: a lane hands memory back once more after the next job of each kind
// (lane.releaseAfterFirstRun). Shared by every daemon in a process, which costs at most a
// spare release.
var loadGeneration atomic.Uint64

// close frees the model for good.
func (m *idleModel) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.timer != nil {
		m.timer.Stop()
	}
	if m.cur == nil {
		return nil
	}
	err := m.cur.Close()
	m.cur = nil
	return err
}

// exclusive runs f, which swaps the model m's part belongs to for another, with no reload or
// unload of the part running meanwhile; loaded says whether the part is loaded now, so that f
// leaves the new model in that state. m may be nil (nothing is unloaded): f runs with true.
func (m *idleModel) exclusive(f func(loaded bool)) {
	if m == nil {
		f(true)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m.cur != nil)
}

// loaded says whether the part is loaded now (it may change at once: a hint).
func (m *idleModel) loaded() bool {
	if m == nil {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur != nil
}

// withIdle runs f on m's model, loading it again if it was closed.
func withIdle[T any](m *idleModel, f func(*Models) (T, error)) (T, error) {
	cur, done, err := m.use()
	if err != nil {
		var zero T
		return zero, err
	}
	defer done()
	return f(cur)
}

// queuedUser is a model that is unloaded when idle and that requests queue for (an
// idleAnswerer: asks and standing questions): a request queued for it holds it
// (idleModel.hold).
type queuedUser interface{ holdQueued() (done func()) }

// holdQueued counts a request queued for model (an Answerer) as a use of it
// until done, if model is unloaded when idle; otherwise done does nothing.
func holdQueued(model any) (done func()) {
	if q, ok := model.(queuedUser); ok {
		return q.holdQueued()
	}
	return func() {}
}

// The daemon's contracts over an idleModel.

type idleAnswerer struct{ m *idleModel }

func (a idleAnswerer) Answer(ctx context.Context, img image.Image, questions []string) ([]string, error) {
	return withIdle(a.m, func(cur *Models) ([]string, error) { return cur.Answerer.Answer(ctx, img, questions) })
}

func (a idleAnswerer) holdQueued() func() { return a.m.hold() }

type idleMatcher struct{ m *idleModel }

func (a idleMatcher) Match(ctx context.Context, img image.Image, texts []string) ([]float64, error) {
	return withIdle(a.m, func(cur *Models) ([]float64, error) { return cur.Matcher.Match(ctx, img, texts) })
}

// unloadable wraps part, loaded by open, when field's model may be unloaded when idle: the
// models only asks (VQA) and searches and rankings (ITM) use.
func (u *idleUnload) unloadable(field string, part *Models, open func() (*Models, error)) *Models {
	if u == nil || u.after <= 0 || (field != fieldBLIPVQA && field != fieldBLIPITM) {
		return part
	}
	m := newIdleModel(field, u, part, open)
	out := &Models{Close: m.close}
	if part.Answerer != nil {
		out.Answerer = idleAnswerer{m}
	}
	if part.Matcher != nil {
		out.Matcher = idleMatcher{m}
	}
	return out
}

// unloadableText makes the text tower of a loaded CLIP model one that is closed when idle
// (nil when models.idle_unload is 0): its text methods go through the idleModel returned.
func (u *idleUnload) unloadableText(m textTower) *idleModel {
	if u == nil || u.after <= 0 {
		return nil
	}
	part := &Models{Close: m.CloseText}
	return startIdle(&idleModel{name: idleCLIPText, field: fieldCLIP, policy: u, cur: part,
		status: func(s *ModelStatus) *UnloadStatus {
			// A copy: statuses read before share the old one.
			var st UnloadStatus
			if s.TextTower != nil {
				st = *s.TextTower
			}
			s.TextTower = &st
			return &st
		},
		open: func() (*Models, error) {
			if err := m.OpenText(); err != nil {
				return nil, err
			}
			return part, nil
		}})
}

// textTower is the part of clip.Model that unloadableText closes and opens.
type textTower interface {
	OpenText() error
	CloseText() error
}

// Messages of the unload events, for the log and the tests.
const (
	msgModelUnloaded = "model unloaded: idle and no camera's schedule uses it"
	msgModelReloaded = "model loaded again"
)

// unloaded and reloaded update the status and the metrics before they log: whoever sees the
// line finds them up to date.
func (u *idleUnload) unloaded(m *idleModel, err error) {
	if m.name == m.field { // a whole model: its memory is free for a transient (memory_wait.go)
		u.prep.budget.setLoaded(m.field, false)
	}
	u.prep.update(m.field, func(s *ModelStatus) {
		st := m.status(s)
		st.Unloaded = true
		st.Unloads++
	})
	u.metrics.modelUnloads.WithLabelValues(m.name).Inc()
	if err != nil {
		u.log.Error(msgModelUnloaded, "model", m.name, "idle", u.after.String(), "err", err)
	} else {
		u.log.Info(msgModelUnloaded, "model", m.name, "idle", u.after.String())
	}
}

func (u *idleUnload) reloaded(m *idleModel, took time.Duration) {
	if m.name == m.field {
		u.prep.budget.setLoaded(m.field, true)
	}
	u.prep.update(m.field, func(s *ModelStatus) {
		st := m.status(s)
		st.Unloaded = false
		st.ReloadSeconds = took.Seconds()
	})
	u.metrics.modelReload.WithLabelValues(m.name).Observe(took.Seconds())
	u.log.Info(msgModelReloaded, "model", m.name, "took", took.Round(time.Millisecond).String())
}
