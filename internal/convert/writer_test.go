package convert

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/progress"
	"github.com/edged/edged/quant"
	"github.com/edged/edged/runtime/tflite"
)

// A conversion that fails while replacing a bundle leaves the old bundle whole and nothing
// beside it: the new one is built aside and only renamed into place when complete.
func TestFailedReplacementKeepsTheOldBundle(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "bundle")
	if _, err := testArchitectures.Convert(checkpoint(t, testArch), out, Options{Precision: graph.FP32}); err != nil {
		t.Fatal(err)
	}
	if _, err := testArchitectures.Convert(checkpoint(t, "EdgedTestFailing"), out, Options{}); err == nil {
		t.Fatal("the failing architecture converted")
	}
	b, err := bundle.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(); err != nil || b.Manifest.Architecture != testArch || b.HasFile("partial") {
		t.Errorf("the old bundle changed: %v, %+v", err, b.Manifest)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("%d entries beside the bundle after a failed replacement", len(entries)-1)
	}
}

// The Writer refuses what would make a bundle ambiguous or reach outside it.
func TestWriterRefuses(t *testing.T) {
	w := &Writer{dir: t.TempDir(), manifest: &bundle.Manifest{}, progress: progress.Nop{}}
	g := graph.New("m")
	g.Output("y", g.Relu(g.Input("x", graph.Float32, 1, 2)))
	model, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddModel("vision", "fp32", model); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"a role twice", w.AddModel("vision", "fp32", model), `role "vision" written twice`},
		{"a file outside", w.AddFile("tokenizer", "../tokenizer.json", []byte("{}")), `"../tokenizer.json" is not a plain relative name`},
		{"an absolute name", w.AddFile("tokenizer", "/tmp/tokenizer.json", []byte("{}")), "not a plain relative name"},
		{"not a model", w.AddModel("text", "fp32", []byte("not a model at all")), "bundle: model text: tfl: not a TFLite model"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, tc.err, tc.want)
		}
	}
	if len(w.manifest.Files) != 1 {
		t.Errorf("the manifest lists %d files, want the one written", len(w.manifest.Files))
	}
	if entries, _ := os.ReadDir(w.dir); len(entries) != 1 {
		t.Errorf("%d files written, want 1", len(entries))
	}
}

// Calibration observes the images the options choose: a folder's, in name order, at most
// CalibrationImages of them, or shapes scenes; the manifest says which.
func TestCalibrationSource(t *testing.T) {
	// The test model is y = x·Wᵀ, W = [[1 2 3] [4 5 6]], x the colour of the image's first pixel.
	g := graph.New("dense")
	x := g.Input("x", graph.Float32, 1, 3)
	g.Output("y", g.FullyConnected(x, g.Const("w", []float32{1, 2, 3, 4, 5, 6}, 2, 3), nil))
	feed := func(ip *tflite.Interpreter, img image.Image) error {
		r, gr, b, _ := img.At(0, 0).RGBA()
		return ip.Input(0).SetFloat32([]float32{float32(r) / 65535, float32(gr) / 65535, float32(b) / 65535})
	}
	dir := t.TempDir()
	for name, c := range map[string]color.RGBA{"a.png": {255, 0, 0, 255}, "b.png": {0, 255, 0, 255}, "c.png": {0, 0, 255, 255}} {
		img := image.NewRGBA(image.Rect(0, 0, 2, 2))
		img.Set(0, 0, c)
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		opts    Options
		info    bundle.CalibrationInfo
		x, y    quant.Range
		between bool // shapes scenes: ranges inside [0, 1] and [0, 15], not exact
	}{
		// red (y = 1, 4), green (2, 5), blue (3, 6)
		{"the whole folder", Options{CalibrationDir: dir}, bundle.CalibrationInfo{Source: dir, Images: 3, Method: ObserverMinMax},
			quant.Range{Min: 0, Max: 1}, quant.Range{Min: 1, Max: 6}, false},
		{"its first two by name", Options{CalibrationDir: dir, CalibrationImages: 2}, bundle.CalibrationInfo{Source: dir, Images: 2, Method: ObserverMinMax},
			quant.Range{Min: 0, Max: 1}, quant.Range{Min: 1, Max: 5}, false},
		{"its first alone", Options{CalibrationDir: dir, CalibrationImages: 1, Observer: ObserverPercentile}, bundle.CalibrationInfo{Source: dir, Images: 1, Method: ObserverPercentile},
			quant.Range{Min: 0, Max: 1}, quant.Range{Min: 1, Max: 4}, false},
		{"shapes scenes (as planned for a shapes model)", Options{CalibrationImages: 4, shapesScenes: true}, bundle.CalibrationInfo{Source: "shapes", Images: 4, Method: ObserverMinMax},
			quant.Range{Min: 0, Max: 1}, quant.Range{Min: 0, Max: 15}, true},
	} {
		ranges, info, err := CalibrateImages(g, tc.opts, "test", feed)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if info != tc.info {
			t.Errorf("%s: calibration info %+v, want %+v", tc.name, info, tc.info)
		}
		for _, v := range []struct {
			tensor string
			want   quant.Range
		}{{"x", tc.x}, {"y", tc.y}} {
			got, ok := ranges[v.tensor]
			switch {
			case !ok:
				t.Errorf("%s: no range for %s", tc.name, v.tensor)
			case tc.between && (got.Min < v.want.Min || got.Max > v.want.Max || got.Max <= got.Min):
				t.Errorf("%s: %s range %+v outside %+v", tc.name, v.tensor, got, v.want)
			case !tc.between && got != v.want:
				t.Errorf("%s: %s range %+v, want %+v", tc.name, v.tensor, got, v.want)
			}
		}
	}
}
