package imageproc

import (
	"fmt"
	"image"
	"math"
	"path/filepath"
	"testing"
)

// Tolerances against transformers' pixel_values, in normalised units (one 8-bit level is
// 1/255/std ≈ 0.015). The references were made by transformers 5.17's default, torchvision,
// backend, which this package reproduces exactly; the PIL backend must stay within these
// (about two 8-bit levels at worst, an eighth of one on average).
const (
	maxMeanAbsError = 0.002
	maxAbsError     = 0.03
)

// backendTolerance is the largest absolute error allowed per backend: none for the backend
// that made the references.
var backendTolerance = map[Backend]float64{Torchvision: 0, PIL: maxAbsError}

func decodePNG(t testing.TB, path string) image.Image {
	t.Helper()
	img, err := DecodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// compareNCHW compares our NHWC output with a reference [1,3,H,W] tensor and returns the
// mean and max absolute error and the count of differing values.
func compareNCHW(t *testing.T, got []float32, h, w int, want tensor) (mean, maxErr float64, differ int) {
	t.Helper()
	if len(want.shape) != 4 || want.shape[0] != 1 || want.shape[1] != 3 || want.shape[2] != h || want.shape[3] != w {
		t.Fatalf("reference shape %v, our output is [1,%d,%d,3]", want.shape, h, w)
	}
	var sum float64
	for c := 0; c < 3; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				d := math.Abs(float64(got[(y*w+x)*3+c]) - float64(want.data[(c*h+y)*w+x]))
				sum += d
				maxErr = max(maxErr, d)
				if d != 0 {
					differ++
				}
			}
		}
	}
	return sum / float64(3*h*w), maxErr, differ
}

func checkClose(t *testing.T, name string, backend Backend, got []float32, h, w int, want tensor) {
	t.Helper()
	mean, maxErr, differ := compareNCHW(t, got, h, w, want)
	if mean > maxMeanAbsError || maxErr > backendTolerance[backend] {
		t.Errorf("%s: mean abs error %.6f (limit %g), max %.6f (limit %g), %d of %d values differ", name, mean, maxMeanAbsError, maxErr, backendTolerance[backend], differ, 3*h*w)
		return
	}
	t.Logf("%s: mean abs error %.2g, max %.2g, %d of %d values differ", name, mean, maxErr, differ, 3*h*w)
}

var backends = []Backend{Torchvision, PIL}

// TestGoldenPreprocess runs CLIPImageProcessor() and BlipImageProcessor() defaults on the
// three golden pictures (640x480, 200x300, 224x224) and compares with transformers.
func TestGoldenPreprocess(t *testing.T) {
	ref := readSafetensorsGz(t, filepath.Join("testdata", "preprocess_pixel_values.safetensors.gz"))
	for _, kind := range []struct {
		name    string
		cfg     Config
		backend Backend
	}{
		{"clip", CLIPDefaults(), Torchvision}, {"blip", BLIPDefaults(), Torchvision},
		{"clip", CLIPDefaults(), PIL}, {"blip", BLIPDefaults(), PIL},
	} {
		p, err := New(kind.cfg, Options{Backend: kind.backend})
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []string{"640x480", "200x300", "224x224"} {
			img := decodePNG(t, filepath.Join("testdata", "image_"+size+".png"))
			b := img.Bounds()
			h, w, err := p.OutputSize(b.Dx(), b.Dy())
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Process(img, nil)
			if err != nil {
				t.Fatal(err)
			}
			key := kind.name + "_pixel_values_" + size
			want, ok := ref[key]
			if !ok {
				t.Fatalf("reference %s missing", key)
			}
			checkClose(t, kind.backend.String()+" "+key, kind.backend, got, h, w, want)
		}
	}
}

// TestShapesScenesPreprocess runs the shapes checkpoints' own preprocessor configs on the 24
// reference scenes and compares with the pixel values transformers fed the models.
func TestShapesScenesPreprocess(t *testing.T) {
	ref := readSafetensorsGz(t, filepath.Join("testdata", "shapes_pixel_values.safetensors.gz"))
	for _, run := range []struct {
		kind    string
		backend Backend
	}{{"clip", Torchvision}, {"blip", Torchvision}, {"clip", PIL}, {"blip", PIL}} {
		kind := run.kind
		cfg, err := LoadConfig(filepath.Join("testdata", "shapes_config", kind+"_preprocessor_config.json"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(cfg, Options{Backend: run.backend})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 24; i++ {
			img := decodePNG(t, filepath.Join("testdata", "scenes", fmt.Sprintf("scene_%02d.png", i)))
			got, err := p.Process(img, nil)
			if err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("%s_pixel_values_%02d", kind, i)
			checkClose(t, run.backend.String()+" "+key, run.backend, got, 64, 64, ref[key])
		}
	}
}
