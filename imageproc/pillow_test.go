package imageproc

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestPILBackendMatchesPillow checks the PIL backend's resize byte for byte against Pillow's
// Image.resize (testdata/pillow, made by make_references.py with the Pillow named in
// VERSION): every filter, shrinking by factors up to 17 (antialiasing), enlarging, one axis
// only, on a smooth picture and on a hard-edged scene (overshoot clipped to 0..255).
// With rescale and normalise off, the output values are the resized bytes themselves.
func TestPILBackendMatchesPillow(t *testing.T) {
	refs, err := filepath.Glob(filepath.Join("testdata", "pillow", "*.png"))
	if err != nil || len(refs) != 50 {
		t.Fatalf("want 50 Pillow references, found %d (%v)", len(refs), err)
	}
	sources := map[string]string{"image_200x300": "image_200x300.png", "scene_06": "scenes/scene_06.png"}
	filterNames := map[string]Resample{"lanczos": Lanczos, "bilinear": Bilinear, "bicubic": Bicubic, "box": Box, "hamming": Hamming}
	for _, ref := range refs {
		name := strings.TrimSuffix(filepath.Base(ref), ".png")
		t.Run(name, func(t *testing.T) {
			parts := strings.Split(name, "_")
			source := strings.Join(parts[:len(parts)-2], "_")
			resample, ok := filterNames[parts[len(parts)-2]]
			var w, h int
			if _, err := fmt.Sscanf(parts[len(parts)-1], "%dx%d", &w, &h); err != nil || !ok || sources[source] == "" {
				t.Fatalf("cannot read the reference name %q", name)
			}
			cfg := Config{DoResize: true, Size: Size{Height: h, Width: w}, Resample: resample}
			p, err := New(cfg, Options{Backend: PIL})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Process(decodePNG(t, filepath.Join("testdata", sources[source])), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := decodePNG(t, ref)
			differ := 0
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					r, g, b, _ := want.At(x, y).RGBA()
					px := [3]float32{float32(r >> 8), float32(g >> 8), float32(b >> 8)}
					for c := range 3 {
						if got[(y*w+x)*3+c] != px[c] {
							if differ < 3 {
								t.Errorf("(%d,%d) channel %d: %v, Pillow %v", x, y, c, got[(y*w+x)*3+c], px[c])
							}
							differ++
						}
					}
				}
			}
			if differ > 0 {
				t.Errorf("%d of %d values differ from Pillow", differ, w*h*3)
			}
		})
	}
}
