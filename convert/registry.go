// Package convert turns Hugging Face checkpoints into edged bundles: folders holding the
// .tflite models of one checkpoint at one precision, the tokenizer and preprocessing configs
// the models need, and a manifest.json that says what each file is.
//
// Each architecture (CLIPModel, BlipForConditionalGeneration, ...) lives in its own package and
// registers a converter under config.json's architectures[0]:
//
//	func init() { convert.Register("CLIPModel", convert.Architecture{Convert: exportCLIP, ...}) }
//
// A converter reads weights from a Source, builds graphs (package graph) and writes models into
// a Writer; the machinery here does the rest: choosing the converter, random weights for
// --random-init, calibration for full int8, progress, the manifest, and writing the bundle
// atomically (a crash never leaves half a bundle). Open gives a bundle for a folder that is
// either a bundle already or a checkpoint converted on first use into a cache.
//
// Importers of an architecture's package register it; a program that converts must import the
// packages of the architectures it supports (cmd/edged imports clip and blip).
package convert

import (
	"fmt"
	"sort"
	"sync"

	"github.com/edged/edged/graph"
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

var (
	registryMu sync.RWMutex
	registry   = map[string]Architecture{}
)

// Register makes an architecture convertible under name, config.json's architectures[0]
// (e.g. "CLIPModel"). It panics if name is registered twice or the architecture has no
// Convert function: both are programming errors found at start-up.
func Register(name string, a Architecture) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if a.Convert == nil {
		panic("convert: Register " + name + " without a Convert function")
	}
	if _, dup := registry[name]; dup {
		panic("convert: architecture " + name + " registered twice")
	}
	registry[name] = a
}

// Lookup returns the registered architecture called name.
func Lookup(name string) (Architecture, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	a, ok := registry[name]
	if !ok {
		return Architecture{}, fmt.Errorf("unsupported architecture %q (edged converts %v)", name, registeredLocked())
	}
	return a, nil
}

// Architectures lists the registered architecture names, sorted.
func Architectures() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return registeredLocked()
}

func registeredLocked() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
