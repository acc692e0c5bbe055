package tflite_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

// Running a .tflite file: load (memory-mapped), make an interpreter (XNNPACK by default),
// set the inputs, invoke, read the outputs. Every handle has a Close.
func Example() {
	dir, err := os.MkdirTemp("", "edged-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	b, err := models.Convert("../../models/shapes/clip", filepath.Join(dir, "clip"), convert.Options{Precision: graph.FP32})
	if err != nil {
		log.Fatal(err)
	}
	path, err := b.Path("vision")
	if err != nil {
		log.Fatal(err)
	}
	m, err := tflite.LoadModel(path)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ip, err := tflite.NewInterpreter(m, tflite.Options{Threads: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer ip.Close()
	in := ip.Input(0)
	pixels := make([]float32, in.NumElements())
	if err := in.SetFloat32(pixels); err != nil {
		log.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		log.Fatal(err)
	}
	out := ip.Output(0)
	emb := make([]float32, out.NumElements())
	if err := out.ReadFloat32(emb); err != nil {
		log.Fatal(err)
	}
	fmt.Println(in.Name(), in.Shape(), "->", out.Name(), out.Shape())
	// Output: pixel_values [1 64 64 3] -> image_embeds [1 48]
}
