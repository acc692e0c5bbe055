package camera

import (
	"bytes"
	"image"
	"math"
	"testing"
	"time"

	"github.com/edged/edged/internal/shapes"
)

func TestSyntheticFramesCarryTheirScene(t *testing.T) {
	spec := Spec{Name: "demo", Kind: KindSynthetic, Width: 96, Height: 64, FPS: 200, SceneEvery: 20 * time.Millisecond, Seed: 7}
	src := start(t, mustNew(t, spec, Options{}))

	scenes := map[int]shapes.Scene{}
	for len(scenes) < 4 {
		f := next(t, src, 5*time.Second)
		if f.Scene == nil {
			t.Fatal("synthetic frame without its scene")
		}
		if f.Image.Rect != image.Rect(0, 0, 96, 64) {
			t.Fatalf("picture %v, want 96x64", f.Image.Rect)
		}
		if s, ok := scenes[f.Index]; ok {
			if s.Caption() != f.Scene.Caption() {
				t.Fatalf("scene %d changed from %q to %q", f.Index, s.Caption(), f.Scene.Caption())
			}
			continue
		}
		scenes[f.Index] = *f.Scene
		checkShowsScene(t, f.Image, *f.Scene)
		// And the picture is exactly the renderer's.
		want, err := shapes.Render(*f.Scene, 96, 64, shapes.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Image.Pix, want.Pix) {
			t.Fatalf("scene %d: picture differs from shapes.Render of its truth", f.Index)
		}
	}
	if st := src.Stats(); st.Errors != 0 || st.State != StateRunning {
		t.Fatalf("stats = %+v", st)
	}

	// The same seed gives the same first scene.
	again := start(t, mustNew(t, spec, Options{}))
	if f := next(t, again, 5*time.Second); f.Index != 1 || f.Scene.Caption() != scenes[1].Caption() {
		t.Fatalf("seed 7 again: scene %d %q, want scene 1 %q", f.Index, f.Scene.Caption(), scenes[1].Caption())
	}
}

// checkShowsScene looks, independently of the renderer, at the pixels the truth speaks of:
// the background in the corner and each object's colour at its centre.
func checkShowsScene(t *testing.T, img *image.RGBA, s shapes.Scene) {
	t.Helper()
	w, h := img.Rect.Dx(), img.Rect.Dy()
	side := float64(min(w, h))
	ox, oy := float64(w)-side, float64(h)-side
	at := func(x, y int) shapes.RGB {
		p := img.PixOffset(x, y)
		return shapes.RGB{img.Pix[p], img.Pix[p+1], img.Pix[p+2]}
	}
	if bg, _ := shapes.ColorRGB(s.Background); at(0, 0) != bg {
		t.Fatalf("%q: corner is %v, want the %s background %v", s.Caption(), at(0, 0), s.Background, bg)
	}
	for _, o := range s.Objects {
		x := int(math.Floor(ox/2 + side*o.X))
		y := int(math.Floor(oy/2 + side*o.Y))
		if c, _ := shapes.ColorRGB(o.Color); at(x, y) != c {
			t.Fatalf("%q: centre of the %s at (%d,%d) is %v, want %v", s.Caption(), o.Label(), x, y, at(x, y), c)
		}
	}
}
