package camera

import (
	"context"
	"fmt"
	"image"
	"math/rand/v2"
	"time"

	"github.com/edged/edged/internal/shapes"
)

// syntheticCapturer renders scenes of the shapes world: a new random scene every sceneEvery,
// frames at a fixed rate in between, each carrying the scene it shows. One scene's picture is
// rendered once and shared by its frames (frames are read-only), so it is not pooled.
type syntheticCapturer struct {
	width, height int
	every         time.Duration
	sceneEvery    time.Duration
	// rng and scenes outlive a session, so a restart continues the sequence instead of
	// showing the same scenes again.
	rng    *rand.Rand
	scenes int
}

func newSyntheticCapturer(spec Spec) *syntheticCapturer {
	seed := uint64(spec.Seed)
	return &syntheticCapturer{
		width:      spec.Width,
		height:     spec.Height,
		every:      interval(spec.FPS),
		sceneEvery: spec.SceneEvery,
		rng:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

func (c *syntheticCapturer) session(ctx context.Context, out *source) error {
	var (
		scene      *shapes.Scene
		pic        *image.RGBA
		sceneStart time.Time
		next       time.Time
	)
	for {
		now := time.Now()
		if scene == nil || now.Sub(sceneStart) >= c.sceneEvery {
			s := shapes.Random(c.rng)
			img, err := shapes.Render(s, c.width, c.height, shapes.Options{})
			if err != nil {
				return fmt.Errorf("render scene %d: %w", c.scenes+1, err)
			}
			c.scenes++
			scene, pic, sceneStart = &s, img, now
		}
		out.deliver(&Frame{Time: now, Image: pic, Index: c.scenes, Scene: scene}, false)
		next = later(next, c.every)
		if !sleep(ctx, time.Until(next)) {
			return ctx.Err()
		}
	}
}
