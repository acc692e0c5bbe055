package models

import (
	"strings"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/runtime/tflite"
)

// Part is one model file of a bundle as edged runs it: CLIP's vision and text towers; BLIP's
// vision tower, text decoder step, cross_kv, VQA question encoder, ITM and ITC text models.
type Part struct {
	Role string `json:"role"`
	// Precision is the file's, as the manifest records it: fp32, fp16, int8-dynamic (int8
	// weights, float activations) or int8 (weights and activations).
	Precision string `json:"precision"`
	// Delegate runs the operators edged's kernels leave: xnnpack, none (TFLite's own kernels),
	// gpu or an external delegate.
	Delegate string `json:"delegate"`
	// Kernels names the kernel of edged's own (runtime/kernels) that runs the file's int8
	// matrix work: weight-only int8 for int8-dynamic, weights and activations for int8. Empty
	// when they run none of it (a float file, runtime.kernels off, a CPU without one): an
	// int8-dynamic file's weights are then dequantized to float when it is loaded.
	Kernels string `json:"kernels,omitempty"`
}

// String reads like "text int8-dynamic (avx2 kernels)" or "vision fp32".
func (p Part) String() string {
	s := p.Role + " " + p.Precision
	if p.Kernels != "" {
		s += " (" + p.Kernels + " kernels)"
	}
	if p.Delegate != string(tflite.DelegateXNNPack) {
		s += " on " + p.Delegate
	}
	return s
}

// Parts are the model files of the bundle m, in its order, as interpreters made with opts run
// them: the manifest says each file's precision, the runtime which kernel takes its int8
// matrix work on this CPU.
func Parts(m *bundle.Manifest, opts tflite.Options) ([]Part, error) {
	kernel, err := tflite.KernelOf(opts)
	if err != nil {
		return nil, err
	}
	delegate := opts.Delegate
	if delegate == tflite.DelegateDefault {
		delegate = tflite.DelegateXNNPack
	}
	var out []Part
	for _, f := range m.ModelFiles() {
		p := Part{Role: f.Role, Precision: f.Precision, Delegate: string(delegate)}
		if f.Precision == graph.Int8Dynamic.String() || f.Precision == graph.Int8Full.String() {
			p.Kernels = kernel
		}
		out = append(out, p)
	}
	return out, nil
}

// PartsString lists parts as String does each, comma-separated.
func PartsString(parts []Part) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
