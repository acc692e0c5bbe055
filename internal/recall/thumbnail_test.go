package recall

import (
	"image"
	"image/color"
	"testing"
)

func TestShrinkIsABoxFilter(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 4, 2))
	// Left half black, right half white: each output pixel of a 2x1 shrink is one half's mean.
	for y := 0; y < 2; y++ {
		for x := 0; x < 4; x++ {
			v := uint8(0)
			if x >= 2 {
				v = 200
			}
			if x == 1 && y == 1 {
				v = 100 // the left box's mean is (0+0+0+100)/4 = 25
			}
			src.Set(x, y, color.RGBA{v, v, v, 255})
		}
	}
	got := shrink(src, 2, 1)
	if l, r := got.RGBAAt(0, 0), got.RGBAAt(1, 0); l.R != 25 || r.R != 200 || l.A != 255 {
		t.Errorf("shrunk to %v and %v, want 25 and 200", l, r)
	}
}
