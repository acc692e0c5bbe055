// Package synth builds transformer towers of real size with random weights straight from
// graph and graph/nn, independently of the clip and blip packages: the ViT image towers of
// CLIP ViT-B/32 and BLIP base (384), CLIP's text tower at a given token length. They exist to
// measure the runtime's speed at each precision and delegate, and to compare ways of writing
// the same maths (layer norm, GELU, attention) by how much of them XNNPACK takes and how fast
// they run. Every variant computes the same function as the reference form up to float
// rounding (GELUSigmoid excepted: it is the tanh approximation of GELU, written exactly).
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
	"github.com/edged/edged/internal/graph/tfl"
)

// Activation is the MLP's non-linearity.
type Activation int

const (
	QuickGELU   Activation = iota // CLIP: x·σ(1.702x)
	GELU                          // BLIP/BERT: exact erf GELU (TFLite GELU op)
	GELUSigmoid                   // tanh-approximated GELU as x·σ(2·√(2/π)·(x+0.044715x³)): MUL, ADD and LOGISTIC only
)

// LayerNormForm chooses how layer norm is written.
type LayerNormForm int

const (
	// LayerNormMean is nn.LayerNorm: MEAN over the last axis, SQUARED_DIFFERENCE, MEAN, ADD,
	// RSQRT, SUB, MUL, MUL, ADD (as the TFLite converter lowers it).
	LayerNormMean LayerNormForm = iota
	// LayerNormFC computes both means as a FULLY_CONNECTED with a constant [1, D] weight of
	// 1/D, which XNNPACK takes (its MEAN takes only 4-D spatial means). RSQRT stays.
	LayerNormFC

	layerNormNone // ablation only
)

// Variant is a way of writing the tower's maths.
type Variant struct {
	Act       Activation
	LayerNorm LayerNormForm
	// Ablate removes parts to attribute time (the result is no longer the model):
	// "ln" makes every layer norm the identity, "attn" replaces softmax(q·kᵀ)·v by q (the four
	// projections stay).
	Ablate string
}

// ViTConfig is the shape of a ViT image tower.
type ViTConfig struct {
	Name                      string
	ImageSize, PatchSize      int
	Width, Layers, Heads, MLP int
	Act                       Activation
	Eps                       float32
	// PreLN adds CLIP's pre_layrnorm after the embeddings.
	PreLN bool
	// Projection > 0 pools the class token (post layer norm on it alone, as CLIP does),
	// projects it to this size without bias and L2-normalises it; 0 outputs the whole
	// post-normed sequence [1, tokens, width] (BLIP).
	Projection int
}

// Tokens is the sequence length: one per patch plus the class token.
func (c ViTConfig) Tokens() int { return (c.ImageSize/c.PatchSize)*(c.ImageSize/c.PatchSize) + 1 }

// MACs is the number of multiply-accumulates of one image through the tower.
func (c ViTConfig) MACs() int64 {
	s, d, m := int64(c.Tokens()), int64(c.Width), int64(c.MLP)
	p := int64(c.PatchSize)
	patches := s - 1
	macs := patches * p * p * 3 * d         // patch embedding
	perLayer := s*4*d*d + s*2*d*m + 2*s*s*d // projections, MLP, scores and context
	macs += int64(c.Layers) * perLayer
	if c.Projection > 0 {
		macs += d * int64(c.Projection)
	}
	return macs
}

// CLIPB32Vision is CLIPConfig()'s vision tower (ViT-B/32 at 224, projection 512).
func CLIPB32Vision() ViTConfig {
	return ViTConfig{Name: "clip-b32-vision", ImageSize: 224, PatchSize: 32, Width: 768, Layers: 12, Heads: 12, MLP: 3072, Act: QuickGELU, Eps: 1e-5, PreLN: true, Projection: 512}
}

// BLIPBaseVision is BlipConfig()'s vision tower (ViT-B/16 at 384, last hidden state).
func BLIPBaseVision() ViTConfig {
	return ViTConfig{Name: "blip-base-vision", ImageSize: 384, PatchSize: 16, Width: 768, Layers: 12, Heads: 12, MLP: 3072, Act: GELU, Eps: 1e-5}
}

