package blip_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/models"
)

// A caption for one picture: the picture is encoded once, and any number of captions (or
// answers, with a VQA model) are decoded from it.
func Example() {
	cache, err := os.MkdirTemp("", "edged-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(cache)
	b, err := models.Open(context.Background(), "../models/shapes/blip_caption", models.Options{CacheDir: cache})
	if err != nil {
		log.Fatal(err)
	}
	m, err := blip.Load(b, blip.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	s, err := m.NewSession()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	img, err := imageproc.DecodeFile("../internal/shapes/testdata/scenes/scene_00.png")
	if err != nil {
		log.Fatal(err)
	}
	im, err := s.EncodeImage(img)
	if err != nil {
		log.Fatal(err)
	}
	caption, err := s.Caption(im, "", m.GenerateDefaults())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(caption)
	// Output: a yellow circle on a black background
}
