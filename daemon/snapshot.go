package daemon

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
)

// encodeSnapshot writes img as a JPEG no wider than maxWidth (0: any width), shrinking it
// with a box filter (each output pixel the mean of the input pixels it covers), which is
// cheap and does not alias the way dropping pixels does.
func encodeSnapshot(img *image.RGBA, maxWidth, quality int) ([]byte, error) {
	if img.Bounds().Empty() {
		return nil, fmt.Errorf("snapshot of an empty picture")
	}
	out := img
	if w := img.Bounds().Dx(); maxWidth > 0 && w > maxWidth {
		h := max(1, img.Bounds().Dy()*maxWidth/w)
		out = shrink(img, maxWidth, h)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("snapshot JPEG: %w", err)
	}
	return buf.Bytes(), nil
}

// shrink box-filters src down to w×h (w and h no larger than src's).
func shrink(src *image.RGBA, w, h int) *image.RGBA {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		y0, y1 := y*sh/h, max((y+1)*sh/h, y*sh/h+1)
		for x := range w {
			x0, x1 := x*sw/w, max((x+1)*sw/w, x*sw/w+1)
			var sum [4]int
			for sy := y0; sy < y1; sy++ {
				row := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+sy):]
				for sx := x0; sx < x1; sx++ {
					p := row[sx*4 : sx*4+4]
					sum[0] += int(p[0])
					sum[1] += int(p[1])
					sum[2] += int(p[2])
					sum[3] += int(p[3])
				}
			}
			n := (y1 - y0) * (x1 - x0)
			d := dst.Pix[y*dst.Stride+x*4:]
			for c := range 4 {
				d[c] = uint8((sum[c] + n/2) / n)
			}
		}
	}
	return dst
}
