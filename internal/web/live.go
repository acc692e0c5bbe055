package web

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// Defaults of LiveOptions.
const (
	DefaultAnswersKept = 5  // answers a camera shows
	DefaultBuffer      = 64 // updates a page may fall behind by before it misses some
)

// LiveOptions configure a Live; zero fields take the defaults.
type LiveOptions struct {
	// AnswersKept is how many recent answers each camera keeps.
	AnswersKept int
	// Buffer is each subscriber's queue of updates not yet sent.
	Buffer int
}

// Live keeps each camera's latest results (labels per label set, caption, recent answers)
// and hands every new one to the subscribed pages. The daemon feeds it from its results and
// builds its Backend's Status and Subscribe from it. Safe for concurrent use; feeding never
// blocks on a slow page: a full subscriber misses the update (counted in Missed).
type Live struct {
	opts LiveOptions

	mu      sync.Mutex
	cameras map[string]*liveCamera
	subs    map[*subscriber]struct{}

	missed atomic.Uint64
}

type liveCamera struct {
	frame   *FrameInfo
	labels  []Labels // in the order the sets first reported
	caption *Caption
	answers []Answer // newest first
}

type subscriber struct {
	ch chan Update
}

// NewLive makes an empty Live.
func NewLive(opts LiveOptions) *Live {
	if opts.AnswersKept <= 0 {
		opts.AnswersKept = DefaultAnswersKept
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	return &Live{opts: opts, cameras: map[string]*liveCamera{}, subs: map[*subscriber]struct{}{}}
}

// Labels records a label set's latest labels for a camera.
func (l *Live) Labels(camera string, v Labels) {
	v.Labels = slices.Clone(v.Labels)
	l.record(camera, v.Frame, Update{Kind: UpdateLabels, Camera: camera, Data: v}, func(c *liveCamera) {
		for i := range c.labels {
			if c.labels[i].LabelSet == v.LabelSet {
				c.labels[i] = v
				return
			}
		}
		c.labels = append(c.labels, v)
	})
}

// Caption records a camera's latest caption.
func (l *Live) Caption(camera string, v Caption) {
	l.record(camera, v.Frame, Update{Kind: UpdateCaption, Camera: camera, Data: v}, func(c *liveCamera) { c.caption = &v })
}

// Answer records an answer about a camera's frame.
func (l *Live) Answer(camera string, v Answer) {
	l.record(camera, v.Frame, Update{Kind: UpdateAnswer, Camera: camera, Data: v}, func(c *liveCamera) {
		c.answers = append([]Answer{v}, c.answers[:min(len(c.answers), l.opts.AnswersKept-1)]...)
	})
}

// Frame records that a camera has a new frame, so pages fetch it. Results call it
// themselves for frames newer than the last one announced.
func (l *Live) Frame(camera string, f FrameInfo) {
	l.record(camera, f, Update{}, func(*liveCamera) {})
}

// record applies change to the camera's state and sends u (when it has a Kind), preceded by
// a frame update when f is newer than the camera's last frame.
func (l *Live) record(camera string, f FrameInfo, u Update, change func(*liveCamera)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.cameras[camera]
	if c == nil {
		c = &liveCamera{}
		l.cameras[camera] = c
	}
	if f.Seq != 0 && (c.frame == nil || f.Seq > c.frame.Seq) {
		fi := f
		c.frame = &fi
		l.broadcast(Update{Kind: UpdateFrame, Camera: camera, Data: fi})
	}
	change(c)
	if u.Kind != "" {
		l.broadcast(u)
	}
}

// broadcast hands u to every subscriber that has room. The caller holds l.mu, so updates
// reach each subscriber in the order they were recorded.
func (l *Live) broadcast(u Update) {
	for s := range l.subs {
		select {
		case s.ch <- u:
		default:
			l.missed.Add(1)
		}
	}
}

// Camera returns a camera's latest results (Name set, Health left zero for the caller).
func (l *Live) Camera(name string) CameraStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := CameraStatus{Name: name, Labels: []Labels{}, Answers: []Answer{}}
	c := l.cameras[name]
	if c == nil {
		return cs
	}
	if c.frame != nil {
		f := *c.frame
		cs.Frame = &f
	}
	for _, lb := range c.labels {
		lb.Labels = slices.Clone(lb.Labels)
		cs.Labels = append(cs.Labels, lb)
	}
	if c.caption != nil {
		cp := *c.caption
		cs.Caption = &cp
	}
	cs.Answers = append(cs.Answers, c.answers...)
	return cs
}

// Subscribe delivers every update recorded from now until ctx ends; then the channel is
// closed.
func (l *Live) Subscribe(ctx context.Context) <-chan Update {
	s := &subscriber{ch: make(chan Update, l.opts.Buffer)}
	l.mu.Lock()
	l.subs[s] = struct{}{}
	l.mu.Unlock()
	go func() {
		<-ctx.Done()
		l.mu.Lock()
		delete(l.subs, s)
		close(s.ch) // under the lock: broadcast never sends on a closed channel
		l.mu.Unlock()
	}()
	return s.ch
}

// Subscribers is how many pages are subscribed now.
func (l *Live) Subscribers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.subs)
}

// Missed counts updates a subscriber missed because it had fallen behind.
func (l *Live) Missed() uint64 { return l.missed.Load() }
