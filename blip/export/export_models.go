package export

import (
	"fmt"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
)

// shape is what every export needs to know about a checkpoint besides its weights.
type shape struct {
	arch   string
	vision visionDims
	text   textDims
	// ITC projection width (image_text_hidden_size), retrieval only.
	projection int
	// context is the fixed token length of the text encoders (questions, matched texts).
	context int
	// cache is the number of self-attention cache slots of the decoder step: the longest
	// sequence (prompt and generated tokens) it can decode.
	cache int
}

// Defaults for the fixed lengths, capped by max_position_embeddings. BLIP's own code limits
// questions and retrieval texts to 35 tokens; 64 decoder slots hold transformers' default
// max_length of 20 with room for a prompt and longer captions, at a cache small enough to
// copy cheaply every step.
const (
	defaultTextContext = 35
	defaultCacheSlots  = 64
)

func newShape(arch string, v visionDims, t textDims, projection int) (shape, error) {
	s := shape{arch: arch, vision: v, text: t, projection: projection,
		context: min(defaultTextContext, t.MaxPositions), cache: min(defaultCacheSlots, t.MaxPositions)}
	if err := v.check(); err != nil {
		return s, err
	}
	if err := t.check(); err != nil {
		return s, err
	}
	switch arch {
	case spec.ArchCaption:
	case spec.ArchVQA:
	case spec.ArchRetrieval:
		if projection <= 0 {
			return s, fmt.Errorf("image_text_hidden_size %d must be positive", projection)
		}
	default:
		return s, fmt.Errorf("not a BLIP architecture: %q", arch)
	}
	return s, nil
}

// modelBuilder builds one model of a bundle. Builders run one at a time, so that only one
// model's float weights are in memory at once (BLIP base: about 500 MB for the decoder rather
// than 900 MB for all), which matters when a Raspberry Pi converts its own checkpoint.
type modelBuilder struct {
	role  string
	build func(g *graph.Graph, l *convert.WeightReader)
}

// builders lists the models of the architecture in the order they are written; the vision
// tower is always first.
func builders(s shape) []modelBuilder {
	vt := s.vision.tokens()
	vision := modelBuilder{spec.RoleVision, func(g *graph.Graph, l *convert.WeightReader) {
		g.Output(spec.OutImageEmbeds, buildVision(g, s.vision, l))
	}}
	switch s.arch {
	case spec.ArchCaption:
		return []modelBuilder{
			vision,
			{spec.RoleCrossKV, func(g *graph.Graph, l *convert.WeightReader) { buildCrossKV(g, s.text, l, vt, s.vision.Hidden) }},
			{spec.RoleDecoderStep, func(g *graph.Graph, l *convert.WeightReader) { buildDecoderStep(g, s.text, l, s.cache, vt) }},
		}
	case spec.ArchVQA:
		return []modelBuilder{
			vision,
			{spec.RoleQuestionEncoder, func(g *graph.Graph, l *convert.WeightReader) {
				ids, bias := textInputs(g, s.context)
				image := g.Input(spec.InImageEmbeds, graph.Float32, 1, vt, s.vision.Hidden)
				g.Output(spec.OutQuestionStates, buildTextEncoder(g, s.text, l, textEncoderPrefix, s.context, ids, bias, image))
			}},
			{spec.RoleCrossKV, func(g *graph.Graph, l *convert.WeightReader) { buildCrossKV(g, s.text, l, s.context, s.text.Hidden) }},
			{spec.RoleDecoderStep, func(g *graph.Graph, l *convert.WeightReader) { buildDecoderStep(g, s.text, l, s.cache, s.context) }},
		}
	case spec.ArchRetrieval:
		return []modelBuilder{
			{spec.RoleVision, func(g *graph.Graph, l *convert.WeightReader) {
				embeds := buildVision(g, s.vision, l)
				g.Output(spec.OutImageEmbeds, embeds)
				feat := linear(g, l, "itc/vision_proj", "vision_proj", firstToken(g, "itc/image_cls", embeds), s.projection, s.vision.Hidden)
				g.Output(spec.OutImageFeat, g.L2Normalize(feat, graph.Named("itc/image_feat")))
			}},
			{spec.RoleITM, func(g *graph.Graph, l *convert.WeightReader) {
				ids, bias := textInputs(g, s.context)
				image := g.Input(spec.InImageEmbeds, graph.Float32, 1, vt, s.vision.Hidden)
				h := buildTextEncoder(g, s.text, l, textEncoderPrefix, s.context, ids, bias, image)
				g.Output(spec.OutITMLogits, linear(g, l, "itm/head", "itm_head", firstToken(g, "itm/cls", h), 2, s.text.Hidden))
			}},
			{spec.RoleITCText, func(g *graph.Graph, l *convert.WeightReader) {
				ids, bias := textInputs(g, s.context)
				h := buildTextEncoder(g, s.text, l, textEncoderPrefix, s.context, ids, bias, nil)
				feat := linear(g, l, "itc/text_proj", "text_proj", firstToken(g, "itc/text_cls", h), s.projection, s.text.Hidden)
				g.Output(spec.OutTextFeat, g.L2Normalize(feat, graph.Named("itc/text_feat")))
			}},
		}
	}
	return nil
}

// buildModel builds one model from the weights; a missing or misshapen weight is an error
// naming it and the class the config claims.
func buildModel(s shape, b modelBuilder, w convert.Weights) (*graph.Graph, error) {
	l := convert.NewWeightReader(w)
	g := graph.New("blip_" + b.role)
	g.SetDescription(fmt.Sprintf("%s %s, exported by edged", s.arch, b.role))
	b.build(g, l)
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("%s weights: %w", s.arch, err)
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("build %s: %w", b.role, err)
	}
	return g, nil
}
