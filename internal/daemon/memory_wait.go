package daemon

import (
	"fmt"

	"github.com/edged/edged/internal/bench"
)

// The memory budget at run time. At start only the models must fit together; a calibration's
// child conversion (with the swap that follows a pass) and a batch of shadow checks ask for
// their memory when they are about to run, against what is loaded then: the models not
// unloaded by models.idle_unload, and the transients reserved now. One that does not fit
// waits (the calibration's state waiting_for_memory; a shadow batch is dropped) and is tried
// again when memory is freed: a model unloaded, a transient ended. Nothing is unloaded to make
// room: models are unloaded only when idle.

// MemoryWait is why a transient waits (/healthz): it needs Need bytes beside the Loaded ones
// (edged itself, the models loaded, the transients running), more than Limit.
type MemoryWait struct {
	Need   int64 `json:"need"`
	Loaded int64 `json:"loaded"`
	Limit  int64 `json:"limit"`
}

// logAttrs are the waiting model and the figures, as a log line's attributes.
func (w *MemoryWait) logAttrs(model string) []any {
	return []any{"model", model, "need", bench.FormatBytes(w.Need), "loaded", bench.FormatBytes(w.Loaded), "limit", bench.FormatBytes(w.Limit)}
}

func (w *MemoryWait) String() string {
	return fmt.Sprintf("needs %s beside %s loaded, limit %s", bench.FormatBytes(w.Need), bench.FormatBytes(w.Loaded), bench.FormatBytes(w.Limit))
}

// reservation is memory a transient holds until it ends.
type reservation struct{ bytes int64 }

// loadedLocked is what is held now: edged itself, the models loaded, the transients
// reserved; b.mu is held.
func (b *memoryBudget) loadedLocked() int64 {
	n := int64(processBase)
	for f, s := range b.sizes {
		if !b.unloaded[f] {
			n += s.bytes()
		}
	}
	for r := range b.reserved {
		n += r.bytes
	}
	return n
}

// reserve reserves need bytes beside what is held now; release gives them back (once). When
// they do not fit, wait says why and wake is called once, in its own goroutine, the next time
// memory is freed (one wake per key: asking again replaces it). A nil budget, or need 0,
// always fits.
func (b *memoryBudget) reserve(key any, need int64, wake func()) (release func(), wait *MemoryWait) {
	if b == nil || need <= 0 {
		return func() {}, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.initRuntimeLocked()
	if loaded := b.loadedLocked(); loaded+need > b.limit {
		if wake != nil {
			b.waiters[key] = wake
		}
		return nil, &MemoryWait{Need: need, Loaded: loaded, Limit: b.limit}
	}
	delete(b.waiters, key)
	r := &reservation{bytes: need}
	b.reserved[r] = true
	return func() {
		b.mu.Lock()
		had := b.reserved[r]
		delete(b.reserved, r)
		b.mu.Unlock()
		if had {
			b.freed()
		}
	}, nil
}

// initRuntimeLocked makes the run time's maps of a budget made without them; b.mu is held.
func (b *memoryBudget) initRuntimeLocked() {
	if b.reserved == nil {
		b.unloaded, b.reserved, b.waiters = map[string]bool{}, map[*reservation]bool{}, map[any]func(){}
	}
}

// setLoaded records that field's model was unloaded when idle (false) or loaded again.
func (b *memoryBudget) setLoaded(field string, loaded bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.initRuntimeLocked()
	b.unloaded[field] = !loaded
	b.mu.Unlock()
	if !loaded {
		b.freed()
	}
}

// freed wakes whoever waits for memory.
func (b *memoryBudget) freed() {
	b.mu.Lock()
	waiters := b.waiters
	b.waiters = map[any]func(){}
	b.mu.Unlock()
	for _, wake := range waiters {
		go wake()
	}
}

// transientNeed is what field's model holds for a while on top of its steady figure: for a
// calibration (its child conversion, or the swap after it), or for one batch of shadow checks
// (a session of the safe model, or, convertsSafe, the child converting the safe bundle first
// when that is more); 0 when the budget does not know the model.
func (b *memoryBudget) transientNeed(field string, shadowBatch, convertsSafe bool) int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.sizes[field]
	switch {
	case !ok:
		return 0
	case shadowBatch && convertsSafe && s.params > 0:
		return max(s.safeSession, processBase+int64(float64(s.params)*safeConvertPerParam))
	case shadowBatch:
		return s.safeSession
	case s.transient != nil:
		return s.transient.bytes
	}
	return 0
}

// memoryGate is a calibrator's way to the budget (nil: no budget, everything fits).
type memoryGate struct {
	budget *memoryBudget
	field  string
}

// conversion reserves a calibration's child conversion (and the swap after it).
func (g *memoryGate) conversion(key any, wake func()) (func(), *MemoryWait) {
	if g == nil {
		return func() {}, nil
	}
	return g.budget.reserve(key, g.budget.transientNeed(g.field, false, false), wake)
}

// shadowBatch reserves a batch of shadow checks' session of the safe model, and the safe
// bundle's conversion before it when convertsSafe.
func (g *memoryGate) shadowBatch(key any, convertsSafe bool, wake func()) (func(), *MemoryWait) {
	if g == nil {
		return func() {}, nil
	}
	return g.budget.reserve(key, g.budget.transientNeed(g.field, true, convertsSafe), wake)
}
