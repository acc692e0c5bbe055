package imageproc

import (
	"image"
	"image/color"
)

// imageView gives read access to img's pixels as RGB bytes. Opaque *image.RGBA and any
// *image.NRGBA are read in place; other images are converted into *buf (reused).
func imageView(img image.Image, buf *[]byte) view {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.NRGBA:
		// PIL's convert("RGB") drops alpha and keeps the straight colour, which is what
		// NRGBA stores.
		return view{pix: m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], width: w, height: h, stride: m.Stride, step: 4, off: [3]int{0, 1, 2}}
	case *image.RGBA:
		if m.Opaque() { // premultiplied equals straight colour
			return view{pix: m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], width: w, height: h, stride: m.Stride, step: 4, off: [3]int{0, 1, 2}}
		}
	case *image.Gray:
		*buf = resize(*buf, w*h*3)
		out := *buf
		for y := 0; y < h; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			o := out[y*w*3 : (y+1)*w*3]
			for x, v := range row {
				o[3*x], o[3*x+1], o[3*x+2] = v, v, v
			}
		}
		return packed(out, w, h, rgbOrder)
	case *image.YCbCr:
		*buf = resize(*buf, w*h*3)
		ycbcrToRGB(m, *buf)
		return packed(*buf, w, h, rgbOrder)
	}
	// Anything else (paletted, 16-bit, CMYK, translucent RGBA…) goes through the straight
	// 8-bit colour model, alpha dropped as above.
	*buf = resize(*buf, w*h*3)
	out := *buf
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			o := (y*w + x) * 3
			out[o], out[o+1], out[o+2] = c.R, c.G, c.B
		}
	}
	return packed(out, w, h, rgbOrder)
}

// ycbcrToRGB converts m to packed RGB with Go's JPEG colour conversion, walking the chroma
// planes by the subsampling ratio instead of calling COffset for every pixel.
func ycbcrToRGB(m *image.YCbCr, out []byte) {
	b := m.Rect
	w := b.Dx()
	rx, ry := 1, 1 // chroma subsampling, horizontal and vertical
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		rx = 2
	case image.YCbCrSubsampleRatio420:
		rx, ry = 2, 2
	case image.YCbCrSubsampleRatio440:
		ry = 2
	case image.YCbCrSubsampleRatio411:
		rx = 4
	case image.YCbCrSubsampleRatio410:
		rx, ry = 4, 2
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		yRow := m.Y[m.YOffset(b.Min.X, y):][:w]
		cRow := (y/ry - b.Min.Y/ry) * m.CStride
		o := out[(y-b.Min.Y)*w*3 : (y-b.Min.Y+1)*w*3]
		for i, yv := range yRow {
			ci := cRow + (b.Min.X+i)/rx - b.Min.X/rx
			r, g, bb := color.YCbCrToRGB(yv, m.Cb[ci], m.Cr[ci])
			o[3*i], o[3*i+1], o[3*i+2] = r, g, bb
		}
	}
}
