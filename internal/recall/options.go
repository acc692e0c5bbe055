package recall

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of the Options a zero value leaves open.
const (
	DefaultMaxFrames    = 600       // ten minutes of frames labelled once a second
	DefaultMaxAge       = time.Hour // older frames are forgotten
	DefaultMaxBytes     = 32 << 20  // 32 MiB for every camera together
	DefaultThumbWidth   = 160       // wide enough to recognise a scene, ~5 KB as JPEG
	DefaultThumbQuality = 75        // JPEG quality of thumbnails
	DefaultRerankDepth  = 20        // the best cosine hits a Reranker rescores
)

// Limits that catch configuration mistakes, and the bookkeeping cost of a frame.
const (
	entryOverhead   = 384                 // per frame beyond its thumbnail and embedding: the entry, hit bookkeeping, allocator slack (measured ~320)
	maxThumbWidth   = 1024                // a thumbnail wider than this is a configuration mistake
	maxEmbeddingDim = 1 << 16             // far above any CLIP projection (512, 768, 1024)
	minMaxBytes     = 64 << 10            // below this not even a handful of thumbnails fit
	maxAgeLimit     = 30 * 24 * time.Hour // a month; longer is a typo, not a wish
)

// Options bound a Store and say how thumbnails are made. Zero fields take the defaults
// above; negative ones are an error.
type Options struct {
	// MaxFrames is how many frames each camera keeps.
	MaxFrames int
	// MaxAge is how long a frame is kept after it was captured.
	MaxAge time.Duration
	// MaxBytes bounds the memory held by every camera together: thumbnails, embeddings and a
	// fixed per-frame overhead. When it is reached, the camera holding the most bytes gives
	// up its oldest frame.
	MaxBytes int64
	// ThumbWidth is the largest width of a thumbnail; narrower pictures keep their size.
	ThumbWidth int
	// ThumbQuality is the JPEG quality of thumbnails (1..100).
	ThumbQuality int
	// Reranker, when set, rescores the best RerankDepth cosine hits of every search (BLIP
	// image-text matching, say) and the hits are ordered by its scores.
	Reranker Reranker
	// RerankDepth is how many of the best cosine hits the Reranker sees; never fewer than the
	// search's k.
	RerankDepth int
	// Now is the clock that ages frames; nil means time.Now.
	Now func() time.Time
}

// withDefaults fills every zero field; it is the one place defaults live.
func (o Options) withDefaults() Options {
	if o.MaxFrames == 0 {
		o.MaxFrames = DefaultMaxFrames
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.ThumbWidth == 0 {
		o.ThumbWidth = DefaultThumbWidth
	}
	if o.ThumbQuality == 0 {
		o.ThumbQuality = DefaultThumbQuality
	}
	if o.RerankDepth == 0 {
		o.RerankDepth = DefaultRerankDepth
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// validate checks options that have their defaults filled in.
func (o Options) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("recall: "+format, args...))
		}
	}
	check(o.MaxFrames > 0, "max_frames is %d; it must be positive", o.MaxFrames)
	check(o.MaxAge > 0 && o.MaxAge <= maxAgeLimit, "max_age is %v; it must be positive and at most %v", o.MaxAge, maxAgeLimit)
	check(o.MaxBytes >= minMaxBytes, "max_bytes is %d; it must be at least %d (64 KiB)", o.MaxBytes, minMaxBytes)
	check(o.ThumbWidth > 0 && o.ThumbWidth <= maxThumbWidth, "thumb_width is %d; it must be in 1..%d", o.ThumbWidth, maxThumbWidth)
	check(o.ThumbQuality >= 1 && o.ThumbQuality <= 100, "thumb_quality is %d; it must be in 1..100", o.ThumbQuality)
	check(o.RerankDepth > 0, "rerank_depth is %d; it must be positive", o.RerankDepth)
	return errors.Join(errs...)
}