// TextConfig is the shape of CLIP's text tower.
type TextConfig struct {
	Name                             string
	Vocab, Width, Layers, Heads, MLP int
	Eps                              float32
	Projection                       int
}

// CLIPB32Text is CLIPConfig()'s text tower.
func CLIPB32Text() TextConfig {
	return TextConfig{Name: "clip-b32-text", Vocab: 49408, Width: 512, Layers: 12, Heads: 8, MLP: 2048, Eps: 1e-5, Projection: 512}
}

// weights draws the random constants of one model, reproducibly.
type weights struct {
	g   *graph.Graph
	rng *rand.Rand
}

func (w *weights) normal(n int, std float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(w.rng.NormFloat64() * std)
	}
	return out
}

func (w *weights) linear(name string, out, in int, bias bool) nn.Linear {
	var b []float32
	if bias {
		b = w.normal(out, 0.02)
	}
	return nn.NewLinear(w.g, name, w.normal(out*in, 1/math.Sqrt(float64(in))), out, in, b)
}

// norm draws a layer norm's scale (near 1) and shift.
func (w *weights) norm(name string, dim int) nn.Norm {
	gamma := make([]float32, dim)
	for i := range gamma {
		gamma[i] = 1 + float32(w.rng.NormFloat64()*0.1)
	}
	return nn.Norm{Gamma: w.g.Const(name+".weight", gamma, dim), Beta: w.g.Const(name+".bias", w.normal(dim, 0.05), dim)}
}

func (w *weights) layerNorm(name string, x *graph.Tensor, dim int, eps float32, form LayerNormForm) *graph.Tensor {
	n := w.norm(name, dim)
	return LayerNorm(w.g, name, x, n.Gamma, n.Beta, eps, form)
}

// LayerNorm is nn.LayerNorm written in the given form.
func LayerNorm(g *graph.Graph, name string, x, gamma, beta *graph.Tensor, eps float32, form LayerNormForm) *graph.Tensor {
	if form == LayerNormMean {
		return nn.LayerNorm(g, name, x, gamma, beta, eps)
	}
	if form == layerNormNone {
		return x
	}
	d := x.Dim(-1)
	avg := make([]float32, d)
	for i := range avg {
		avg[i] = 1 / float32(d)
	}
	avgW := g.Const(name+"/avg", avg, 1, d)
	mean := g.FullyConnected(x, avgW, nil, graph.Named(name+"/mean"))
	sq := g.SquaredDifference(x, mean, graph.Named(name+"/sqdiff"))
	variance := g.FullyConnected(sq, avgW, nil, graph.Named(name+"/variance"))
	inv := g.Rsqrt(g.Add(variance, g.Scalar(name+"/eps", eps), graph.Named(name+"/variance_eps")), graph.Named(name+"/rsqrt"))
	normed := g.Mul(g.Sub(x, mean, graph.Named(name+"/centered")), inv, graph.Named(name+"/normalized"))
	return g.Add(g.Mul(normed, gamma, graph.Named(name+"/scaled")), beta, graph.Named(name))
}

func activation(g *graph.Graph, name string, x *graph.Tensor, a Activation) *graph.Tensor {
	switch a {
	case QuickGELU:
		return nn.QuickGELU(g, name, x)
	case GELU:
		return nn.GELU(g, name, x)
	}
	// 0.5·x·(1+tanh(z)) = x·σ(2z), z = √(2/π)·(x + 0.044715·x³) = x·(c + c·0.044715·x²)
	c := float32(math.Sqrt(2 / math.Pi))
	x2 := g.Mul(x, x, graph.Named(name+"/x2"))
	poly := g.Add(g.Mul(x2, g.Scalar(name+"/c3", 2*c*0.044715), graph.Named(name+"/x2c")), g.Scalar(name+"/c1", 2*c), graph.Named(name+"/poly"))
	s := g.Logistic(g.Mul(x, poly, graph.Named(name+"/z")), graph.Named(name+"/sigmoid"))
	return g.Mul(x, s, graph.Named(name))
}

