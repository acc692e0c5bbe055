package convert

import (
	"image"
	"math"
	"reflect"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/quant"
	"github.com/edged/edged/runtime/tflite"
)

// observePasses keeps the graph's order and starts a new pass only when the next activation
// would take the pass over the budget; one larger than the budget is a pass of its own.
func TestObservePasses(t *testing.T) {
	acts := []graph.Observable{{Name: "a", Bytes: 40}, {Name: "b", Bytes: 50}, {Name: "c", Bytes: 10}, {Name: "d", Bytes: 300}, {Name: "e", Bytes: 1}}
	for _, tc := range []struct {
		budget int64
		want   []map[string]bool
	}{
		{1000, []map[string]bool{{"a": true, "b": true, "c": true, "d": true, "e": true}}},
		{100, []map[string]bool{{"a": true, "b": true, "c": true}, {"d": true}, {"e": true}}},
		{60, []map[string]bool{{"a": true}, {"b": true, "c": true}, {"d": true}, {"e": true}}},
		{1, []map[string]bool{{"a": true}, {"b": true}, {"c": true}, {"d": true}, {"e": true}}},
	} {
		if got := observePasses(acts, tc.budget); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("budget %d: passes %v, want %v", tc.budget, got, tc.want)
		}
	}
	if got := observePasses(nil, 100); len(got) != 1 || len(got[0]) != 0 {
		t.Errorf("no activations: passes %v, want one empty pass", got)
	}
}

// With a budget smaller than its activations, CalibrateImages observes them over several
// passes, running every image again in each, and the ranges are those of a single pass over
// all of them: every activation observed, none left out or taken from another pass.
func TestCalibrationInPasses(t *testing.T) {
	// x [1,3] → FC [1,4] → RELU → MUL → FC [1,2] = y: three observable activations of 16 bytes.
	g := graph.New("mlp")
	x := g.Input("x", graph.Float32, 1, 3)
	h := g.FullyConnected(x, g.Const("w1", []float32{1, -2, 3, -4, 5, -6, 0.5, 0.25, -1, 2, 2, -3}, 4, 3), nil, graph.Named("fc1"))
	h = g.Relu(h, graph.Named("relu"))
	h = g.Mul(h, g.Const("scale", []float32{1, -1, 2, 0.5}, 1, 4), graph.Named("scaled"))
	g.Output("y", g.FullyConnected(h, g.Const("w2", []float32{1, 2, 3, 4, -1, 1, -1, 1}, 2, 4), nil))
	acts := g.Observable()
	if len(acts) != 3 {
		t.Fatalf("the test graph has %d observable activations %v, want 3", len(acts), acts)
	}

	feeds := 0
	feed := func(ip *tflite.Interpreter, img image.Image) error {
		feeds++
		r, gr, b, _ := img.At(img.Bounds().Dx()/2, img.Bounds().Dy()/2).RGBA()
		return ip.Input(0).SetFloat32([]float32{float32(r) / 65535, float32(gr) / 65535, float32(b) / 65535})
	}
	const images = 6
	calibrate := func(budget int64) map[string]quant.Range {
		t.Helper()
		feeds = 0
		ranges, info, err := CalibrateImages(g, Options{CalibrationImages: images, shapesScenes: true, observeBudget: budget}, "test", feed)
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		if info.Images != images {
			t.Errorf("budget %d: calibration info says %d images, want %d", budget, info.Images, images)
		}
		return ranges
	}

	one := calibrate(0) // ObserveBudget: one pass
	if feeds != images {
		t.Fatalf("one pass fed %d images, want %d", feeds, images)
	}
	for _, name := range append([]string{"x", "y"}, names(acts)...) {
		if _, ok := one[name]; !ok {
			t.Fatalf("one pass observed no range for %s: %v", name, one)
		}
	}

	for _, tc := range []struct {
		budget int64
		passes int
	}{{16, 3}, {32, 2}} {
		got := calibrate(tc.budget)
		if feeds != tc.passes*images {
			t.Errorf("budget %d: fed %d images, want %d (%d passes of %d)", tc.budget, feeds, tc.passes*images, tc.passes, images)
		}
		// The same float operations on the same inputs: equal but for the kernels' rounding.
		if len(got) != len(one) {
			t.Errorf("budget %d: ranges of %d tensors, one pass has %d", tc.budget, len(got), len(one))
		}
		for name, want := range one {
			r, ok := got[name]
			if !ok {
				t.Errorf("budget %d: no range for %s", tc.budget, name)
				continue
			}
			if !near(r.Min, want.Min) || !near(r.Max, want.Max) {
				t.Errorf("budget %d: %s range %+v, one pass %+v", tc.budget, name, r, want)
			}
		}
	}
}

func names(acts []graph.Observable) []string {
	var out []string
	for _, a := range acts {
		out = append(out, a.Name)
	}
	return out
}

// near is a tolerance of 1e-6, relative above 1.
func near(a, b float32) bool {
	return math.Abs(float64(a-b)) <= 1e-6*math.Max(1, math.Abs(float64(b)))
}
