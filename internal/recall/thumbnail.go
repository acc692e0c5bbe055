package recall

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
)

// Thumbnail encodes img as a JPEG no wider than maxWidth (narrower pictures keep their size),
// keeping its aspect ratio and shrinking with a box filter; quality is JPEG's, 1..100.
func Thumbnail(img image.Image, maxWidth, quality int) ([]byte, error) {
	if img == nil {
		return nil, errors.New("no picture")
	}
	if maxWidth < 1 || quality < 1 || quality > 100 {
		return nil, fmt.Errorf("thumbnail width %d or quality %d out of range", maxWidth, quality)
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("the picture is empty (%dx%d)", b.Dx(), b.Dy())
	}
	var out image.Image = img
	if w := b.Dx(); w > maxWidth {
		h := max(1, (b.Dy()*maxWidth+w/2)/w)
		out = shrink(toRGBA(img), maxWidth, h)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("thumbnail JPEG: %w", err)
	}
	// A copy of exactly its size: the buffer's spare capacity would be held for nothing.
	data := make([]byte, buf.Len())
	copy(data, buf.Bytes())
	return data, nil
}

// toRGBA returns img as an *image.RGBA, converting only when it is some other kind.
func toRGBA(img image.Image) *image.RGBA {
	if rgba, ok := img.(*image.RGBA); ok {
		return rgba
	}
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	return rgba
}

// shrink box-filters src down to w×h (each no larger than src's): every output pixel is the
// mean of the input pixels it covers, which is cheap and does not alias as skipping does.
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
					p := row[sx*4 : sx*4+4 : sx*4+4]
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
