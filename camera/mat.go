package camera

import (
	"fmt"
	"image"

	"gocv.io/x/gocv"
)

// matConverter turns 8-bit BGR, BGRA or grey Mats into RGBA pictures without allocating per
// frame: OpenCV converts into a Mat kept between calls (same size, so it is not reallocated),
// and one copy moves the result into the Go buffer. Converting straight into Go memory would
// save that copy but would let C hold a Go pointer, which cgo forbids.
type matConverter struct {
	rgba gocv.Mat
}

func newMatConverter() *matConverter { return &matConverter{rgba: gocv.NewMat()} }

// close frees the OpenCV memory.
func (c *matConverter) close() error { return c.rgba.Close() }

// toRGBA writes src into dst, which must be a tightly packed picture of src's size.
func (c *matConverter) toRGBA(src gocv.Mat, dst *image.RGBA) error {
	w, h := src.Cols(), src.Rows()
	if b := dst.Rect; b.Dx() != w || b.Dy() != h || dst.Stride != 4*w {
		return fmt.Errorf("camera: OpenCV frame: %dx%d Mat into a %dx%d picture (stride %d)", w, h, b.Dx(), b.Dy(), dst.Stride)
	}
	var code gocv.ColorConversionCode
	switch t := src.Type(); t {
	case gocv.MatTypeCV8UC3:
		code = gocv.ColorBGRToRGBA
	case gocv.MatTypeCV8UC4:
		code = gocv.ColorBGRAToRGBA
	case gocv.MatTypeCV8UC1:
		code = gocv.ColorGrayToBGRA // grey has no channel order: BGRA and RGBA are the same
	default:
		return fmt.Errorf("camera: OpenCV frame: unsupported Mat type %v (want 8-bit grey, BGR or BGRA)", t)
	}
	gocv.CvtColor(src, &c.rgba, code)
	data, err := c.rgba.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("camera: OpenCV frame: %w", err)
	}
	if len(data) != len(dst.Pix) {
		return fmt.Errorf("camera: OpenCV frame: OpenCV produced %d bytes for a %dx%d RGBA picture", len(data), w, h)
	}
	copy(dst.Pix, data)
	if code == gocv.ColorBGRAToRGBA {
		// Capture backends leave alpha unset; frames promise an opaque picture.
		for i := 3; i < len(dst.Pix); i += 4 {
			dst.Pix[i] = 255
		}
	}
	return nil
}
