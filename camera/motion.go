package camera

import (
	"image"
	"math"
	"sync"
	"time"
)

// MotionOptions configure a MotionGate; zero fields take the defaults in parentheses.
type MotionOptions struct {
	// Threshold is the mean absolute difference, as a fraction of full scale (0..1), above
	// which a picture counts as changed (0.02).
	Threshold float64
	// MaxSkip is the longest a picture may go unexamined, so a still scene is still looked
	// at now and then (30s).
	MaxSkip time.Duration
	// GridWidth and GridHeight are the size of the grey thumbnail pictures are compared at
	// (32×24): small enough to be cheap and to ignore sensor noise.
	GridWidth, GridHeight int
}

func (o MotionOptions) withDefaults() MotionOptions {
	if o.Threshold <= 0 || math.IsNaN(o.Threshold) {
		o.Threshold = 0.02
	}
	if o.MaxSkip <= 0 {
		o.MaxSkip = 30 * time.Second
	}
	if o.GridWidth <= 0 {
		o.GridWidth = 32
	}
	if o.GridHeight <= 0 {
		o.GridHeight = 24
	}
	return o
}

// MotionGate decides whether a frame is worth running inference on. It compares a small grey
// thumbnail of each frame with the thumbnail of the last frame it let through, not simply the
// previous frame, so a slow change (light fading, an object creeping in) adds up until it
// counts. One gate serves one camera; it is safe for concurrent use.
type MotionGate struct {
	opts MotionOptions

	mu      sync.Mutex
	ref     []float32 // thumbnail of the last frame let through; nil before the first
	refAt   time.Time
	scratch []float32
	checked uint64
	passed  uint64
}

// NewMotionGate makes a gate; zero options take their defaults.
func NewMotionGate(opts MotionOptions) *MotionGate {
	return &MotionGate{opts: opts.withDefaults()}
}

// MotionReason says why a gate decided as it did.
type MotionReason string

// The reasons a gate gives.
const (
	MotionFirst   MotionReason = "first"    // no frame was let through yet
	MotionChanged MotionReason = "changed"  // the picture changed by more than the threshold
	MotionMaxSkip MotionReason = "max_skip" // unchanged, but unexamined for MaxSkip
	MotionStill   MotionReason = "still"    // unchanged: skip inference
	MotionEmpty   MotionReason = "empty"    // the picture has no pixels: skip it
)

// MotionDecision is a gate's verdict on one frame.
type MotionDecision struct {
	Run    bool         // run inference on this frame
	Score  float64      // mean absolute difference from the last frame let through, 0..1
	Reason MotionReason // why
}

// Check decides about img, captured at the given time (a frame's Time, so that decisions
// follow capture time rather than when the check happens). A frame that is let through
// becomes the new reference.
func (g *MotionGate) Check(img image.Image, at time.Time) MotionDecision {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.checked++
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return MotionDecision{Reason: MotionEmpty}
	}
	n := g.opts.GridWidth * g.opts.GridHeight
	if len(g.scratch) != n {
		g.scratch = make([]float32, n)
	}
	thumbnail(img, g.opts.GridWidth, g.opts.GridHeight, g.scratch)

	d := MotionDecision{Reason: MotionFirst, Run: true}
	if g.ref != nil {
		d.Score = meanAbsDiff(g.ref, g.scratch)
		switch {
		case d.Score > g.opts.Threshold:
			d.Reason = MotionChanged
		case at.Sub(g.refAt) >= g.opts.MaxSkip:
			d.Reason = MotionMaxSkip
		default:
			d.Run, d.Reason = false, MotionStill
		}
	}
	if d.Run {
		g.ref, g.scratch = g.scratch, g.ref
		g.refAt = at
		g.passed++
	}
	return d
}

// Counts returns how many frames the gate has checked and how many it let through.
func (g *MotionGate) Counts() (checked, passed uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.checked, g.passed
}

// thumbnail writes the mean luma (0..1) of each of gw×gh cells of img into dst. Cells are
// areas of whole pixels that tile the picture, whatever its size.
func thumbnail(img image.Image, gw, gh int, dst []float32) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	// A picture smaller than the grid repeats pixels into several cells.
	for cy := 0; cy < gh; cy++ {
		y0 := b.Min.Y + cy*h/gh
		y1 := max(b.Min.Y+(cy+1)*h/gh, y0+1)
		for cx := 0; cx < gw; cx++ {
			x0 := b.Min.X + cx*w/gw
			x1 := max(b.Min.X+(cx+1)*w/gw, x0+1)
			dst[cy*gw+cx] = float32(cellLuma(img, x0, y0, x1, y1))
		}
	}
}

// cellSamples bounds the pixels sampled along each side of a cell: a 1080p frame has cells
// of 60×45 pixels, and a regular 16×16 sample of them averages out noise as well at a
// tenth of the cost.
const cellSamples = 16

// cellLuma is the mean Rec. 601 luma of a rectangle, in 0..1, over a regular sample of its
// pixels.
func cellLuma(img image.Image, x0, y0, x1, y1 int) float64 {
	sx := max((x1-x0)/cellSamples, 1)
	sy := max((y1-y0)/cellSamples, 1)
	var sum, n uint64
	if rgba, ok := img.(*image.RGBA); ok {
		for y := y0; y < y1; y += sy {
			row := rgba.Pix[rgba.PixOffset(x0, y):rgba.PixOffset(x1, y)]
			for i := 0; i < len(row); i += 4 * sx {
				sum += 299*uint64(row[i]) + 587*uint64(row[i+1]) + 114*uint64(row[i+2])
				n++
			}
		}
		return float64(sum) / (1000 * 255 * float64(n))
	}
	for y := y0; y < y1; y += sy {
		for x := x0; x < x1; x += sx {
			r, gr, bl, _ := img.At(x, y).RGBA() // 16-bit channels
			sum += 299*uint64(r) + 587*uint64(gr) + 114*uint64(bl)
			n++
		}
	}
	return float64(sum) / (1000 * 65535 * float64(n))
}

func meanAbsDiff(a, b []float32) float64 {
	var sum float64
	for i := range a {
		sum += math.Abs(float64(a[i] - b[i]))
	}
	return sum / float64(len(a))
}
