package daemon

import (
	"fmt"
	"image"

	"github.com/edged/edged/internal/recall"
)

// encodeSnapshot writes img as a JPEG no wider than maxWidth (0 or less: its own width),
// shrunk as search's thumbnails are (recall.Thumbnail).
func encodeSnapshot(img *image.RGBA, maxWidth, quality int) ([]byte, error) {
	if img.Bounds().Empty() {
		return nil, fmt.Errorf("snapshot of an empty picture")
	}
	if maxWidth <= 0 {
		maxWidth = img.Bounds().Dx()
	}
	data, err := recall.Thumbnail(img, maxWidth, quality)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return data, nil
}
