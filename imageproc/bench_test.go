package imageproc

import (
	"image"
	"image/draw"
	"path/filepath"
	"testing"
)

// The camera's case: a 640×480 frame to CLIP's 224×224 and BLIP's 384×384, into a reused
// buffer. Run with: go test ./imageproc -run '^$' -bench . -benchmem
func benchmarkProcess(b *testing.B, cfg Config, input string) {
	p, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	nrgba := toNRGBA(decodePNG(b, filepath.Join("testdata", "image_640x480.png")))
	frame := packFrame(nrgba, BGR, 0)
	rgba := image.NewRGBA(nrgba.Bounds())
	draw.Draw(rgba, rgba.Bounds(), nrgba, image.Point{}, draw.Src)
	ycc := image.NewYCbCr(nrgba.Bounds(), image.YCbCrSubsampleRatio420)
	h, w, _ := p.OutputSize(640, 480)
	dst := make([]float32, h*w*3)
	b.ReportAllocs()
	for b.Loop() {
		switch input {
		case "bgr":
			_, err = p.ProcessFrame(frame, dst)
		case "rgba":
			_, err = p.Process(rgba, dst)
		case "ycbcr":
			_, err = p.Process(ycc, dst)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCLIP640x480BGR(b *testing.B)   { benchmarkProcess(b, CLIPDefaults(), "bgr") }
func BenchmarkCLIP640x480RGBA(b *testing.B)  { benchmarkProcess(b, CLIPDefaults(), "rgba") }
func BenchmarkCLIP640x480YCbCr(b *testing.B) { benchmarkProcess(b, CLIPDefaults(), "ycbcr") }
func BenchmarkBLIP640x480BGR(b *testing.B)   { benchmarkProcess(b, BLIPDefaults(), "bgr") }
