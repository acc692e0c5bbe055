package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/runtime/tflite"
)

// ViTEmbeddings with a PyTorch [out, in, kh, kw] filter reordered by OHWIFromOIHW gives what
// PyTorch's Conv2d, flatten(2).transpose(1, 2), the class token and the positions give,
// computed here straight from the OIHW weights (within float32 rounding, 1e-5).
func TestViTEmbeddingsMatchPyTorchLayout(t *testing.T) {
	const size, patch, ch, width = 6, 3, 3, 4
	const grid, tokens = size / patch, 1 + (size/patch)*(size/patch)
	rng := rand.New(rand.NewPCG(1, 2))
	normal := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	pixels := normal(size * size * ch) // NHWC
	oihw, bias, cls, pos := normal(width*ch*patch*patch), normal(width), normal(width), normal(tokens*width)

	want := make([]float32, tokens*width)
	copy(want, cls)
	for py := 0; py < grid; py++ {
		for px := 0; px < grid; px++ {
			tok := 1 + py*grid + px
			for o := 0; o < width; o++ {
				s := float64(bias[o])
				for c := 0; c < ch; c++ {
					for y := 0; y < patch; y++ {
						for x := 0; x < patch; x++ {
							v := pixels[((py*patch+y)*size+px*patch+x)*ch+c]
							s += float64(v) * float64(oihw[((o*ch+c)*patch+y)*patch+x])
						}
					}
				}
				want[tok*width+o] = float32(s)
			}
		}
	}
	for i := range want {
		want[i] += pos[i]
	}

	g := graph.New("vit")
	in := g.Input("pixels", graph.Float32, 1, size, size, ch)
	out := ViTEmbeddings(g, "embeddings", in,
		g.Const("filter", OHWIFromOIHW(oihw, width, ch, patch, patch), width, patch, patch, ch),
		g.Const("bias", bias, width), g.Const("cls", cls, 1, 1, width), g.Const("pos", pos, 1, tokens, width))
	g.Output("embeddings", out)
	data, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got := testutil.Run(t, data, tflite.Options{Threads: 1, Delegate: tflite.DelegateNone}, pixels)
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
			t.Fatalf("token %d, channel %d: %v, want %v", i/width, i%width, got[i], want[i])
		}
	}
}

func TestViTEmbeddingsShapeErrors(t *testing.T) {
	g := graph.New("vit")
	in := g.Input("pixels", graph.Float32, 1, 7, 7, 3)
	f := g.Const("filter", make([]float32, 4*3*3*3), 4, 3, 3, 3)
	ViTEmbeddings(g, "embeddings", in, f, nil, g.Const("cls", make([]float32, 4), 1, 1, 4), g.Const("pos", make([]float32, 5*4), 1, 5, 4))
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), "not a whole number of 3-pixel patches") {
		t.Fatalf("7-pixel image in 3-pixel patches: %v", err)
	}
}

// EncoderLayer names every layer-norm operator under name/ln1 or name/ln2, so that a KeepFloat
// on "/ln" keeps exactly them (and the kinds it lists) in float at Int8Full.
func TestEncoderLayerNormsKeptFloat(t *testing.T) {
	const width = 8
	g := graph.New("layer")
	x := g.Input("x", graph.Float32, 1, 3, width)
	ones, zeros := make([]float32, width), make([]float32, width)
	for i := range ones {
		ones[i] = 1
	}
	lin := func(name string, out, in int) Linear {
		return NewLinear(g, name, make([]float32, out*in), out, in, make([]float32, out))
	}
	norm := func(name string) Norm {
		return Norm{Gamma: g.Const(name+".g", ones, width), Beta: g.Const(name+".b", zeros, width)}
	}
	layer := EncoderLayer{
		LN1: norm("ln1"), LN2: norm("ln2"),
		Attention: AttentionWeights{Q: lin("q", width, width), K: lin("k", width, width), V: lin("v", width, width), Out: lin("o", width, width)},
		FC1:       lin("fc1", 16, width), FC2: lin("fc2", width, 16),
	}
	g.Output("y", layer.Apply(g, "layer0", x, EncoderOptions{Heads: 2, Eps: 1e-5}))
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	data, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := tfl.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	keep := KeepFloat{Ops: FloatOps, Names: []string{"/ln"}}
	sg := m.Subgraphs[0]
	norms, dense := 0, 0
	for _, op := range sg.Operators {
		name, kind := sg.Tensors[op.Outputs[0]].Name, m.OperatorCodes[op.OpcodeIndex].Builtin
		inNorm := strings.HasPrefix(name, "layer0/ln")
		switch k := keep.Keep(name, kind); {
		case inNorm && !k:
			t.Errorf("%s (%s) of a layer norm would be int8", name, kind)
		case !inNorm && k && !slices.Contains(FloatOps, kind):
			t.Errorf("%s (%s) is kept float", name, kind)
		case kind == tfl.OpFullyConnected && k:
			t.Errorf("dense layer %s is kept float", name)
		}
		if inNorm {
			norms++
		}
		if kind == tfl.OpFullyConnected {
			dense++
		}
	}
	if norms < 2*6 || dense != 6 {
		t.Fatalf("%d layer-norm operators and %d dense layers: the layer is not what this test expects", norms, dense)
	}
}
