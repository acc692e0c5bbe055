package camera

import (
	"fmt"
	"image"
	"image/draw"
	"io"

	_ "github.com/edged/edged/imageproc" // registers the decoders of folder, MJPEG and snapshot pictures (imageproc.Formats)
)

// decodePicture decodes a picture (imageproc.Formats) into a pooled buffer of out. The header is read first
// so that a picture over the size limit is refused before its pixels are decoded. Go's
// decoders are used rather than OpenCV's: a damaged picture is an error here, never a
// message of libjpeg's on stderr.
func decodePicture(out *source, r io.ReadSeeker) (*image.RGBA, error) {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		return nil, err
	}
	if err := out.checkSize(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	src, _, err := image.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", format, err)
	}
	b := src.Bounds()
	dst := out.pool.get(b.Dx(), b.Dy())
	if o, ok := src.(interface{ Opaque() bool }); ok && o.Opaque() {
		draw.Draw(dst, dst.Rect, src, b.Min, draw.Src)
	} else {
		// Transparent pixels are shown over black, so that frames stay opaque.
		draw.Draw(dst, dst.Rect, image.Black, image.Point{}, draw.Src)
		draw.Draw(dst, dst.Rect, src, b.Min, draw.Over)
	}
	return dst, nil
}
