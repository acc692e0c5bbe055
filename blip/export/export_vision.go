package export

import (
	"fmt"
	"math"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
)

// Where the checkpoint keeps these weights.
const (
	visionPrefix = "vision_model." // checkpoint prefix of the tower
)

// buildVision adds BLIP's ViT to g (BlipVisionModel): patch embeddings with the class token
// and learned positions, pre-norm encoder layers and a final layer norm over all tokens. It
// returns image_embeds [1, tokens, hidden].
func buildVision(g *graph.Graph, d visionDims, l *convert.WeightReader) *graph.Tensor {
	p := visionPrefix + "embeddings."
	D, P := d.Hidden, d.PatchSize
	pixels := g.Input(spec.InPixelValues, graph.Float32, 1, d.ImageSize, d.ImageSize, 3)
	filter := g.Const(p+"patch_embedding.weight", nn.OHWIFromOIHW(l.Get(p+"patch_embedding.weight", D, 3, P, P), D, 3, P, P), D, P, P, 3)
	bias := g.Const(p+"patch_embedding.bias", l.Get(p+"patch_embedding.bias", D), D)
	cls := g.Const(p+"class_embedding", l.Get(p+"class_embedding", 1, 1, D), 1, 1, D)
	pos := g.Const(p+"position_embedding", l.Get(p+"position_embedding", 1, d.tokens(), D), 1, d.tokens(), D)
	h := nn.ViTEmbeddings(g, "vision/embeddings", pixels, filter, bias, cls, pos)
	// The attention scale is folded into the query weights (visionLayer).
	opts := nn.EncoderOptions{Heads: d.Heads, Eps: d.Eps, Attention: nn.AttentionOptions{Scale: 1}}
	for i := 0; i < d.Layers; i++ {
		h = visionLayer(g, d, l, i).Apply(g, fmt.Sprintf("vision/layer%d", i), h, opts)
	}
	return l.LayerNorm(g, "vision/post_layernorm", visionPrefix+"post_layernorm", h, D, d.Eps)
}

// visionLayer reads BlipEncoderLayer i. Its fused qkv projection is [3·D, D] with rows ordered
// (q, k, v): it splits into three dense layers, the attention scale folded into the query's.
func visionLayer(g *graph.Graph, d visionDims, l *convert.WeightReader, i int) nn.EncoderLayer {
	p := fmt.Sprintf("%sencoder.layers.%d.", visionPrefix, i)
	D := d.Hidden
	ln1 := l.Norm(g, p+"layer_norm1", D)
	qkvW := l.Get(p+"self_attn.qkv.weight", 3*D, D)
	qkvB := l.Get(p+"self_attn.qkv.bias", 3*D)
	scale := float32(1 / math.Sqrt(float64(D/d.Heads)))
	return nn.EncoderLayer{
		LN1: ln1,
		Attention: nn.AttentionWeights{
			Q:   nn.NewLinear(g, p+"self_attn.q", scaled(rows(qkvW, D, 0, D), scale), D, D, scaled(sliceOrNil(qkvB, 0, D), scale)),
			K:   nn.NewLinear(g, p+"self_attn.k", rows(qkvW, D, D, 2*D), D, D, sliceOrNil(qkvB, D, 2*D)),
			V:   nn.NewLinear(g, p+"self_attn.v", rows(qkvW, D, 2*D, 3*D), D, D, sliceOrNil(qkvB, 2*D, 3*D)),
			Out: l.Linear(g, p+"self_attn.projection", D, D, true),
		},
		LN2: l.Norm(g, p+"layer_norm2", D),
		FC1: l.Linear(g, p+"mlp.fc1", d.Intermediate, D, true),
		FC2: l.Linear(g, p+"mlp.fc2", D, d.Intermediate, true),
	}
}

func sliceOrNil(v []float32, from, to int) []float32 {
	if v == nil {
		return nil
	}
	return v[from:to]
}

// linear adds the dense layer ckpt (ckpt.weight [out, in], ckpt.bias [out]) and applies it.
func linear(g *graph.Graph, l *convert.WeightReader, name, ckpt string, x *graph.Tensor, out, in int) *graph.Tensor {
	return l.Linear(g, ckpt, out, in, true).Apply(g, name, x)
}
