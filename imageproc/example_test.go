package imageproc_test

import (
	"fmt"
	"log"

	"github.com/edged/edged/imageproc"
)

// A picture preprocessed as the checkpoint's CLIPImageProcessor does (resize, centre crop,
// normalise) into the NHWC float32 pixels a vision tower takes.
func Example() {
	cfg, err := imageproc.LoadConfig("../models/shapes/clip/preprocessor_config.json")
	if err != nil {
		log.Fatal(err)
	}
	p, err := imageproc.New(cfg, imageproc.Options{})
	if err != nil {
		log.Fatal(err)
	}
	img, err := imageproc.DecodeFile("testdata/image_640x480.png")
	if err != nil {
		log.Fatal(err)
	}
	pixels, err := p.Process(img, nil)
	if err != nil {
		log.Fatal(err)
	}
	h, w, err := p.OutputSize(640, 480)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(h, w, len(pixels) == h*w*3)
	// Output: 64 64 true
}
