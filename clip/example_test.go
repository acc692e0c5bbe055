package clip_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/edged/edged/clip"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/models"
)

// Zero-shot labels for one picture: open the model (a checkpoint is converted into the cache
// on first use), embed the label set's prompts once, then score the picture's embedding.
func Example() {
	cache, err := os.MkdirTemp("", "edged-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(cache)
	b, err := models.Open(context.Background(), "../models/shapes/clip", models.Options{CacheDir: cache})
	if err != nil {
		log.Fatal(err)
	}
	m, err := clip.Load(b, clip.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	set, err := clip.LoadLabelSet("../configs/labels/shapes.yaml")
	if err != nil {
		log.Fatal(err)
	}
	classifier, err := m.Classifier(set)
	if err != nil {
		log.Fatal(err)
	}
	img, err := imageproc.DecodeFile("../internal/shapes/testdata/scenes/scene_00.png")
	if err != nil {
		log.Fatal(err)
	}
	// One Session per goroutine embeds pictures in parallel with others.
	s, err := m.NewSession()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	emb, err := s.EmbedImage(img)
	if err != nil {
		log.Fatal(err)
	}
	scores, err := classifier.Classify(emb)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%.2f)\n", scores[0].Label, scores[0].Score)
	// Output: yellow circle (1.00)
}
