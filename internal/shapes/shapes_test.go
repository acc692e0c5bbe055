package shapes

import (
	"encoding/json"
	"image"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// TestRandomFollowsTheWorldRules draws many scenes and checks every rule of the README's
// distribution, and that the proportions are right: two objects in a third of the scenes
// (±0.02 over 20000 draws, about 6 standard deviations), every background, colour and shape
// used.
func TestRandomFollowsTheWorldRules(t *testing.T) {
	rng := newRand(1)
	const n = 20000
	two := 0
	used := map[string]int{}
	for i := 0; i < n; i++ {
		s := Random(rng)
		if err := s.Validate(); err != nil {
			t.Fatalf("draw %d: %v (%+v)", i, err, s)
		}
		used[s.Background]++
		for j, o := range s.Objects {
			used[o.Color]++
			used[o.Shape]++
			if o.Tint != [3]float64{} {
				t.Fatalf("draw %d: Random jittered colours: %+v", i, o)
			}
			inRange := func(v, lo, hi float64) bool { return v >= lo && v <= hi }
			ok := inRange(o.Y, 0.32, 0.68)
			switch {
			case len(s.Objects) == 1:
				ok = ok && inRange(o.Size, 0.14, 0.28) && inRange(o.X, 0.32, 0.68)
			case j == 0:
				ok = ok && inRange(o.Size, 0.12, 0.2) && inRange(o.X, 0.22, 0.32)
			default:
				ok = ok && inRange(o.Size, 0.12, 0.2) && inRange(o.X, 0.68, 0.78)
			}
			if !ok {
				t.Fatalf("draw %d: object %d out of the README's ranges: %+v", i, j, s)
			}
		}
		if len(s.Objects) == 2 {
			two++
		}
	}
	if frac := float64(two) / n; math.Abs(frac-1.0/3) > 0.02 {
		t.Errorf("two objects in %.3f of scenes, want 1/3", frac)
	}
	for _, name := range append(append(Backgrounds(), Colors()...), Shapes()...) {
		if used[name] == 0 {
			t.Errorf("%q never drawn", name)
		}
	}
}

func TestRandomIsDeterministicForASeed(t *testing.T) {
	a, b := newRand(7), newRand(7)
	for i := 0; i < 100; i++ {
		if sa, sb := Random(a), Random(b); !reflect.DeepEqual(sa, sb) {
			t.Fatalf("draw %d differs for the same seed: %+v vs %+v", i, sa, sb)
		}
	}
}

func TestSceneJSONRoundTrip(t *testing.T) {
	s := Random(newRand(3)).Jittered(newRand(4), 15)
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Scene
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, back) {
		t.Errorf("round trip changed the scene:\n%+v\n%+v", s, back)
	}
	// A scene without tint stays short.
	clean, _ := json.Marshal(Scene{Background: "gray", Objects: []Object{{Color: "red", Shape: "circle", X: 0.5, Y: 0.5, Size: 0.2}}})
	want := `{"background":"gray","objects":[{"color":"red","shape":"circle","x":0.5,"y":0.5,"size":0.2}]}`
	if string(clean) != want {
		t.Errorf("JSON = %s, want %s", clean, want)
	}
}

func TestJitteredStaysInRangeAndKeepsTheOriginal(t *testing.T) {
	s := Random(newRand(5))
	j := s.Jittered(newRand(6), 15)
	for i, o := range j.Objects {
		for _, v := range o.Tint {
			if v < -15 || v > 15 {
				t.Errorf("object %d tint %v out of ±15", i, o.Tint)
			}
		}
		if o.Tint == [3]float64{} {
			t.Errorf("object %d not jittered", i)
		}
		if s.Objects[i].Tint != [3]float64{} {
			t.Errorf("Jittered changed the original scene")
		}
	}
}

