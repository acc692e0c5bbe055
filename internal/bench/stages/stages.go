// Package stages times edged's real pipeline stages on converted bundles: CLIP image and text
// embeddings and zero-shot classification, BLIP vision, cross-attention keys and values,
// decoder steps, captions and answers. It is what edged bench runs for --model and
// --random-init; stage names are documented in BENCHMARKS.md.
package stages

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/internal/bench"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/models"
)

// Setup is one configuration to time stages under.
type Setup struct {
	Runner   *bench.Runner
	Model    string // the name printed in records
	Delegate string // bench.DelegateNone, DelegateXNNPack or DelegateXNNPackQS8
	Threads  int
	// Want says whether a stage is selected.
	Want func(stage string) bool
}

func (s Setup) record(stage, precision string) bench.Record {
	return bench.Record{Stage: stage, Model: s.Model, Precision: precision, Delegate: s.Delegate, Threads: s.Threads}
}

// RandomInitBundle returns a bundle of the checkpoint config at configPath (a config.json, or
// a folder holding one) with random weights at precision p, converting it into cacheDir the
// first time (later calls of the same edged binary find it there). Calibration for full int8 uses calibImages
// rendered scenes: the speed of an int8 model does not depend on its ranges.
func RandomInitBundle(configPath string, p graph.Precision, cacheDir string, calibImages int) (*bundle.Bundle, string, error) {
	if fi, err := os.Stat(configPath); err == nil && fi.IsDir() {
		configPath = filepath.Join(configPath, "config.json")
	}
	data, err := os.ReadFile(configPath)
	if err != nil {
		return nil, "", fmt.Errorf("random init: %w", err)
	}
	var cfg struct {
		Architectures []string `json:"architectures"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, "", fmt.Errorf("random init: %s: %w", configPath, err)
	}
	if len(cfg.Architectures) == 0 {
		return nil, "", fmt.Errorf("random init: %s names no architectures", configPath)
	}
	name := strings.TrimSuffix(filepath.Base(configPath), ".json")
	if name == "config" {
		name = filepath.Base(filepath.Dir(configPath))
	}
	// The key covers the config and the program converting it: a bundle made by another build
	// of edged (another graph lowering) is not the model this build would make.
	h := sha256.New()
	h.Write(data)
	if exe, err := os.Executable(); err == nil {
		if f, err := os.Open(exe); err == nil {
			io.Copy(h, f)
			f.Close()
		}
	}
	sum := h.Sum(nil)
	out := filepath.Join(cacheDir, fmt.Sprintf("%s-%s-%s", name, hex.EncodeToString(sum[:6]), p))
	if b, err := bundle.Read(out); err == nil {
		return b, name, nil
	}
	src, err := os.MkdirTemp("", "edged-bench-ckpt-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(src)
	if err := os.WriteFile(filepath.Join(src, "config.json"), data, 0o644); err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, "", err
	}
	b, err := models.Convert(src, out, convert.Options{Precision: p, RandomInit: true, Seed: 1, CalibrationImages: calibImages})
	if err != nil {
		return nil, "", fmt.Errorf("random init of %s at %s: %w", configPath, p, err)
	}
	return b, name, nil
}

// SyntheticFrame is a packed 640×480 BGR frame (a camera's) with gradients and edges; the
// cost of preprocessing does not depend on the content.
func SyntheticFrame() imageproc.Frame {
	const w, h = 640, 480
	pix := make([]byte, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := (y*w + x) * 3
			pix[i] = byte(x * 255 / w)
			pix[i+1] = byte(y * 255 / h)
			if (x/40+y/40)%2 == 0 {
				pix[i+2] = 200
			}
		}
	}
	return imageproc.Frame{Pix: pix, Width: w, Height: h, Format: imageproc.BGR}
}

// pixels preprocesses the synthetic frame with p.
func pixels(p *imageproc.Processor) ([]float32, error) {
	return p.ProcessFrame(SyntheticFrame(), nil)
}

// ErrUnsupported is returned for a bundle of an architecture edged bench has no stages for.
var ErrUnsupported = errors.New("no stages for this architecture")

// Run times the stages of bundle b.
func Run(s Setup, b *bundle.Bundle) error {
	switch a := b.Manifest.Architecture; {
	case a == "CLIPModel":
		return CLIP(s, b)
	case strings.HasPrefix(a, "Blip"):
		return BLIP(s, b)
	default:
		return fmt.Errorf("%w: %s", ErrUnsupported, a)
	}
}

// FileSizes writes one model.file_size record per model file of b.
func FileSizes(s Setup, b *bundle.Bundle) error {
	for _, f := range b.Manifest.Files {
		if !strings.HasSuffix(f.Path, ".tflite") {
			continue
		}
		p := f.Precision
		if p == "" {
			p = b.Manifest.Precision
		}
		if err := s.Runner.Emit(bench.Record{Stage: "model.file_size", Model: s.Model + "/" + f.Role, Precision: p, FileBytes: f.Size}); err != nil {
			return err
		}
	}
	return nil
}
