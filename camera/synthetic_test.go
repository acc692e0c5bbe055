package camera

import (
	"bytes"
	"image"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/internal/shapes"
)

func TestSyntheticFramesCarryTheirScene(t *testing.T) {
	spec := Spec{Name: "demo", Kind: KindSynthetic, Width: 96, Height: 64, FPS: 200, SceneEvery: 20 * time.Millisecond, Seed: 7}
	src := start(t, mustNew(t, spec, Options{}))

	// Scene n of a seed is the n-th shapes.Random of its generator.
	rng := sceneRNG(7)
	var want []shapes.Scene
	sceneOf := func(n int) shapes.Scene {
		for len(want) < n {
			want = append(want, shapes.Random(rng))
		}
		return want[n-1]
	}
	seen := map[int]bool{}
	for len(seen) < 4 {
		f := next(t, src, 5*time.Second)
		if f.Image.Rect != image.Rect(0, 0, 96, 64) {
			t.Fatalf("picture %v, want 96x64", f.Image.Rect)
		}
		if f.Index < 1 {
			t.Fatalf("synthetic frame numbered scene %d, want ≥ 1", f.Index)
		}
		s := sceneOf(f.Index)
		checkTruth(t, f.Annotations, s)
		if seen[f.Index] {
			continue
		}
		seen[f.Index] = true
		checkShowsScene(t, f.Image, s)
		// And the picture is exactly the renderer's.
		pic, err := shapes.Render(s, 96, 64, shapes.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Image.Pix, pic.Pix) {
			t.Fatalf("scene %d: picture differs from shapes.Render of its truth", f.Index)
		}
	}
	if st := src.Stats(); st.Errors != 0 || st.State != StateStreaming {
		t.Fatalf("stats = %+v", st)
	}

	// The same seed gives the same first scene.
	again := start(t, mustNew(t, spec, Options{}))
	if f := next(t, again, 5*time.Second); f.Index != 1 || f.Annotations[TruthCaption] != sceneOf(1).Caption() {
		t.Fatalf("seed 7 again: scene %d %q, want scene 1 %q", f.Index, f.Annotations[TruthCaption], sceneOf(1).Caption())
	}
}

// checkTruth compares a frame's annotations with the scene it should show.
func checkTruth(t *testing.T, ann map[string]string, s shapes.Scene) {
	t.Helper()
	var labels []string
	for _, o := range s.Objects {
		labels = append(labels, o.Label())
	}
	if got, want := ann[TruthLabels], strings.Join(labels, " and "); got != want {
		t.Fatalf("truth labels %q, want %q", got, want)
	}
	if got, want := ann[TruthCaption], s.Caption(); got != want {
		t.Fatalf("truth caption %q, want %q", got, want)
	}
	qas := shapes.Questions(s)
	for _, qa := range qas {
		// Asked as a user would type it.
		if got := ann[TruthAnswerKey("  "+strings.ToUpper(qa.Question[:1])+qa.Question[1:]+" ")]; got != qa.Answer {
			t.Fatalf("truth answer to %q is %q, want %q", qa.Question, got, qa.Answer)
		}
	}
	if len(ann) != 2+len(qas) {
		t.Fatalf("%d annotations, want labels, caption and %d answers: %v", len(ann), len(qas), ann)
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