// encoderLayer is nn.EncoderLayer with random weights, in the forms v chooses.
func (w *weights) encoderLayer(name string, x *graph.Tensor, width, heads, mlp int, eps float32, act Activation, v Variant, attention nn.AttentionOptions) *graph.Tensor {
	layer := nn.EncoderLayer{
		LN1: w.norm(name+"/ln1", width),
		Attention: nn.AttentionWeights{
			Q: w.linear(name+"/q", width, width, true), K: w.linear(name+"/k", width, width, true),
			V: w.linear(name+"/v", width, width, true), Out: w.linear(name+"/o", width, width, true),
		},
		LN2: w.norm(name+"/ln2", width),
		FC1: w.linear(name+"/fc1", mlp, width, true),
		FC2: w.linear(name+"/fc2", width, mlp, true),
	}
	opts := nn.EncoderOptions{
		Heads: heads, Eps: eps, Attention: attention,
		Activation: func(g *graph.Graph, name string, x *graph.Tensor) *graph.Tensor { return activation(g, name, x, act) },
	}
	if v.LayerNorm != LayerNormMean {
		opts.LayerNorm = func(g *graph.Graph, name string, x, gamma, beta *graph.Tensor, eps float32) *graph.Tensor {
			return LayerNorm(g, name, x, gamma, beta, eps, v.LayerNorm)
		}
	}
	if v.Ablate == "attn" {
		opts.Attend = func(g *graph.Graph, name string, x *graph.Tensor, aw nn.AttentionWeights, _ int, _ nn.AttentionOptions) *graph.Tensor {
			q := aw.Q.Apply(g, name+"/q_proj", x)
			k := aw.K.Apply(g, name+"/k_proj", x)
			v := aw.V.Apply(g, name+"/v_proj", x)
			return aw.Out.Apply(g, name+"/out_proj", g.Add(g.Add(q, k), v))
		}
	}
	return layer.Apply(w.g, name, x, opts)
}

// BuildViT builds the image tower of c with random weights from seed: input "pixel_values"
// [1, H, W, 3] float32; output "image_embeds" [1, Projection] or "last_hidden_state".
func BuildViT(c ViTConfig, v Variant, seed uint64) (*graph.Graph, error) {
	g := graph.New(c.Name)
	w := &weights{g: g, rng: rand.New(rand.NewPCG(seed, 1))}
	if v.Ablate == "ln" {
		v.LayerNorm = layerNormNone
	}
	act := c.Act
	if v.Act == GELUSigmoid && act == GELU {
		act = GELUSigmoid
	}
	d := c.Width
	x := g.Input("pixel_values", graph.Float32, 1, c.ImageSize, c.ImageSize, 3)
	filter := g.Const("patch_embedding.weight", w.normal(d*c.PatchSize*c.PatchSize*3, 0.02), d, c.PatchSize, c.PatchSize, 3)
	var bias *graph.Tensor
	if c.Projection == 0 { // BLIP's patch embedding has a bias; CLIP's has none
		bias = g.Const("patch_embedding.bias", w.normal(d, 0.02), d)
	}
	cls := g.Const("class_embedding", w.normal(d, 0.02), 1, 1, d)
	h := nn.ViTEmbeddings(g, "embeddings", x, filter, bias, cls, g.Const("position_embedding", w.normal(c.Tokens()*d, 0.02), 1, c.Tokens(), d))
	if c.PreLN {
		h = w.layerNorm("pre_ln", h, d, c.Eps, v.LayerNorm)
	}
	for i := 0; i < c.Layers; i++ {
		h = w.encoderLayer(fmt.Sprintf("layer%d", i), h, d, c.Heads, c.MLP, c.Eps, act, v, nn.AttentionOptions{})
	}
	if c.Projection == 0 {
		g.Output("last_hidden_state", w.layerNorm("post_ln", h, d, c.Eps, v.LayerNorm))
		return g, g.Err()
	}
	pooled := g.StridedSlice(h, []int{0, 0, 0}, []int{1, 1, d}, []int{1, 1, 1}, graph.SliceMasks{ShrinkAxis: 2}, graph.Named("pooled"))
	pooled = w.layerNorm("post_ln", pooled, d, c.Eps, v.LayerNorm)
	proj := g.FullyConnected(pooled, g.Const("visual_projection.weight", w.normal(c.Projection*d, 1/math.Sqrt(float64(d))), c.Projection, d), nil, graph.Named("projected"))
	g.Output("image_embeds", g.L2Normalize(proj, graph.Named("normalized")))
	return g, g.Err()
}

