package imageproc

import (
	"image"
	"image/color"
	"image/draw"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func newCLIP(t testing.TB, backend Backend) *Processor {
	t.Helper()
	p, err := New(CLIPDefaults(), Options{Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func toNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	return out
}

// packFrame copies img into a packed frame of the given format with stride padding.
func packFrame(img *image.NRGBA, format PixelFormat, pad int) Frame {
	b := img.Bounds()
	step := 3
	if format == RGBA || format == BGRA {
		step = 4
	}
	stride := b.Dx()*step + pad
	pix := make([]byte, stride*b.Dy())
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			c := img.NRGBAAt(x, y)
			o := y*stride + x*step
			switch format {
			case RGB, RGBA:
				pix[o], pix[o+1], pix[o+2] = c.R, c.G, c.B
			case BGR, BGRA:
				pix[o], pix[o+1], pix[o+2] = c.B, c.G, c.R
			}
			if step == 4 {
				pix[o+3] = 77 // ignored
			}
		}
		for i := 0; i < pad; i++ {
			pix[y*stride+b.Dx()*step+i] = 0xAB // garbage in the padding must not leak
		}
	}
	return Frame{Pix: pix, Width: b.Dx(), Height: b.Dy(), Stride: stride, Format: format}
}

// TestEveryInputFormGivesTheSameTensor feeds one picture as every supported image type and
// packed layout and requires identical output.
func TestEveryInputFormGivesTheSameTensor(t *testing.T) {
	png := decodePNG(t, filepath.Join("testdata", "image_640x480.png"))
	ref := toNRGBA(png)
	for _, backend := range backends {
		p := newCLIP(t, backend)
		want, err := p.Process(ref, nil)
		if err != nil {
			t.Fatal(err)
		}
		rgba := image.NewRGBA(ref.Bounds())
		draw.Draw(rgba, rgba.Bounds(), ref, image.Point{}, draw.Src)
		translucent := image.NewNRGBA(ref.Bounds())
		copy(translucent.Pix, ref.Pix)
		for i := 3; i < len(translucent.Pix); i += 4 {
			translucent.Pix[i] = 128 // PIL's convert("RGB") drops alpha
		}
		// A sub-image: the picture inside a larger canvas.
		canvas := image.NewRGBA(image.Rect(-7, -5, 700, 500))
		draw.Draw(canvas, image.Rect(3, 2, 643, 482), ref, image.Point{}, draw.Src)
		sub := canvas.SubImage(image.Rect(3, 2, 643, 482))

		inputs := map[string]func() ([]float32, error){
			"png decode":        func() ([]float32, error) { return p.Process(png, nil) },
			"RGBA":              func() ([]float32, error) { return p.Process(rgba, nil) },
			"NRGBA translucent": func() ([]float32, error) { return p.Process(translucent, nil) },
			"sub-image":         func() ([]float32, error) { return p.Process(sub, nil) },
			"generic (RGBA64)": func() ([]float32, error) {
				m := image.NewRGBA64(ref.Bounds())
				draw.Draw(m, m.Bounds(), ref, image.Point{}, draw.Src)
				return p.Process(m, nil)
			},
		}
		for _, f := range []PixelFormat{RGB, BGR, RGBA, BGRA} {
			frame := packFrame(ref, f, 5)
			inputs["frame "+f.String()] = func() ([]float32, error) { return p.ProcessFrame(frame, nil) }
		}
		for name, run := range inputs {
			got, err := run()
			if err != nil {
				t.Errorf("%v %s: %v", backend, name, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%v %s: output differs from the NRGBA input", backend, name)
			}
		}
	}
}

// TestGrayYCbCrAndPalettedConvertLikePIL checks the converted inputs against their RGB
// equivalents: grey replicated, YCbCr through Go's JPEG conversion, palette looked up.
func TestGrayYCbCrAndPalettedConvertLikePIL(t *testing.T) {
	p := newCLIP(t, Torchvision)
	r := image.Rect(0, 0, 300, 200)
	gray := image.NewGray(r)
	ycc := image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
	pal := image.NewPaletted(r, color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 80, 160, 255}, color.RGBA{250, 250, 10, 255}})
	for y := 0; y < 200; y++ {
		for x := 0; x < 300; x++ {
			gray.SetGray(x, y, color.Gray{uint8(x ^ y)})
			ycc.Y[ycc.YOffset(x, y)] = uint8(x + y)
			ycc.Cb[ycc.COffset(x, y)] = uint8(3 * x)
			ycc.Cr[ycc.COffset(x, y)] = uint8(255 - y)
			pal.SetColorIndex(x, y, uint8((x/7+y/5)%3))
		}
	}
	for name, img := range map[string]image.Image{"gray": gray, "ycbcr": ycc, "paletted": pal} {
		equivalent := image.NewNRGBA(r)
		for y := 0; y < 200; y++ {
			for x := 0; x < 300; x++ {
				var c color.NRGBA
				switch m := img.(type) {
				case *image.Gray:
					v := m.GrayAt(x, y).Y
					c = color.NRGBA{v, v, v, 255}
				case *image.YCbCr:
					yc := m.YCbCrAt(x, y)
					rr, gg, bb := color.YCbCrToRGB(yc.Y, yc.Cb, yc.Cr)
					c = color.NRGBA{rr, gg, bb, 255}
				default:
					c = color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				}
				equivalent.SetNRGBA(x, y, c)
			}
		}
		want, _ := p.Process(equivalent, nil)
		got, err := p.Process(img, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: differs from its RGB equivalent", name)
		}
	}
}

