// Package convert turns Hugging Face checkpoints into edged bundles: folders holding the
// .tflite models of one checkpoint at one precision, the tokenizer and preprocessing configs
// the models need, and a manifest.json that says what each file is.
//
// Each architecture (CLIPModel, BlipForConditionalGeneration, ...) lives in its own package
// (clip/export, blip/export) and offers a converter, an Architecture; package models lists them
// in one Registry keyed by config.json's architectures[0].
//
// A converter reads weights from a Source, builds graphs (package graph) and writes models into
// a Writer; the machinery here does the rest: choosing the converter, random weights for
// --random-init, calibration for full int8, progress, the manifest, and writing the bundle
// atomically (a crash never leaves half a bundle). Open gives a bundle for a folder that is
// either a bundle already or a checkpoint converted on first use into a cache.
package convert

import (
	"fmt"
	"sort"

	"github.com/edged/edged/internal/graph"
)

// Architecture is what a model family contributes to conversion.
type Architecture struct {
	// Convert builds the models of src into w at opts.Precision. It reads weights with
	// src.Weights, writes each model with w.AddModel and records model-specific values
	// (e.g. CLIP's logit scale) with w.SetValue. The machinery copies the tokenizer and
	// preprocessing files and writes the manifest.
	Convert func(src *Source, w *Writer, opts Options) error
	// RandomInit says how to draw the random weights of --random-init for a tensor of this
	// architecture (see Init), following how transformers initialises it. Required for
	// --random-init.
	RandomInit func(src *Source, name string, shape []int) Init
	// DefaultPrecision is the precision a checkpoint converts to when none is asked for
	// (edged classify --model CHECKPOINT).
	DefaultPrecision graph.Precision
	// Revision numbers what Convert writes. Bump it whenever the graphs, their inputs and
	// outputs or their lowering change: conversions cached by an edged of another revision
	// are converted again, so an upgrade never runs on models an older edged wrote.
	Revision int
}

// Registry maps config.json's architectures[0] (e.g. "CLIPModel") to its converter. It is a
// plain value: package models holds the one list of the architectures edged converts, and
// tests make their own.
type Registry map[string]Architecture

// Lookup returns the architecture called name.
func (r Registry) Lookup(name string) (Architecture, error) {
	a, ok := r[name]
	if !ok || a.Convert == nil {
		return Architecture{}, fmt.Errorf("unsupported architecture %q (edged converts %v)", name, r.Names())
	}
	return a, nil
}

// Names lists the architecture names, sorted.
func (r Registry) Names() []string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
