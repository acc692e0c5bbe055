package clip

import (
	"fmt"

	"github.com/edged/edged/convert"
	"github.com/edged/edged/graph"
	"github.com/edged/edged/graph/nn"
	"github.com/edged/edged/graph/tfl"
)

// Tensor names of the exported towers: the contract between export and inference, recorded in
// each bundle's manifest.
const (
	InputPixels      = "pixel_values" // float32 [1, H, W, 3], NHWC, preprocessed
	OutputImage      = "image_embeds" // float32 [1, projection], L2-normalised
	InputTokens      = "tokens"       // int32 [2, S]: token ids, then positions 0..S-1; S resized per call
	OutputText       = "text_embeds"  // float32 [1, projection], L2-normalised
	RoleVisionTower  = "vision"
	RoleTextTower    = "text"
	ValueLogitScale  = "logit_scale" // exp of the checkpoint's logit_scale: the softmax multiplier
	ValueContext     = "context_length"
	ValueEOSTokenID  = "eos_token_id" // the pooling token (see poolIndex)
	ValueProjection  = "projection_dim"
	ValueTextPooling = "text_pooling" // "argmax" or "eos"
)

// encoderDims are the sizes of one transformer tower.
type encoderDims struct {
	Hidden, Intermediate, Layers, Heads int
	Eps                                 float32
	Act                                 string // config's hidden_act
}

type visionDims struct {
	encoderDims
	ImageSize, Patch, Channels int
}

type textDims struct {
	encoderDims
	Vocab, Context int
}

// params reads weights with a sticky error, as graph does, so that building code reads like
// the model and checks once.
type params struct {
	w   convert.Weights
	err error
}

func (p *params) get(name string, shape ...int) []float32 {
	if p.err != nil {
		return nil
	}
	v, err := p.w.Float32(name, shape...)
	if err != nil {
		p.err = err
		return nil
	}
	return v
}

// linear adds a dense layer from prefix.weight [out, in] and, if withBias, prefix.bias [out].
func (p *params) linear(g *graph.Graph, prefix string, out, in int, withBias bool) nn.Linear {
	w := p.get(prefix+".weight", out, in)
	var b []float32
	if withBias {
		b = p.get(prefix+".bias", out)
	}
	if p.err != nil {
		return nn.Linear{}
	}
	return nn.NewLinear(g, prefix, w, out, in, b)
}

// layerNorm applies the layer norm prefix.weight / prefix.bias to x.
func (p *params) layerNorm(g *graph.Graph, prefix string, x *graph.Tensor, dim int, eps float32) *graph.Tensor {
	gamma, beta := p.get(prefix+".weight", dim), p.get(prefix+".bias", dim)
	if p.err != nil {
		return nil
	}
	return nn.LayerNorm(g, prefix, x, g.Const(prefix+".weight", gamma, dim), g.Const(prefix+".bias", beta, dim), eps)
}

// activation applies a transformers hidden_act.
func activation(g *graph.Graph, name, act string, x *graph.Tensor) *graph.Tensor {
	switch act {
	case "quick_gelu":
		return nn.QuickGELU(g, name, x)
	case "gelu":
		return nn.GELU(g, name, x)
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		return g.Gelu(x, true, graph.Named(name))
	}
	g.Fail(fmt.Errorf("clip: %s: activation %q is not supported (quick_gelu, gelu, gelu_new)", name, act))
	return nil
}