func TestValidateNamesTheProblem(t *testing.T) {
	ok := Object{Color: "red", Shape: "circle", X: 0.5, Y: 0.5, Size: 0.2}
	with := func(f func(*Object)) []Object { o := ok; f(&o); return []Object{o} }
	cases := []struct {
		name  string
		scene Scene
		want  string
	}{
		{"background", Scene{Background: "pink", Objects: []Object{ok}}, `unknown background "pink"`},
		{"no objects", Scene{Background: "gray"}, "has 0"},
		{"three objects", Scene{Background: "gray", Objects: []Object{ok, ok, ok}}, "has 3"},
		{"colour", Scene{Background: "gray", Objects: with(func(o *Object) { o.Color = "teal" })}, `object 0: unknown colour "teal"`},
		{"shape", Scene{Background: "gray", Objects: with(func(o *Object) { o.Shape = "star" })}, `object 0: unknown shape "star"`},
		{"duplicate", Scene{Background: "gray", Objects: []Object{ok, ok}}, `object 1: "red circle" appears twice`},
		{"centre", Scene{Background: "gray", Objects: with(func(o *Object) { o.X = 1.5 })}, "centre (1.5, 0.5) outside"},
		{"NaN centre", Scene{Background: "gray", Objects: with(func(o *Object) { o.Y = math.NaN() })}, "outside the unit square"},
		{"size", Scene{Background: "gray", Objects: with(func(o *Object) { o.Size = 0 })}, "size 0 not in (0, 1]"},
		{"tint", Scene{Background: "gray", Objects: with(func(o *Object) { o.Tint[2] = 300 })}, "tint[2] = 300"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.scene.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, c.want)
			}
		})
	}
	if err := (Scene{Background: "gray", Objects: []Object{ok}}).Validate(); err != nil {
		t.Errorf("valid scene: %v", err)
	}
}

func TestRenderRejectsBadInput(t *testing.T) {
	good := Random(newRand(1))
	cases := []struct {
		name          string
		scene         Scene
		width, height int
		opts          Options
		want          string
	}{
		{"invalid scene", Scene{Background: "pink"}, 64, 64, Options{}, "unknown background"},
		{"zero width", good, 0, 64, Options{}, "canvas 0x64 is empty"},
		{"negative height", good, 64, -1, Options{}, "canvas 64x-1 is empty"},
		{"huge", good, 100000, 100000, Options{}, "over the limit"},
		{"noise without rand", good, 64, 64, Options{Noise: 2}, "needs a random source"},
		{"negative noise", good, 64, 64, Options{Noise: -1, Rand: newRand(1)}, "noise -1"},
		{"NaN noise", good, 64, 64, Options{Noise: math.NaN(), Rand: newRand(1)}, "noise NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, err := Render(c.scene, c.width, c.height, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) || img != nil {
				t.Errorf("Render = %v, %v; want nil and an error containing %q", img != nil, err, c.want)
			}
		})
	}
}

// TestRenderPlacesObjectsInTheCentredSquare renders one big centred square on wide and tall
// canvases (half side 0.85·0.58 = 0.493 of the square's side): the pixels outside the centred
// square must be background, those one pixel inside its edges the object's colour, and the
// picture opaque.
func TestRenderPlacesObjectsInTheCentredSquare(t *testing.T) {
	s := Scene{Background: "black", Objects: []Object{{Color: "blue", Shape: "square", X: 0.5, Y: 0.5, Size: 0.58}}}
	for _, size := range [][2]int{{200, 100}, {100, 200}, {33, 33}} {
		w, h := size[0], size[1]
		img, err := Render(s, w, h, Options{})
		if err != nil {
			t.Fatal(err)
		}
		side := min(w, h)
		sq := image.Rect((w-side)/2, (h-side)/2, (w-side)/2+side, (h-side)/2+side)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := img.RGBAAt(x, y)
				if c.A != 255 {
					t.Fatalf("%dx%d: pixel (%d,%d) not opaque", w, h, x, y)
				}
				got := RGB{c.R, c.G, c.B}
				if !image.Pt(x, y).In(sq) && got != backgroundValues["black"] {
					t.Fatalf("%dx%d: pixel (%d,%d) outside the centred square is %v", w, h, x, y, got)
				}
			}
		}
		for _, p := range []image.Point{{sq.Min.X + 1, h / 2}, {sq.Max.X - 2, h / 2}, {w / 2, sq.Min.Y + 1}, {w / 2, sq.Max.Y - 2}} {
			if c := img.RGBAAt(p.X, p.Y); (RGB{c.R, c.G, c.B}) != colorValues["blue"] {
				t.Errorf("%dx%d: pixel %v is %v, want blue", w, h, p, c)
			}
		}
	}
}

