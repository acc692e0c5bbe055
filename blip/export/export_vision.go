package export

import (
	"fmt"
	"math"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
	"github.com/edged/edged/internal/graph/tfl"
)

// Where the checkpoint keeps these weights.
const (
	visionPrefix = "vision_model." // checkpoint prefix of the tower
)

// buildVision adds BLIP's ViT to g (BlipVisionModel): a patch convolution over the NHWC image,
// the class token, learned positions, pre-norm encoder layers and a final layer norm over all
// tokens. It returns image_embeds [1, tokens, hidden].
func buildVision(g *graph.Graph, d visionDims, l *loader) *graph.Tensor {
	p := visionPrefix + "embeddings."
	D, P := d.Hidden, d.PatchSize
	x := g.Input(spec.InPixelValues, graph.Float32, 1, d.ImageSize, d.ImageSize, 3)

	// PyTorch's conv weight is [out, in, kh, kw]; TFLite's CONV_2D wants [out, kh, kw, in].
	w := l.get(p+"patch_embedding.weight", D, 3, P, P)
	filter := g.Const(p+"patch_embedding.weight", ohwiFromOIHW(w, D, 3, P, P), D, P, P, 3)
	bias := g.Const(p+"patch_embedding.bias", l.get(p+"patch_embedding.bias", D), D)
	patches := g.Conv2D(x, filter, bias, graph.Conv2DParams{StrideH: P, StrideW: P, Padding: tfl.PaddingValid}, graph.Named("vision/patches"))
	// NHWC rows come out row-major over the grid, the order of PyTorch's flatten(2).transpose(1, 2).
	seq := g.Reshape(patches, []int{1, d.grid() * d.grid(), D}, graph.Named("vision/patch_tokens"))
	cls := g.Const(p+"class_embedding", l.get(p+"class_embedding", 1, 1, D), 1, 1, D)
	h := g.Concat([]*graph.Tensor{cls, seq}, 1, graph.Named("vision/tokens"))
	pos := g.Const(p+"position_embedding", l.get(p+"position_embedding", 1, d.tokens(), D), 1, d.tokens(), D)
	h = g.Add(h, pos, graph.Named("vision/embeddings"))

	for i := 0; i < d.Layers; i++ {
		h = visionLayer(g, d, l, i, h)
	}
	return layerNorm(g, l, "vision/post_layernorm", visionPrefix+"post_layernorm", h, D, d.Eps)
}

// visionLayer is BlipEncoderLayer: x + attn(ln1(x)), then x + mlp(ln2(x)).
func visionLayer(g *graph.Graph, d visionDims, l *loader, i int, x *graph.Tensor) *graph.Tensor {
	p := fmt.Sprintf("%sencoder.layers.%d.", visionPrefix, i)
	name := fmt.Sprintf("vision/layer%d", i)
	D := d.Hidden

	h := layerNorm(g, l, name+"/ln1", p+"layer_norm1", x, D, d.Eps)
	// The fused qkv projection is [3·D, D] with rows ordered (q, k, v); split into three dense
	// layers. The attention scale folds into the query weights.
	qkvW := l.get(p+"self_attn.qkv.weight", 3*D, D)
	qkvB := l.get(p+"self_attn.qkv.bias", 3*D)
	scale := float32(1 / math.Sqrt(float64(D/d.Heads)))
	q := nn.NewLinear(g, p+"self_attn.q", scaled(rows(qkvW, D, 0, D), scale), D, D, scaled(sliceOrNil(qkvB, 0, D), scale)).Apply(g, name+"/q", h)
	k := nn.NewLinear(g, p+"self_attn.k", rows(qkvW, D, D, 2*D), D, D, sliceOrNil(qkvB, D, 2*D)).Apply(g, name+"/k", h)
	v := nn.NewLinear(g, p+"self_attn.v", rows(qkvW, D, 2*D, 3*D), D, D, sliceOrNil(qkvB, 2*D, 3*D)).Apply(g, name+"/v", h)
	ctx := nn.MultiHeadAttention(g, name+"/attn", q, k, v, d.Heads, nn.AttentionOptions{Scale: 1})
	proj := linear(g, l, name+"/attn_out", p+"self_attn.projection", ctx, D, D)
	x = g.Add(x, proj, graph.Named(name+"/attn_residual"))

	h = layerNorm(g, l, name+"/ln2", p+"layer_norm2", x, D, d.Eps)
	h = linear(g, l, name+"/fc1", p+"mlp.fc1", h, d.Intermediate, D)
	h = nn.GELU(g, name+"/gelu", h)
	h = linear(g, l, name+"/fc2", p+"mlp.fc2", h, D, d.Intermediate)
	return g.Add(x, h, graph.Named(name+"/out"))
}

// ohwiFromOIHW reorders a PyTorch convolution weight [o, i, h, w] to TFLite's [o, h, w, i].
func ohwiFromOIHW(w []float32, o, in, kh, kw int) []float32 {
	if w == nil {
		return nil
	}
	out := make([]float32, len(w))
	for a := 0; a < o; a++ {
		for c := 0; c < in; c++ {
			for y := 0; y < kh; y++ {
				for x := 0; x < kw; x++ {
					out[((a*kh+y)*kw+x)*in+c] = w[((a*in+c)*kh+y)*kw+x]
				}
			}
		}
	}
	return out
}

func sliceOrNil(v []float32, from, to int) []float32 {
	if v == nil {
		return nil
	}
	return v[from:to]
}

// linear adds the dense layer ckpt (ckpt.weight [out, in], ckpt.bias [out]) and applies it.
func linear(g *graph.Graph, l *loader, name, ckpt string, x *graph.Tensor, out, in int) *graph.Tensor {
	w := l.get(ckpt+".weight", out, in)
	b := l.get(ckpt+".bias", out)
	return nn.NewLinear(g, ckpt, w, out, in, b).Apply(g, name, x)
}

// layerNorm adds the layer norm ckpt (ckpt.weight and ckpt.bias of size n) and applies it.
func layerNorm(g *graph.Graph, l *loader, name, ckpt string, x *graph.Tensor, n int, eps float32) *graph.Tensor {
	gamma := g.Const(ckpt+".weight", l.get(ckpt+".weight", n), n)
	beta := g.Const(ckpt+".bias", l.get(ckpt+".bias", n), n)
	return nn.LayerNorm(g, name, x, gamma, beta, eps)
}