// encoder applies the layers of a CLIP encoder (pre-norm residual blocks, as CLIPEncoderLayer):
// x + attn(ln1(x)), then + mlp(ln2(x)).
func (p *params) encoder(g *graph.Graph, prefix string, x *graph.Tensor, d encoderDims, mask *graph.Tensor, progress func(layer int)) *graph.Tensor {
	for i := 0; i < d.Layers; i++ {
		l := fmt.Sprintf("%s.layers.%d", prefix, i)
		h := p.layerNorm(g, l+".layer_norm1", x, d.Hidden, d.Eps)
		att := nn.AttentionWeights{
			Q:   p.linear(g, l+".self_attn.q_proj", d.Hidden, d.Hidden, true),
			K:   p.linear(g, l+".self_attn.k_proj", d.Hidden, d.Hidden, true),
			V:   p.linear(g, l+".self_attn.v_proj", d.Hidden, d.Hidden, true),
			Out: p.linear(g, l+".self_attn.out_proj", d.Hidden, d.Hidden, true),
		}
		if p.err != nil {
			return nil
		}
		h = nn.Attention(g, l+".self_attn", h, h, att, d.Heads, nn.AttentionOptions{Mask: mask})
		x = g.Add(x, h, graph.Named(l+".attn_residual"))
		h = p.layerNorm(g, l+".layer_norm2", x, d.Hidden, d.Eps)
		fc1 := p.linear(g, l+".mlp.fc1", d.Intermediate, d.Hidden, true)
		fc2 := p.linear(g, l+".mlp.fc2", d.Hidden, d.Intermediate, true)
		if p.err != nil {
			return nil
		}
		h = activation(g, l+".mlp.act", d.Act, fc1.Apply(g, l+".mlp.fc1", h))
		x = g.Add(x, fc2.Apply(g, l+".mlp.fc2", h), graph.Named(l+".mlp_residual"))
		if progress != nil {
			progress(i + 1)
		}
	}
	return x
}

// buildVision builds the vision tower: NHWC pixels → patch CONV_2D → [CLS] + patches +
// positions → pre-LN → encoder → post-LN of [CLS] → visual projection → L2 normalisation.
func buildVision(w convert.Weights, d visionDims, projection int, progress func(layer int)) (*graph.Graph, error) {
	if d.Patch <= 0 || d.ImageSize%d.Patch != 0 {
		return nil, fmt.Errorf("clip: image size %d is not a multiple of the patch size %d", d.ImageSize, d.Patch)
	}
	g := graph.New("clip_vision")
	g.SetDescription("edged CLIP vision tower")
	p := &params{w: w}
	grid := d.ImageSize / d.Patch
	tokens := grid*grid + 1
	const pre = "vision_model"

	x := g.Input(InputPixels, graph.Float32, 1, d.ImageSize, d.ImageSize, d.Channels)
	// PyTorch's filter is [out, in, kh, kw]; TFLite's CONV_2D wants [out, kh, kw, in].
	filter := p.get(pre+".embeddings.patch_embedding.weight", d.Hidden, d.Channels, d.Patch, d.Patch)
	cls := p.get(pre+".embeddings.class_embedding", d.Hidden)
	pos := p.get(pre+".embeddings.position_embedding.weight", tokens, d.Hidden)
	if p.err != nil {
		return nil, p.err
	}
	f := g.Const(pre+".embeddings.patch_embedding.weight", ochwToOhwc(filter, d.Hidden, d.Channels, d.Patch, d.Patch), d.Hidden, d.Patch, d.Patch, d.Channels)
	patches := g.Conv2D(x, f, nil, graph.Conv2DParams{StrideH: d.Patch, StrideW: d.Patch, Padding: tfl.PaddingValid}, graph.Named(pre+".embeddings.patches"))
	seq := g.Reshape(patches, []int{1, grid * grid, d.Hidden}, graph.Named(pre+".embeddings.patch_tokens"))
	seq = g.Concat([]*graph.Tensor{g.Const(pre+".embeddings.class_embedding", cls, 1, 1, d.Hidden), seq}, 1, graph.Named(pre+".embeddings.tokens"))
	seq = g.Add(seq, g.Const(pre+".embeddings.position_embedding.weight", pos, 1, tokens, d.Hidden), graph.Named(pre+".embeddings"))
	h := p.layerNorm(g, pre+".pre_layrnorm", seq, d.Hidden, d.Eps)
	h = p.encoder(g, pre+".encoder", h, d.encoderDims, nil, progress)
	// transformers pools the [CLS] token and layer-norms it (post_layernorm).
	clsOut := g.StridedSlice(h, []int{0, 0, 0}, []int{1, 1, d.Hidden}, []int{1, 1, 1}, graph.SliceMasks{ShrinkAxis: 1 << 1}, graph.Named(pre+".pooled"))
	pooled := p.layerNorm(g, pre+".post_layernorm", clsOut, d.Hidden, d.Eps)
	proj := p.linear(g, "visual_projection", projection, d.Hidden, false)
	if p.err != nil {
		return nil, p.err
	}
	emb := proj.Apply(g, "visual_projection", pooled)
	g.Output(OutputImage, g.L2Normalize(emb))
	if err := g.Err(); err != nil {
		return nil, err
	}
	return g, nil
}