func TestResizeOutputSizeAsTransformers(t *testing.T) {
	cases := []struct{ edge, h, w, wantH, wantW int }{
		{224, 480, 640, 224, 298}, // 224·640/480 = 298.67, truncated
		{224, 300, 200, 336, 224},
		{224, 500, 333, 336, 224}, // 336.34
		{224, 100, 100, 224, 224},
		{64, 240, 320, 64, 85},
		{224, 1, 1000, 224, 224000},
		{384, 1080, 1920, 384, 682}, // 682.67
	}
	for _, c := range cases {
		h, w := resizeOutputSize(Size{ShortestEdge: c.edge}, c.h, c.w)
		if h != c.wantH || w != c.wantW {
			t.Errorf("shortest edge %d of %dx%d (h×w): got %dx%d, want %dx%d", c.edge, c.h, c.w, h, w, c.wantH, c.wantW)
		}
	}
}

// TestCenterCropPadsAsEachBackend crops a 3×1 picture to 4×4 without resizing or
// normalising, so the output is the bytes themselves. NumPy's center_crop puts the picture at
// row 2, column 1 (floor of the negative half offsets); torchvision pads by (4-1)//2 = 1 row
// on top and (4-3)//2 = 0 columns on the left.
func TestCenterCropPadsAsEachBackend(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 3, 1))
	copy(img.Pix, []byte{10, 20, 30})
	cfg := Config{DoCenterCrop: true, CropSize: Size{Height: 4, Width: 4}}
	want := map[Backend][4][4]float32{
		PIL:         {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 10, 20, 30}, {0, 0, 0, 0}},
		Torchvision: {{0, 0, 0, 0}, {10, 20, 30, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}},
	}
	for backend, rows := range want {
		p, err := New(cfg, Options{Backend: backend})
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Process(img, nil)
		if err != nil {
			t.Fatal(err)
		}
		for y := range 4 {
			for x := range 4 {
				for c := range 3 {
					if v := got[(y*4+x)*3+c]; v != rows[y][x] {
						t.Errorf("%v: (%d,%d) channel %d = %v, want %v", backend, x, y, c, v, rows[y][x])
					}
				}
			}
		}
	}
}

// TestCropOfLargerImage: a crop inside a picture that needs no resize takes the centre
// (offsets floor((w - crop)/2)), odd differences included.
func TestCropOfLargerImage(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 7, 6))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	for _, backend := range backends {
		p, err := New(Config{DoCenterCrop: true, CropSize: Size{Height: 3, Width: 4}}, Options{Backend: backend})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := p.Process(img, nil)
		// left = (7-4)/2 = 1, top = (6-3)/2 = 1
		for y := range 3 {
			for x := range 4 {
				if v, want := got[(y*4+x)*3], float32((y+1)*7+x+1); v != want {
					t.Errorf("%v: (%d,%d) = %v, want %v", backend, x, y, v, want)
				}
			}
		}
	}
}

