package recall

import (
	"image"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/internal/shapes"
)

// clock is a test clock the store ages frames by; tests move it forward explicitly.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

func newStore(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// randomUnit returns a random direction in dim dimensions.
func randomUnit(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var ss float64
	for i := range v {
		x := rng.NormFloat64()
		v[i] = float32(x)
		ss += x * x
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / math.Sqrt(ss))
	}
	return v
}

// render draws a random shapes scene with sensor noise, the kind of picture the synthetic
// camera delivers; noise makes its JPEG thumbnail realistically large.
func render(t testing.TB, rng *rand.Rand, w, h int) (*image.RGBA, shapes.Scene) {
	t.Helper()
	sc := shapes.Random(rand.New(rand.NewPCG(rng.Uint64(), 1)))
	img, err := shapes.Render(sc, w, h, shapes.Options{Noise: 6, Rand: rand.New(rand.NewPCG(rng.Uint64(), 2))})
	if err != nil {
		t.Fatal(err)
	}
	return img, sc
}

// solid is a plain picture of one colour.
func solid(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 40, 80, 120, 255
	}
	return img
}
