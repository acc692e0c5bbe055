package web

import (
	"fmt"
	"image"
	"sync"

	"github.com/edged/edged/internal/recall"
)

// Defaults of a FrameEncoder.
const (
	DefaultFrameWidth   = 640 // the page shows frames at most this wide
	DefaultFrameQuality = 80
)

// FrameEncoder makes the JPEGs Backend.Frame returns: each camera's newest frame is encoded
// once, however many pages ask for it, and shrunk to MaxWidth. Safe for concurrent use.
type FrameEncoder struct {
	maxWidth, quality int

	mu   sync.Mutex
	last map[string]Frame // by camera: the latest frame encoded
}

// NewFrameEncoder makes an encoder; zero arguments take the defaults.
func NewFrameEncoder(maxWidth, quality int) (*FrameEncoder, error) {
	if maxWidth == 0 {
		maxWidth = DefaultFrameWidth
	}
	if quality == 0 {
		quality = DefaultFrameQuality
	}
	if maxWidth < 1 || quality < 1 || quality > 100 {
		return nil, fmt.Errorf("web: frame width %d must be positive and quality %d in 1..100", maxWidth, quality)
	}
	return &FrameEncoder{maxWidth: maxWidth, quality: quality, last: map[string]Frame{}}, nil
}

// Encode returns the JPEG of a camera's frame, from the cache when that frame was encoded
// before. img is read only when it is not: the caller may hold the frame just for the call.
func (e *FrameEncoder) Encode(camera string, info FrameInfo, img image.Image) (Frame, error) {
	e.mu.Lock()
	f, ok := e.last[camera]
	e.mu.Unlock()
	if ok && f.Seq == info.Seq {
		return f, nil
	}
	data, err := recall.Thumbnail(img, e.maxWidth, e.quality)
	if err != nil {
		return Frame{}, fmt.Errorf("web: camera %q frame %d: %w", camera, info.Seq, err)
	}
	f = Frame{FrameInfo: info, JPEG: data}
	e.mu.Lock()
	if prev, ok := e.last[camera]; !ok || prev.Seq < info.Seq {
		e.last[camera] = f
	}
	e.mu.Unlock()
	return f, nil
}