// BuildText builds CLIP's text tower for exactly tokens tokens (the label's real length, end
// token last): input "input_ids" [1, tokens] int32, output "text_embeds" [1, Projection],
// pooled at the last position, projected and L2-normalised.
func BuildText(c TextConfig, v Variant, tokens int, seed uint64) (*graph.Graph, error) {
	g := graph.New(c.Name)
	w := &weights{g: g, rng: rand.New(rand.NewPCG(seed, 2))}
	if v.Ablate == "ln" {
		v.LayerNorm = layerNormNone
	}
	d := c.Width
	ids := g.Input("input_ids", graph.Int32, 1, tokens)
	h := g.Gather(g.Const("token_embedding", w.normal(c.Vocab*d, 0.02), c.Vocab, d), ids, 0, graph.Named("token_embeds"))
	h = g.Add(h, g.Const("position_embedding", w.normal(tokens*d, 0.01), 1, tokens, d), graph.Named("embeddings"))
	for i := 0; i < c.Layers; i++ {
		h = w.encoderLayer(fmt.Sprintf("layer%d", i), h, d, c.Heads, c.MLP, c.Eps, QuickGELU, v, nn.AttentionOptions{Causal: true})
	}
	h = w.layerNorm("final_ln", h, d, c.Eps, v.LayerNorm)
	pooled := g.StridedSlice(h, []int{0, tokens - 1, 0}, []int{1, tokens, d}, []int{1, 1, 1}, graph.SliceMasks{ShrinkAxis: 2}, graph.Named("pooled"))
	proj := g.FullyConnected(pooled, g.Const("text_projection.weight", w.normal(c.Projection*d, 1/math.Sqrt(float64(d))), c.Projection, d), nil, graph.Named("projected"))
	g.Output("text_embeds", g.L2Normalize(proj, graph.Named("normalized")))
	return g, g.Err()
}

// KeepLayerNormFloat is a LowerOptions.KeepFloat that keeps every layer norm in float32
// (the operators named ".../ln1/...", "post_ln", ...), where int8 costs the most accuracy.
var KeepLayerNormFloat = nn.KeepFloat{Names: layerNormNames}.Keep

// KeepLayerNormAndSoftmaxFloat also keeps attention's softmax in float32.
var KeepLayerNormAndSoftmaxFloat = nn.KeepFloat{Ops: []tfl.BuiltinOp{tfl.OpSoftmax}, Names: layerNormNames}.Keep

// layerNormNames are where the layer norms of these towers are: the encoder layers' ln1 and
// ln2, and pre_ln, post_ln, final_ln.
var layerNormNames = []string{"/ln", "_ln"}

// BuildFCStack is the FULLY_CONNECTED work of a ViT alone: layers × (four width×width
// projections and the width→mlp→width MLP) on [1, tokens, width], chained with residual ADDs
// and nothing else. Its speed is the ceiling of what a tower of that size can reach with the
// runtime's matrix kernels.
func BuildFCStack(tokens, width, mlp, layers int, seed uint64) (*graph.Graph, error) {
	g := graph.New("fc_stack")
	w := &weights{g: g, rng: rand.New(rand.NewPCG(seed, 5))}
	x := g.Input("x", graph.Float32, 1, tokens, width)
	for i := 0; i < layers; i++ {
		n := fmt.Sprintf("layer%d", i)
		h := x
		for _, p := range []string{"q", "k", "v", "o"} {
			h = w.linear(n+"/"+p, width, width, true).Apply(g, n+"/"+p+"_out", h)
		}
		h = w.linear(n+"/fc1", mlp, width, true).Apply(g, n+"/fc1_out", g.Add(x, h, graph.Named(n+"/res1")))
		h = w.linear(n+"/fc2", width, mlp, true).Apply(g, n+"/fc2_out", h)
		x = g.Add(x, h, graph.Named(n+"/res2"))
	}
	g.Output("y", x)
	return g, g.Err()
}
