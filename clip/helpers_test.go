package clip

import (
	"bytes"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/hf"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/shapes"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/models"
)

// Test data (copied from ../shared, see testdata/README.md).
const (
	tinyCheckpoint  = "testdata/clip_tiny"
	tinyIO          = "testdata/clip_tiny/io.safetensors"
	shapesModel     = "../models/shapes/clip"
	shapesReference = "testdata/shapes/reference.safetensors"
	shapesCases     = "testdata/shapes/reference.json"
	b32Checkpoint   = "testdata/vit_b32" // CLIPConfig(): ViT-B/32, config only
)

// bundles converts each (checkpoint, precision) once per test binary: conversion is the slow
// part, and most tests only read the result.
var bundles struct {
	sync.Mutex
	dir  string
	done map[string]*bundle.Bundle
}

func testBundle(t testing.TB, checkpoint string, p graph.Precision) *bundle.Bundle {
	t.Helper()
	return testBundleWith(t, checkpoint, p, convert.Options{})
}

// testBundleWith converts with opts (their precision is p) once per test binary.
func testBundleWith(t testing.TB, checkpoint string, p graph.Precision, opts convert.Options) *bundle.Bundle {
	t.Helper()
	bundles.Lock()
	defer bundles.Unlock()
	if bundles.done == nil {
		dir, err := os.MkdirTemp("", "edged-clip-test-")
		if err != nil {
			t.Fatal(err)
		}
		bundles.dir, bundles.done = dir, map[string]*bundle.Bundle{}
	}
	key := fmt.Sprintf("%s@%v/random=%v/calibrated=%v", checkpoint, p, opts.RandomInit, opts.CalibrationDir != "")
	if b, ok := bundles.done[key]; ok {
		return b
	}
	out := filepath.Join(bundles.dir, fmt.Sprintf("%s-%s-%d", filepath.Base(checkpoint), p, len(bundles.done)))
	opts.Precision = p
	b, err := models.Convert(checkpoint, out, opts)
	if err != nil {
		t.Fatalf("convert %s at %v: %v", checkpoint, p, err)
	}
	bundles.done[key] = b
	return b
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bundles.dir != "" {
		os.RemoveAll(bundles.dir)
	}
	os.Exit(code)
}

func testModel(t testing.TB, checkpoint string, p graph.Precision) *Model {
	t.Helper()
	return loadTestModel(t, testBundle(t, checkpoint, p))
}

func loadTestModel(t testing.TB, b *bundle.Bundle) *Model {
	t.Helper()
	m, err := Load(b, Options{RunOptions: RunOptions{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// readF32 reads a float tensor of a reference file with its shape.
func readF32(t testing.TB, path, name string) ([]float32, []int) {
	t.Helper()
	st, err := hf.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	info, err := st.Info(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return v, info.Shape
}

func readI32(t testing.TB, path, name string) ([]int32, []int) {
	t.Helper()
	st, err := hf.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	info, err := st.Info(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.Int64(name)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out, info.Shape
}

// nchwToNHWC converts image n of a PyTorch batch [N, C, H, W] into [1, H, W, C].
func nchwToNHWC(src []float32, shape []int, n int) []float32 {
	c, h, w := shape[1], shape[2], shape[3]
	dst := make([]float32, h*w*c)
	base := n * c * h * w
	for ci := 0; ci < c; ci++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				dst[(y*w+x)*c+ci] = src[base+(ci*h+y)*w+x]
			}
		}
	}
	return dst
}

var (
	maxAbsDiff = testutil.MaxAbsDiff
	cosine     = testutil.Cosine
)

// sceneFolder writes n rendered scenes of the shapes world as PNG files into a new folder: the
// calibration images of a full-int8 conversion of a model that is not a shapes model (the tiny
// model's weights are random, so any images calibrate it).
func sceneFolder(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < n; i++ {
		img, err := shapes.Render(shapes.Random(rng), 96, 96, shapes.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("scene_%02d.png", i)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