func TestBadInputIsAClearError(t *testing.T) {
	p := newCLIP(t, Torchvision)
	small, err := New(CLIPDefaults(), Options{MaxPixels: 100})
	if err != nil {
		t.Fatal(err)
	}
	good := Frame{Pix: make([]byte, 30*20*3), Width: 30, Height: 20, Format: BGR}
	cases := []struct {
		name string
		run  func() ([]float32, error)
		want string
	}{
		{"nil image", func() ([]float32, error) { return p.Process(nil, nil) }, "image is nil"},
		{"empty image", func() ([]float32, error) { return p.Process(image.NewRGBA(image.Rect(0, 0, 0, 10)), nil) }, "image is 0x10: empty"},
		{"too many pixels", func() ([]float32, error) { return small.Process(image.NewRGBA(image.Rect(0, 0, 20, 10)), nil) }, "20x10 = 200 pixels, over the limit of 100"},
		{"empty frame", func() ([]float32, error) { return p.ProcessFrame(Frame{Width: 10}, nil) }, "image is 10x0: empty"},
		{"short frame", func() ([]float32, error) {
			f := good
			f.Pix = f.Pix[:len(f.Pix)-1]
			return p.ProcessFrame(f, nil)
		}, "30x20 BGR with stride 90 needs 1800 bytes, got 1799"},
		{"narrow stride", func() ([]float32, error) {
			f := good
			f.Stride = 80
			return p.ProcessFrame(f, nil)
		}, "stride 80 is less than width 30 × 3 bytes"},
		{"unknown format", func() ([]float32, error) {
			f := good
			f.Format = 9
			return p.ProcessFrame(f, nil)
		}, "unknown pixel format PixelFormat(9)"},
		{"wrong buffer", func() ([]float32, error) { return p.ProcessFrame(good, make([]float32, 10)) }, "output buffer holds 10 float32, want 1×224×224×3 = 150528"},
	}
	for _, c := range cases {
		got, err := c.run()
		if err == nil || !strings.Contains(err.Error(), c.want) || got != nil {
			t.Errorf("%s: got %v, want nil and an error containing %q", c.name, err, c.want)
		}
	}
	if _, err := New(CLIPDefaults(), Options{MaxPixels: -1}); err == nil {
		t.Error("negative MaxPixels accepted")
	}
	if _, err := New(CLIPDefaults(), Options{Backend: 7}); err == nil || !strings.Contains(err.Error(), "unknown backend") {
		t.Errorf("unknown backend: %v", err)
	}
	box := CLIPDefaults()
	box.Resample = Box
	if _, err := New(box, Options{Backend: Torchvision}); err == nil || !strings.Contains(err.Error(), "not available in the torchvision backend") {
		t.Errorf("box filter with torchvision: %v", err)
	}
	if _, err := New(box, Options{Backend: PIL}); err != nil {
		t.Errorf("box filter with PIL: %v", err)
	}
}

// TestCallerBufferIsFilledWithoutAllocating: the hot path (a camera's BGR frame, or an opaque
// RGBA image) into a caller's buffer allocates nothing once warm.
func TestCallerBufferIsFilledWithoutAllocating(t *testing.T) {
	p := newCLIP(t, Torchvision)
	img := toNRGBA(decodePNG(t, filepath.Join("testdata", "image_640x480.png")))
	frame := packFrame(img, BGR, 0)
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Bounds(), img, image.Point{}, draw.Src)
	h, w, err := p.OutputSize(640, 480)
	if err != nil || h != 224 || w != 224 {
		t.Fatalf("OutputSize = %d, %d, %v", h, w, err)
	}
	dst := make([]float32, h*w*3)
	out, err := p.ProcessFrame(frame, dst)
	if err != nil || &out[0] != &dst[0] {
		t.Fatalf("output not written into the caller's buffer (%v)", err)
	}
	want, _ := p.Process(img, nil)
	if !reflect.DeepEqual(out, want) {
		t.Error("buffer output differs")
	}
	for name, run := range map[string]func(){
		"frame": func() { p.ProcessFrame(frame, dst) },
		"RGBA":  func() { p.Process(rgba, dst) },
	} {
		if allocs := testing.AllocsPerRun(20, run); allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, allocs)
		}
	}
}

// TestConcurrentUse runs one Processor from several goroutines on different sizes.
func TestConcurrentUse(t *testing.T) {
	p := newCLIP(t, Torchvision)
	var images []image.Image
	var want [][]float32
	for _, name := range []string{"image_640x480.png", "image_200x300.png", "image_224x224.png"} {
		img := decodePNG(t, filepath.Join("testdata", name))
		out, err := p.Process(img, nil)
		if err != nil {
			t.Fatal(err)
		}
		images, want = append(images, img), append(want, out)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 12)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 6 {
				k := (g + i) % len(images)
				got, err := p.Process(images[k], nil)
				if err != nil || !reflect.DeepEqual(got, want[k]) {
					errs <- "goroutine result differs"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