// buildText builds the text tower at a dynamic token count S: token + position embeddings →
// causal encoder → final LN of the last token → text projection → L2 normalisation.
//
// The last token is the pooled one: the caller passes the ids up to and including the token
// transformers pools at (see poolIndex). With causal attention no token sees a later one, so
// this gives the embedding of the full padded context, at a fraction of the cost.
// The causal mask is made in the graph from the positions (which also index the position
// embeddings): mask[i][j] = MaskValue · max(j - i, 0), so it always fits S.
//
// Ids and positions share one input, [2, S], because the runtime resizes one input at a time
// and re-allocates after each: two [1, S] inputs would disagree in between and fail.
func buildText(w convert.Weights, d textDims, projection int, progress func(layer int)) (*graph.Graph, error) {
	g := graph.New("clip_text")
	g.SetDescription("edged CLIP text tower")
	p := &params{w: w}
	const pre = "text_model"

	tokens := g.Input(InputTokens, graph.Int32, 2, graph.Dynamic)
	ids := g.StridedSlice(tokens, []int{0, 0}, []int{1, 0}, []int{1, 1}, graph.SliceMasks{End: 1 << 1}, graph.Named(pre+".input_ids"))
	positions := g.StridedSlice(tokens, []int{1, 0}, []int{2, 0}, []int{1, 1}, graph.SliceMasks{End: 1 << 1}, graph.Named(pre+".position_ids"))
	tok := p.get(pre+".embeddings.token_embedding.weight", d.Vocab, d.Hidden)
	pos := p.get(pre+".embeddings.position_embedding.weight", d.Context, d.Hidden)
	if p.err != nil {
		return nil, p.err
	}
	x := g.Add(
		g.Gather(g.Const(pre+".embeddings.token_embedding.weight", tok, d.Vocab, d.Hidden), ids, 0, graph.Named(pre+".embeddings.tokens")),
		g.Gather(g.Const(pre+".embeddings.position_embedding.weight", pos, d.Context, d.Hidden), positions, 0, graph.Named(pre+".embeddings.positions")),
		graph.Named(pre+".embeddings"))

	pf := g.Cast(positions, graph.Float32, graph.Named(pre+".mask.positions"))
	query := g.Reshape(pf, []int{1, 1, -1, 1}, graph.Named(pre+".mask.query"))
	key := g.Reshape(pf, []int{1, 1, 1, -1}, graph.Named(pre+".mask.key"))
	ahead := g.Sub(key, query, graph.Fused(tfl.ActRelu), graph.Named(pre+".mask.ahead")) // max(j-i, 0)
	mask := g.Mul(ahead, g.Scalar(pre+".mask.value", nn.MaskValue), graph.Named(pre+".mask"))

	h := p.encoder(g, pre+".encoder", x, d.encoderDims, mask, progress)
	last := g.StridedSlice(h, []int{0, -1, 0}, []int{1, 0, d.Hidden}, []int{1, 1, 1}, graph.SliceMasks{ShrinkAxis: 1 << 1}, graph.Named(pre+".pooled"))
	// The final layer norm acts on each token alone: normalising only the pooled one is the same.
	pooled := p.layerNorm(g, pre+".final_layer_norm", last, d.Hidden, d.Eps)
	proj := p.linear(g, "text_projection", projection, d.Hidden, false)
	if p.err != nil {
		return nil, p.err
	}
	g.Output(OutputText, g.L2Normalize(proj.Apply(g, "text_projection", pooled)))
	if err := g.Err(); err != nil {
		return nil, err
	}
	return g, nil
}

// ochwToOhwc reorders a PyTorch conv filter [o, c, h, w] into TFLite's [o, h, w, c].
func ochwToOhwc(src []float32, o, c, h, w int) []float32 {
	dst := make([]float32, len(src))
	for oi := 0; oi < o; oi++ {
		for ci := 0; ci < c; ci++ {
			for hi := 0; hi < h; hi++ {
				for wi := 0; wi < w; wi++ {
					dst[((oi*h+hi)*w+wi)*c+ci] = src[((oi*c+ci)*h+hi)*w+wi]
				}
			}
		}
	}
	return dst
}
