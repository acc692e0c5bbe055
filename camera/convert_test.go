package camera

import (
	"fmt"
	"image"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

func fmtSize(p image.Point) string { return fmt.Sprintf("%dx%d", p.X, p.Y) }

func TestMatToRGBA(t *testing.T) {
	tests := []struct {
		name string
		typ  gocv.MatType
		in   []byte // one pixel in the Mat's channel order
		want []byte // RGBA
	}{
		{"BGR", gocv.MatTypeCV8UC3, []byte{10, 20, 30}, []byte{30, 20, 10, 255}},
		{"BGRA with alpha unset", gocv.MatTypeCV8UC4, []byte{10, 20, 30, 0}, []byte{30, 20, 10, 255}},
		{"grey", gocv.MatTypeCV8UC1, []byte{77}, []byte{77, 77, 77, 255}},
	}
	conv := newMatConverter()
	defer conv.close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A 3×2 picture whose pixels differ, so a swapped row or column would show.
			const w, h = 3, 2
			var data []byte
			for i := 0; i < w*h; i++ {
				for _, v := range tc.in {
					data = append(data, v+byte(i))
				}
			}
			m, err := gocv.NewMatFromBytes(h, w, tc.typ, data)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			dst := image.NewRGBA(image.Rect(0, 0, w, h))
			if err := conv.toRGBA(m, dst); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < w*h; i++ {
				want := make([]byte, 4)
				for c := range want {
					want[c] = tc.want[c] + byte(i)
				}
				want[3] = 255
				if got := dst.Pix[4*i : 4*i+4]; string(got) != string(want) {
					t.Fatalf("pixel %d = %v, want %v", i, got, want)
				}
			}
		})
	}
}

func TestMatToRGBARefusesMismatches(t *testing.T) {
	conv := newMatConverter()
	defer conv.close()
	bgr := gocv.NewMatWithSize(4, 4, gocv.MatTypeCV8UC3)
	defer bgr.Close()
	if err := conv.toRGBA(bgr, image.NewRGBA(image.Rect(0, 0, 5, 4))); err == nil || !strings.Contains(err.Error(), "4x4 Mat into a 5x4 picture") {
		t.Fatalf("size mismatch: %v", err)
	}
	float := gocv.NewMatWithSize(4, 4, gocv.MatTypeCV32FC3)
	defer float.Close()
	if err := conv.toRGBA(float, image.NewRGBA(image.Rect(0, 0, 4, 4))); err == nil || !strings.Contains(err.Error(), "unsupported Mat type") {
		t.Fatalf("float Mat: %v", err)
	}
}

func TestMatToRGBADoesNotAllocate(t *testing.T) {
	conv := newMatConverter()
	defer conv.close()
	src := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer src.Close()
	dst := image.NewRGBA(image.Rect(0, 0, 640, 480))
	allocs := testing.AllocsPerRun(20, func() {
		if err := conv.toRGBA(src, dst); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v Go allocations per conversion, want 0", allocs)
	}
}

// BenchmarkMatToRGBA is the capture path: OpenCV converts into a kept Mat, one copy into a
// reused Go buffer.
func BenchmarkMatToRGBA(b *testing.B) {
	for _, size := range []image.Point{{640, 480}, {1920, 1080}} {
		b.Run(fmtSize(size), func(b *testing.B) {
			src := gocv.NewMatWithSize(size.Y, size.X, gocv.MatTypeCV8UC3)
			defer src.Close()
			conv := newMatConverter()
			defer conv.close()
			dst := image.NewRGBA(image.Rect(0, 0, size.X, size.Y))
			b.SetBytes(int64(4 * size.X * size.Y))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := conv.toRGBA(src, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatToImage is gocv's own conversion, which allocates a Mat and a picture per
// frame: the baseline the capture path is measured against.
func BenchmarkMatToImage(b *testing.B) {
	for _, size := range []image.Point{{640, 480}, {1920, 1080}} {
		b.Run(fmtSize(size), func(b *testing.B) {
			src := gocv.NewMatWithSize(size.Y, size.X, gocv.MatTypeCV8UC3)
			defer src.Close()
			b.SetBytes(int64(4 * size.X * size.Y))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := src.ToImage(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
