package bundle_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/models"
)

// What a bundle holds: its manifest lists each file with its role and precision, and Verify
// checks every file against its SHA-256.
func Example() {
	dir, err := os.MkdirTemp("", "edged-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if _, err := models.Convert("../models/shapes/clip", filepath.Join(dir, "clip"), convert.Options{Precision: graph.FP32}); err != nil {
		log.Fatal(err)
	}
	b, err := bundle.Read(filepath.Join(dir, "clip"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Manifest.Architecture, b.Manifest.Precision)
	for _, f := range b.Manifest.Files {
		if f.Precision != "" {
			fmt.Println(f.Role, f.Path, f.Precision)
		}
	}
	fmt.Println("verified:", b.Verify() == nil)
	// Output:
	// CLIPModel fp32
	// vision vision.tflite fp32
	// text text.tflite fp32
	// verified: true
}
