package shapes_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/edged/edged/internal/shapes"
)

func Example() {
	scene := shapes.Scene{Background: "black", Objects: []shapes.Object{
		{Color: "red", Shape: "circle", X: 0.27, Y: 0.5, Size: 0.15},
		{Color: "blue", Shape: "square", X: 0.72, Y: 0.4, Size: 0.15},
	}}
	img, err := shapes.Render(scene, 320, 240, shapes.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(img.Bounds().Dx(), img.Bounds().Dy())
	fmt.Println(scene.Caption())
	for _, qa := range shapes.Questions(scene)[:4] {
		fmt.Println(qa.Question, qa.Answer)
	}
	// Output:
	// 320 240
	// a red circle and a blue square on a black background
	// what color is the background? black
	// how many shapes are there? two
	// what color is the circle? red
	// what color is the square? blue
}

// BenchmarkRender640x480 is the synthetic camera's cost per frame, with training-like noise.
func BenchmarkRender640x480(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	scene := shapes.Random(rng).Jittered(rng, 15)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := shapes.Render(scene, 640, 480, shapes.Options{Noise: 3, Rand: rng}); err != nil {
			b.Fatal(err)
		}
	}
}
