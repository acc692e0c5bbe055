package camera

import (
	"image"
	"image/color"
	"image/draw"
	"math/rand/v2"
	"testing"
	"time"
)

// flat returns a w×h picture of one grey level.
func flat(w, h int, level uint8) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.NewUniform(color.RGBA{level, level, level, 255}), image.Point{}, draw.Src)
	return img
}

// withNoise returns a copy of img with every channel moved by up to ±amp levels.
func withNoise(img *image.RGBA, amp int, rng *rand.Rand) *image.RGBA {
	out := image.NewRGBA(img.Rect)
	for i, v := range img.Pix {
		if i%4 == 3 {
			out.Pix[i] = 255
			continue
		}
		out.Pix[i] = uint8(min(max(int(v)+rng.IntN(2*amp+1)-amp, 0), 255))
	}
	return out
}

func TestMotionGate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := flat(320, 240, 100)
	moved := flat(320, 240, 100)
	draw.Draw(moved, image.Rect(100, 80, 180, 160), image.White, image.Point{}, draw.Src) // an object appears

	t0 := time.Unix(1000, 0)
	g := NewMotionGate(MotionOptions{Threshold: 0.02, MaxSkip: 10 * time.Second})
	steps := []struct {
		name   string
		img    image.Image
		at     time.Duration
		run    bool
		reason MotionReason
	}{
		{"first frame", base, 0, true, MotionFirst},
		{"same picture", base, time.Second, false, MotionStill},
		{"sensor noise", withNoise(base, 4, rng), 2 * time.Second, false, MotionStill},
		{"an object appears", moved, 3 * time.Second, true, MotionChanged},
		{"it stays", moved, 4 * time.Second, false, MotionStill},
		{"still, but MaxSkip after the last look", moved, 13 * time.Second, true, MotionMaxSkip},
		{"still again", withNoise(moved, 4, rng), 14 * time.Second, false, MotionStill},
		{"it goes (as NRGBA: any image works)", toNRGBA(base), 15 * time.Second, true, MotionChanged},
	}
	for _, s := range steps {
		d := g.Check(s.img, t0.Add(s.at))
		if d.Run != s.run || d.Reason != s.reason {
			t.Fatalf("%s: decision %+v, want run=%v (%s)", s.name, d, s.run, s.reason)
		}
		if s.reason == MotionChanged && d.Score < 0.02 || s.reason == MotionStill && d.Score > 0.02 {
			t.Fatalf("%s: score %v on the wrong side of the threshold", s.name, d.Score)
		}
	}
	if checked, passed := g.Counts(); checked != uint64(len(steps)) || passed != 4 {
		t.Fatalf("counts %d checked, %d passed; want %d, 4", checked, passed, len(steps))
	}
}

func TestMotionGateAddsUpSlowChange(t *testing.T) {
	// Light fading by 1 level a frame never differs much from the previous frame, but it
	// differs from the last frame looked at once enough of it has built up.
	g := NewMotionGate(MotionOptions{Threshold: 0.02, MaxSkip: time.Hour})
	t0 := time.Unix(0, 0)
	g.Check(flat(64, 48, 100), t0)
	ranAt := -1
	for i := 1; i <= 10 && ranAt < 0; i++ {
		if d := g.Check(flat(64, 48, uint8(100+i)), t0.Add(time.Duration(i)*time.Second)); d.Run {
			ranAt = i
		}
	}
	// 0.02 of 255 is 5.1 levels: the sixth step is the first over it.
	if ranAt != 6 {
		t.Fatalf("the gate opened after %d steps of one level, want 6", ranAt)
	}
}

func TestMotionGateScoreOfAKnownChange(t *testing.T) {
	g := NewMotionGate(MotionOptions{GridWidth: 4, GridHeight: 4})
	g.Check(flat(40, 40, 0), time.Unix(0, 0))
	half := flat(40, 40, 0)
	draw.Draw(half, image.Rect(0, 0, 40, 20), image.White, image.Point{}, draw.Src) // top half white
	if d := g.Check(half, time.Unix(1, 0)); d.Score < 0.499 || d.Score > 0.501 {
		t.Fatalf("score %v for half the picture going from black to white, want 0.5", d.Score)
	}
	// A picture smaller than the grid, and one with no pixels.
	if d := g.Check(flat(2, 2, 255), time.Unix(2, 0)); !d.Run {
		t.Fatalf("tiny picture: %+v", d)
	}
	if d := g.Check(image.NewRGBA(image.Rectangle{}), time.Unix(3, 0)); d.Run || d.Reason != MotionEmpty {
		t.Fatalf("empty picture: %+v", d)
	}
}

func toNRGBA(img *image.RGBA) *image.NRGBA {
	out := image.NewNRGBA(img.Rect)
	draw.Draw(out, out.Rect, img, image.Point{}, draw.Src)
	return out
}

func BenchmarkMotionGate(b *testing.B) {
	for _, size := range []image.Point{{640, 480}, {1920, 1080}} {
		b.Run(fmtSize(size), func(b *testing.B) {
			g := NewMotionGate(MotionOptions{})
			imgs := []*image.RGBA{flat(size.X, size.Y, 10), flat(size.X, size.Y, 200)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				g.Check(imgs[i%2], time.Unix(int64(i), 0))
			}
		})
	}
}
