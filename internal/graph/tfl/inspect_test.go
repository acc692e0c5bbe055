package tfl

import (
	"strings"
	"testing"
)

func TestInspect(t *testing.T) {
	m := sample()
	var b strings.Builder
	if err := Inspect(&b, m, 2752, InspectOptions{Operators: true, Tensors: true}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"size: 2.7 KiB",
		"description: sample",
		"metadata: edged_manifest (9 B)",
		`signature "serving_default" (subgraph 0):`,
		"input  input                -> tensor 0",
		`subgraph 0 "main": 5 tensors, 23 operators`,
		"0 x FLOAT32[1 -1 6]",            // the signature's dynamic dimension is shown
		"GELU v3",                        // an extended op code (150) with its version
		"1 w FLOAT32[2 3] const 24 B",    // constant size
		"q(per-channel axis 0, 3 scales", // per-channel quantization
		"FULLY_CONNECTED v2 {Activation:RELU WeightsFormat:0 KeepNumDims:true AsymmetricQuantizeInputs:true}",
		"in  -1 (omitted)",
		"4 v FLOAT32[2] variable",
		"FLOAT32      1 tensors         24 B",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
