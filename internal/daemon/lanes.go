package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// A lane is a queue of jobs and the workers that take them. The daemon has two: the label
// lane runs CLIP (fast, every second) and the BLIP lane runs captions, standing questions
// and asks (slow). Keeping them apart is what stops a slow caption from starving labels.
//
// Jobs do not pile up: each camera has at most one job of each kind queued or running (see
// inflight), so a lane's queue never holds more than cameras × kinds jobs plus the asks the
// publisher lets through at once.
type lane struct {
	name   string
	normal chan *job
	urgent chan *job // asks: a user is waiting, so they go before scheduled work
	log    *slog.Logger

	mu     sync.RWMutex // guards closed against sends on closed channels
	closed bool
	wg     sync.WaitGroup

	releasedMu sync.Mutex
	released   map[Kind]uint64 // per kind, the loadGeneration its first job after released memory
	loads      func() uint64   // loadGeneration's; a test's own
	handBack   func()          // handBackFreedMemory; a test counts the calls
}

// job is one piece of work for a camera.
type job struct {
	camera string
	kind   Kind
	run    func(ctx context.Context)
}

var errLaneClosed = errors.New("edged is shutting down")

func newLane(name string, capacity int, log *slog.Logger) *lane {
	return &lane{
		name:     name,
		normal:   make(chan *job, capacity),
		urgent:   make(chan *job, capacity),
		log:      log.With("lane", name),
		released: map[Kind]uint64{},
		loads:    loadGeneration.Load,
		handBack: handBackFreedMemory,
	}
}

// start runs n workers. ctx is handed to every job: it ends when in-flight work must stop
// (the drain deadline), not when the daemon is asked to stop.
func (l *lane) start(ctx context.Context, n int) {
	for range n {
		l.wg.Add(1)
		go l.work(ctx)
	}
}

func (l *lane) work(ctx context.Context) {
	defer l.wg.Done()
	normal, urgent := l.normal, l.urgent
	for normal != nil || urgent != nil {
		var j *job
		var ok bool
		// Take an urgent job first when there is one, otherwise whichever comes.
		select {
		case j, ok = <-urgent:
			if !ok {
				urgent = nil
				continue
			}
		default:
			select {
			case j, ok = <-urgent:
				if !ok {
					urgent = nil
					continue
				}
			case j, ok = <-normal:
				if !ok {
					normal = nil
					continue
				}
			}
		}
		l.runJob(ctx, j)
	}
}

// runJob runs one job; a panic in model code is logged and the worker goes on.
func (l *lane) runJob(ctx context.Context, j *job) {
	defer func() {
		if p := recover(); p != nil {
			l.log.Error("job panicked", "camera", j.camera, "kind", j.kind, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	j.run(ctx)
	l.releaseAfterFirstRun(j.kind)
}

// releaseAfterFirstRun hands back what the first job of a kind since a model was loaded or
// unloaded freed: a model's first runs allocate and free scratch of their own (weights packed
// for the delegate, arenas sized), which glibc keeps in the worker threads' arenas. Kept, the
// three models' first runs added up to the daemon's peak, 1.90-2.04 GiB at 2 threads,
// against 1.94 after a malloc_trim (BENCHMARKS.md, "The daemon's peak: when and why").
func (l *lane) releaseAfterFirstRun(k Kind) {
	gen := l.loads()
	l.releasedMu.Lock()
	first := l.released[k] != gen
	l.released[k] = gen
	l.releasedMu.Unlock()
	if first {
		l.handBack()
	}
}

// trySubmit queues a scheduled job without waiting; false when the queue is full or the lane
// is closed.
func (l *lane) trySubmit(j *job) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return false
	}
	select {
	case l.normal <- j:
		return true
	default:
		return false
	}
}

// submitUrgent queues a job ahead of scheduled work, waiting for room until ctx ends.
func (l *lane) submitUrgent(ctx context.Context, j *job) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return errLaneClosed
	}
	select {
	case l.urgent <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops new jobs; the workers finish what is queued, then return (see wait).
func (l *lane) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.normal)
		close(l.urgent)
	}
}

// wait returns when every worker has returned (after close).
func (l *lane) wait() { l.wg.Wait() }

// laneWorkers splits the worker count between the label lane and the BLIP lane: half each,
// the odd one to labels, and at least one per lane.
func laneWorkers(workers int) (labels, blip int) {
	labels = max(1, (workers+1)/2)
	blip = max(1, workers/2)
	return labels, blip
}
