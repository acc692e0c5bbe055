package camera

import (
	"context"
	"fmt"
	"image"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/edged/edged/internal/shapes"
)

// syntheticCapturer renders scenes of the shapes world: a new random scene every sceneEvery,
// frames at a fixed rate in between, each carrying the truth of the scene it shows as annotations. One scene's picture is
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
	return &syntheticCapturer{
		width:      spec.Width,
		height:     spec.Height,
		every:      interval(spec.FPS),
		sceneEvery: spec.SceneEvery,
		rng:        sceneRNG(spec.Seed),
	}
}

// sceneRNG draws the scenes of a seed: the n-th shapes.Random of it is scene n.
func sceneRNG(seed int64) *rand.Rand {
	u := uint64(seed)
	return rand.New(rand.NewPCG(u, u^0x9e3779b97f4a7c15))
}

func (c *syntheticCapturer) session(ctx context.Context, out *feed) error {
	var (
		scene      *shapes.Scene
		truth      map[string]string
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
			scene, truth, pic, sceneStart = &s, sceneTruth(s), img, now
		}
		out.deliver(&Frame{Time: now, Image: pic, Index: c.scenes, Annotations: truth}, false)
		next = later(next, c.every)
		if !sleep(ctx, time.Until(next)) {
			return ctx.Err()
		}
	}
}

// sceneTruth is what a scene shows, as Frame.Annotations.
func sceneTruth(s shapes.Scene) map[string]string {
	labels := make([]string, len(s.Objects))
	for i, o := range s.Objects {
		labels[i] = o.Label()
	}
	truth := map[string]string{
		TruthLabels:  strings.Join(labels, " and "),
		TruthCaption: s.Caption(),
	}
	for _, qa := range shapes.Questions(s) {
		truth[TruthAnswerKey(qa.Question)] = qa.Answer
	}
	return truth
}