// TestRenderShapesAtTheirRules renders each shape large at 400x400 and samples points just
// inside and just outside the README's boundaries.
func TestRenderShapesAtTheirRules(t *testing.T) {
	const side = 400
	cx, cy, r := 200.0, 200.0, 100.0 // X = Y = 0.5, Size = 0.25
	inside := map[string][][2]float64{
		"circle":   {{cx + 0.7*r, cy}, {cx, cy - 0.7*r}, {cx + 0.6*r, cy + 0.6*r}},
		"square":   {{cx + 0.8*r, cy + 0.8*r}, {cx - 0.8*r, cy - 0.8*r}},
		"triangle": {{cx, cy - 0.9*r}, {cx + 0.85*r, cy + 0.75*r}, {cx - 0.85*r, cy + 0.75*r}},
	}
	outside := map[string][][2]float64{
		"circle":   {{cx + 0.75*r, cy + 0.75*r}, {cx + 1.05*r, cy}},
		"square":   {{cx + 0.9*r, cy}, {cx, cy - 0.9*r}},
		"triangle": {{cx, cy - 1.05*r}, {cx, cy + 0.85*r}, {cx + 0.5*r, cy - 0.5*r}},
	}
	for _, shape := range Shapes() {
		s := Scene{Background: "white", Objects: []Object{{Color: "red", Shape: shape, X: 0.5, Y: 0.5, Size: 0.25}}}
		img, err := Render(s, side, side, Options{})
		if err != nil {
			t.Fatal(err)
		}
		at := func(p [2]float64) RGB { c := img.RGBAAt(int(p[0]), int(p[1])); return RGB{c.R, c.G, c.B} }
		for _, p := range inside[shape] {
			if at(p) != colorValues["red"] {
				t.Errorf("%s: point %v should be inside", shape, p)
			}
		}
		for _, p := range outside[shape] {
			if at(p) != backgroundValues["white"] {
				t.Errorf("%s: point %v should be outside", shape, p)
			}
		}
	}
}

// TestRenderNoise checks the noise option: the same seed gives the same picture, and the
// difference to the clean picture has the requested standard deviation (±5% over 192×192×3
// samples on a gray background, far from clipping).
func TestRenderNoise(t *testing.T) {
	s := Scene{Background: "gray", Objects: []Object{{Color: "green", Shape: "circle", X: 0.5, Y: 0.5, Size: 0.1}}}
	clean, err := Render(s, 192, 192, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := Render(s, 192, 192, Options{Noise: 4, Rand: newRand(9)})
	b, _ := Render(s, 192, 192, Options{Noise: 4, Rand: newRand(9)})
	if !reflect.DeepEqual(a.Pix, b.Pix) {
		t.Error("same seed, different noise")
	}
	var sumSq float64
	n := 0
	for i := range a.Pix {
		if i%4 == 3 {
			continue
		}
		d := float64(a.Pix[i]) - float64(clean.Pix[i])
		sumSq += d * d
		n++
	}
	want := math.Sqrt(16 + 1.0/12) // rounding adds 1/12
	if std := math.Sqrt(sumSq / float64(n)); math.Abs(std-want) > 0.05*want {
		t.Errorf("noise std %.3f, want %.3f ± 5%%", std, want)
	}
}

func TestCaptionOrdersObjectsLeftToRight(t *testing.T) {
	left := Object{Color: "red", Shape: "circle", X: 0.25, Y: 0.5, Size: 0.15}
	right := Object{Color: "blue", Shape: "square", X: 0.7, Y: 0.5, Size: 0.15}
	want := "a red circle and a blue square on a gray background"
	for _, objs := range [][]Object{{left, right}, {right, left}} {
		if got := (Scene{Background: "gray", Objects: objs}).Caption(); got != want {
			t.Errorf("Caption() = %q, want %q", got, want)
		}
	}
	one := Scene{Background: "black", Objects: []Object{{Color: "yellow", Shape: "triangle", X: 0.5, Y: 0.5, Size: 0.2}}}
	if got := one.Caption(); got != "a yellow triangle on a black background" {
		t.Errorf("Caption() = %q", got)
	}
}

func TestQuestions(t *testing.T) {
	s := Scene{Background: "white", Objects: []Object{
		{Color: "green", Shape: "triangle", X: 0.25, Y: 0.5, Size: 0.15},
		{Color: "green", Shape: "square", X: 0.7, Y: 0.5, Size: 0.15},
	}}
	got := map[string]string{}
	for _, qa := range Questions(s) {
		got[qa.Question] = qa.Answer
	}
	want := map[string]string{
		"what color is the background?": "white",
		"how many shapes are there?":    "two",
		"what color is the triangle?":   "green",
		"what color is the square?":     "green",
		"is there a green triangle?":    "yes",
		"is there a green square?":      "yes",
		"is there a green circle?":      "no",
		"is there a red triangle?":      "no",
	}
	for q, a := range want {
		if got[q] != a {
			t.Errorf("%q: answer %q, want %q", q, got[q], a)
		}
	}
	// "what shape is green?" has two answers here, and nothing asks about an absent shape.
	for _, q := range []string{"what shape is green?", "what color is the circle?"} {
		if a, ok := got[q]; ok {
			t.Errorf("%q should be left out, got answer %q", q, a)
		}
	}
	if len(got) != 2+2+15 {
		t.Errorf("%d questions, want 19", len(got))
	}
}
