package nn

import (
	"strings"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
)

// OHWIFromOIHW reorders a PyTorch Conv2d weight [out, in, kh, kw] into the [out, kh, kw, in]
// that TFLite's CONV_2D wants. A nil w (a weight that could not be read) stays nil.
func OHWIFromOIHW(w []float32, out, in, kh, kw int) []float32 {
	if w == nil {
		return nil
	}
	dst := make([]float32, len(w))
	for o := 0; o < out; o++ {
		for c := 0; c < in; c++ {
			for y := 0; y < kh; y++ {
				for x := 0; x < kw; x++ {
					dst[((o*kh+y)*kw+x)*in+c] = w[((o*in+c)*kh+y)*kw+x]
				}
			}
		}
	}
	return dst
}

// ViTEmbeddings is the input of a vision transformer (ViT, CLIP's and BLIP's vision towers):
// the NHWC image pixels [1, H, W, C] cut into square patches and projected by a CONV_2D whose
// stride is its kernel (filter [width, patch, patch, C], see OHWIFromOIHW; bias may be nil),
// the class token class [1, 1, width] put first and the learned positions [1, tokens, width]
// added. It returns [1, tokens, width], tokens = 1 + (H/patch)·(W/patch), in the order of
// PyTorch's flatten(2).transpose(1, 2): NHWC rows come out row-major over the grid. The
// outputs are named name/patches, name/patch_tokens, name/tokens and name.
func ViTEmbeddings(g *graph.Graph, name string, pixels, filter, bias, class, positions *graph.Tensor) *graph.Tensor {
	if g.Err() != nil {
		return nil
	}
	if pixels.Rank() != 4 || filter.Rank() != 4 || filter.Dim(1) != filter.Dim(2) {
		return fail(g, name, "pixels %s must be [1, H, W, C] and filter %s [width, patch, patch, C]", pixels, filter)
	}
	width, patch := filter.Dim(0), filter.Dim(1)
	if patch <= 0 || pixels.Dim(1)%patch != 0 || pixels.Dim(2)%patch != 0 {
		return fail(g, name, "image %s is not a whole number of %d-pixel patches", pixels, patch)
	}
	grid := (pixels.Dim(1) / patch) * (pixels.Dim(2) / patch)
	patches := g.Conv2D(pixels, filter, bias, graph.Conv2DParams{StrideH: patch, StrideW: patch, Padding: tfl.PaddingValid}, graph.Named(name+"/patches"))
	seq := g.Reshape(patches, []int{1, grid, width}, graph.Named(name+"/patch_tokens"))
	seq = g.Concat([]*graph.Tensor{class, seq}, 1, graph.Named(name+"/tokens"))
	return g.Add(seq, positions, graph.Named(name))
}

// Norm is the scale and shift of a layer norm, each [width].
type Norm struct {
	Gamma, Beta *graph.Tensor
}

// EncoderLayer holds the weights of a pre-norm transformer layer, as ViT, CLIP's two towers
// and BLIP's vision tower have: x + attention(LN1(x)), then + FC2(act(FC1(LN2(x)))).
type EncoderLayer struct {
	LN1, LN2  Norm
	Attention AttentionWeights
	FC1, FC2  Linear
}

// EncoderOptions configure EncoderLayer.Apply.
type EncoderOptions struct {
	Heads int
	Eps   float32
	// Attention is passed to MultiHeadAttention (a mask, causal, a scale already folded into
	// the query weights).
	Attention AttentionOptions
	// Activation is the MLP's non-linearity; nil means GELU.
	Activation func(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor
	// LayerNorm and Attend replace LayerNorm and Attention, for benchmarks that compare other
	// forms of the same maths (package bench/synth); nil for the forms above.
	LayerNorm func(g *graph.Graph, name string, x, gamma, beta *graph.Tensor, eps float32) *graph.Tensor
	Attend    func(g *graph.Graph, name string, x *graph.Tensor, w AttentionWeights, heads int, opts AttentionOptions) *graph.Tensor
}

// Apply runs the layer on x [batch, tokens, width]. Its outputs are named name/ln1, name/attn
// (name/attn/q_proj, ...), name/attn_residual, name/ln2, name/fc1, name/act, name/fc2 and
// name/mlp_residual, the layer's output: every layer norm operator's output is under a
// name/ln* prefix (see KeepFloat).
func (l EncoderLayer) Apply(g *graph.Graph, name string, x *graph.Tensor, o EncoderOptions) *graph.Tensor {
	norm, attend, act := o.LayerNorm, o.Attend, o.Activation
	if norm == nil {
		norm = LayerNorm
	}
	if attend == nil {
		attend = func(g *graph.Graph, name string, x *graph.Tensor, w AttentionWeights, heads int, opts AttentionOptions) *graph.Tensor {
			return Attention(g, name, x, x, w, heads, opts)
		}
	}
	if act == nil {
		act = GELU
	}
	h := norm(g, name+"/ln1", x, l.LN1.Gamma, l.LN1.Beta, o.Eps)
	h = attend(g, name+"/attn", h, l.Attention, o.Heads, o.Attention)
	x = g.Add(x, h, graph.Named(name+"/attn_residual"))
	h = norm(g, name+"/ln2", x, l.LN2.Gamma, l.LN2.Beta, o.Eps)
	h = act(g, name+"/act", l.FC1.Apply(g, name+"/fc1", h))
	return g.Add(x, l.FC2.Apply(g, name+"/fc2", h), graph.Named(name+"/mlp_residual"))
}

// KeepFloat is a graph.LowerOptions.KeepFloat rule for a transformer at graph.Int8Full: an
// operator stays float when its kind is one of Ops or its output's name contains one of Names
// (where the layer norms are: EncoderLayer's are under "/ln", each architecture names its
// others).
type KeepFloat struct {
	Ops   []tfl.BuiltinOp
	Names []string
}

// Keep is the rule, for graph.LowerOptions.KeepFloat.
func (k KeepFloat) Keep(output string, op tfl.BuiltinOp) bool {
	for _, o := range k.Ops {
		if o == op {
			return true
		}
	}
	for _, n := range k.Names {
		if strings.Contains(output, n) {
			return true
		}
	}
	return false
}

// FloatOps are the operators a transformer keeps in float at graph.Int8Full, where 8 bits per
// tensor cost accuracy and float costs no speed: the layer norms' (MEAN; SQUARED_DIFFERENCE and
// RSQRT of the converter's form), SOFTMAX, the final L2_NORMALIZATION (its int8 output scale is
// fixed at 1/128) and the residual ADDs (a few channels of the residual stream dwarf the rest).
var FloatOps = []tfl.BuiltinOp{tfl.OpMean, tfl.OpSquaredDifference, tfl.OpRsqrt, tfl.OpSoftmax, tfl.OpL2Normalization, tfl.OpAdd}
