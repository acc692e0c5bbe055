package camera

import (
	"image"
	"sync"
	"sync/atomic"
	"time"
)

// Frame is one picture from a source. Treat it as read-only: other goroutines may hold the
// same frame.
type Frame struct {
	// Camera is the name of the source that captured the frame.
	Camera string
	// Seq numbers the frames a source delivered, from 1, across reconnects and loops.
	Seq uint64
	// Time is when the frame was captured (read from the device, decoded or rendered).
	Time time.Time
	// Image is the picture. Its Pix is tightly packed (Stride == 4*width) and alpha is 255.
	Image *image.RGBA
	// Index is the frame's position: the frame number within a video file, the image's place
	// in a folder's sorted listing (both from 0), the scene number of a synthetic source (from
	// 1), and -1 for live devices and streams.
	Index int
	// Path is the image file a folder frame was read from; empty for other sources.
	Path string
	// Annotations are what the source knows about the picture beyond its pixels, as text:
	// the synthetic source's truth (the Truth* keys). Nil for cameras, which know nothing
	// more. Shared by every holder of the frame: read-only.
	Annotations map[string]string

	refs atomic.Int32
	pool *framePool
}

// Retain adds a holder to the frame, for handing one frame to several workers: each holder
// calls Release once. Call it only while holding a reference yourself.
func (f *Frame) Retain() { f.refs.Add(1) }

// Release says the caller is done with the frame. When the last holder releases it, the
// source may reuse the picture's memory for a later frame, so the frame and its Image must
// not be used afterwards. Releasing is optional (an unreleased frame is garbage collected);
// extra calls are ignored.
func (f *Frame) Release() {
	if f.refs.Add(-1) == 0 && f.pool != nil {
		f.pool.put(f.Image)
	}
}

// framePool recycles RGBA buffers of one size, so steady capture does not allocate. A buffer
// comes back only when every holder of its frame has released it, which is what keeps a
// source from drawing over a picture a consumer is still reading.
type framePool struct {
	mu   sync.Mutex
	free []*image.RGBA
	max  int
}

func newFramePool(max int) *framePool { return &framePool{max: max} }

// get returns a w×h buffer with unspecified content, reusing a free one when it can.
// Buffers of another size (left over from before a resolution change) are let go.
func (p *framePool) get(w, h int) *image.RGBA {
	p.mu.Lock()
	for len(p.free) > 0 {
		img := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		if b := img.Rect; b.Dx() == w && b.Dy() == h && b.Min == (image.Point{}) {
			p.mu.Unlock()
			return img
		}
	}
	p.mu.Unlock()
	return image.NewRGBA(image.Rect(0, 0, w, h))
}

func (p *framePool) put(img *image.RGBA) {
	if img == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < p.max {
		p.free = append(p.free, img)
	}
}

// slot is the latest-frame-wins hand-over between one producer (the source's Run) and any
// number of readers: a channel of capacity one whose unread frame is replaced by a new one.
type slot struct {
	ch chan *Frame
}

func newSlot() *slot { return &slot{ch: make(chan *Frame, 1)} }

// put delivers f without ever blocking and reports whether an unread frame was replaced
// (and released). Only the producer calls put, so after the drain the send finds room.
func (s *slot) put(f *Frame) (replaced bool) {
	select {
	case s.ch <- f:
		return false
	default:
	}
	select {
	case old := <-s.ch:
		old.Release()
		replaced = true
	default: // a reader took it meanwhile
	}
	select {
	case s.ch <- f:
	default: // cannot happen with a single producer; never block capture on it anyway
		f.Release()
		replaced = true
	}
	return replaced
}

// close ends the hand-over; a frame still unread stays readable.
func (s *slot) close() { close(s.ch) }
