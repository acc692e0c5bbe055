// Package export converts Hugging Face CLIPModel checkpoints into bundles: the vision and text
// towers as TFLite graphs at the asked precision, with the values inference needs (package
// spec names them). Package models lists Converter among the architectures edged converts.
//
// A bundle holds two models, each with the projection and L2 normalisation built in:
//
//   - vision.tflite: pixel_values float32 [1, H, W, 3] (NHWC, preprocessed as the
//     checkpoint's CLIPImageProcessor does; package imageproc) → image_embeds [1, D].
//     Patch CONV_2D, [CLS] and position embeddings, pre-LN, encoder, post-LN of [CLS],
//     visual projection.
//   - text.tflite: tokens int32 [4, N] (rows: ids, positions, segments and pooled rows of one
//     or more texts packed together, see spec.RowIDs) → text_embeds [texts, D]. N is resized
//     per call and the causal mask, kept within each text, is computed in the graph, so the
//     tower runs at the texts' real length, which gives transformers' embedding of the padded
//     context (attention is causal and the pooled token is the last one) at a fraction of
//     the cost.
//
// The manifest records logit_scale (the softmax multiplier, exp of the checkpoint's
// parameter), context_length, projection_dim, eos_token_id and text_pooling ("argmax" when
// eos_token_id is 2, as in the released OpenAI configs, else "eos"), which say where
// transformers pools. At fp32, fp16 and int8-dynamic both towers take that precision; at int8
// the vision tower is full integer (activation ranges calibrated on images, layer norms,
// softmax, residual adds and the [CLS] concatenation kept float, see keepFloatVision) and the
// text tower is int8-dynamic: text embeddings are computed once per label set and cached, and
// calibrating text would need texts a checkpoint does not come with (see TextPrecision);
// edged convert --calibrate-text writes it at full int8 too, calibrated on the label sets'
// prompts, where a fidelity gate lets it (package textcal).
package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip/spec"
	"github.com/edged/edged/hf"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/nn"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/runtime/tflite"
	"github.com/edged/edged/tokenizer"
)

// DefaultPrecision is what a CLIP checkpoint converts to when no precision is asked for: full
// int8, whose vision tower runs in XNNPACK's int8 (QS8) kernels, the fastest of the four
// precisions, and agrees with transformers on the shapes scenes (BENCHMARKS.md, "Default
// precisions"). Full int8 needs calibration images that fit the model: the shapes models
// calibrate on rendered shapes scenes, any other checkpoint on the images it is given
// (--calibration, frames from the camera) and, without them, converts at
// convert.SafePrecision.
const DefaultPrecision = graph.Int8Full

// Converter converts CLIPModel checkpoints (package models lists it under spec.Architecture).
var Converter = convert.Architecture{
	Convert:          exportCLIP,
	RandomInit:       randomInit,
	DefaultPrecision: DefaultPrecision,
	Revision:         Revision,
}

// Revision numbers the CLIP bundles this package writes (convert.Architecture.Revision):
// bump it with any change to the towers' graphs or lowering, or to how the files are laid out
// (5: the weights after the constants read at run time, tfl's dataLayout).
const Revision = 5

// TextPrecision is the precision of the text tower in a bundle of precision p: p itself, but
// int8-dynamic at full int8. Its embeddings are computed once per label set and cached, so its
// speed matters little, and calibrating it would need representative texts that a checkpoint
// does not come with. Its int8 weights are dequantized to float32 at load (convert.Lowering):
// edged's kernels take each FULLY_CONNECTED with that DEQUANTIZE and hold the int8 weights
// alone (a quarter of fp32's memory); without them (runtime.kernels: off, or a CPU they do not
// run on) XNNPACK keeps the float32 copy beside the one it packs, about twice an fp32 file's
// memory, which CLIP's small text tower pays so that an int8 bundle stays a quarter of fp32 on
// disk (BLIP's, larger, are fp32 files then: blipexport.TextPrecision). Figures: BENCHMARKS.md,
// "Memory and the hot path" and "Weight-only int8 text models". A caller with the ranges of
// texts it will embed gets a full-int8 text tower instead (convert.Options.Ranges, package
// textcal; BENCHMARKS.md, "CLIP's text tower at full int8").
func TextPrecision(p graph.Precision) graph.Precision {
	if p == graph.Int8Full {
		return graph.Int8Dynamic
	}
	return p
}

// dims reads the tower sizes from a checkpoint's config.
func dims(src *convert.Source) (*hf.CLIPConfig, visionDims, textDims, error) {
	cfg, err := hf.ParseConfig(src.Config, filepath.Join(src.Dir, "config.json"))
	if err != nil {
		return nil, visionDims{}, textDims{}, err
	}
	c, err := cfg.CLIP()
	if err != nil {
		return nil, visionDims{}, textDims{}, err
	}
	v := visionDims{
		encoderDims: encoderDims{
			Hidden: c.Vision.HiddenSize, Intermediate: c.Vision.IntermediateSize, Layers: c.Vision.NumHiddenLayers,
			Heads: c.Vision.NumAttentionHeads, Eps: float32(c.Vision.LayerNormEps), Act: c.Vision.HiddenAct,
		},
		ImageSize: c.Vision.ImageSize, Patch: c.Vision.PatchSize, Channels: c.Vision.NumChannels,
	}
	t := textDims{
		encoderDims: encoderDims{
			Hidden: c.Text.HiddenSize, Intermediate: c.Text.IntermediateSize, Layers: c.Text.NumHiddenLayers,
			Heads: c.Text.NumAttentionHeads, Eps: float32(c.Text.LayerNormEps), Act: c.Text.HiddenAct,
		},
		Vocab: c.Text.VocabSize, Context: c.Text.MaxPositionEmbeddings,
	}
	if v.Channels != 3 {
		return nil, v, t, fmt.Errorf("clip: vision_config.num_channels is %d; edged feeds RGB images (3)", v.Channels)
	}
	return c, v, t, nil
}

// exportCLIP converts a CLIPModel checkpoint: the vision and text towers as separate models,
// the preprocessing config, and the values inference needs (logit scale, pooling rule).
//
// At full int8 the vision tower is calibrated on images; the text tower is int8-dynamic (see
// TextPrecision), or full int8 with the ranges opts.Ranges gives it (observed by the caller on
// a bundle written with opts.Observe, whose text tower has every activation as an output).
func exportCLIP(src *convert.Source, w *convert.Writer, opts convert.Options) error {
	c, vd, td, err := dims(src)
	if err != nil {
		return err
	}
	if err := convert.CheckTokenizer(src.Dir, td.Vocab, tokenizer.LoadCLIP); err != nil {
		return fmt.Errorf("clip: %w", err)
	}
	pre, preJSON, err := preprocessorConfig(src.Dir, vd.ImageSize)
	if err != nil {
		return err
	}
	if preJSON != nil {
		// The checkpoint has none: the bundle carries the one inference must use.
		if err := w.AddFile(bundle.RolePreprocessorConfig, "preprocessor_config.json", preJSON); err != nil {
			return err
		}
	}
	progress := w.Progress()

	vg, err := buildVision(src.Weights, vd, c.ProjectionDim, func(l int) { progress.Step("vision tower: build", l, vd.Layers) })
	if err != nil {
		return fmt.Errorf("vision tower: %w", err)
	}
	progress.Step("vision tower: build", vd.Layers, vd.Layers)
	lower := convert.Lowering(opts.Precision)
	if opts.Precision == graph.Int8Full {
		proc, err := imageproc.New(pre, imageproc.Options{})
		if err != nil {
			return fmt.Errorf("vision tower: calibration: %w", err)
		}
		ranges, info, err := convert.CalibrateImages(vg, opts, "vision tower: calibrate", func(ip *tflite.Interpreter, img image.Image) error {
			px, err := proc.Process(img, nil)
			if err != nil {
				return err
			}
			return ip.Input(0).SetFloat32(px)
		})
		if err != nil {
			return fmt.Errorf("vision tower: %w", err)
		}
		w.SetCalibration(info)
		lower.Ranges, lower.KeepFloat = ranges, keepFloatVision
	}
	if err := lowerAndAdd(w, vg, spec.RoleVisionTower, lower); err != nil {
		return err
	}
	vg = nil // let the weights go before the text tower's arrive

	tg, err := buildText(src.Weights, td, c.ProjectionDim, func(l int) { progress.Step("text tower: build", l, td.Layers) })
	if err != nil {
		return fmt.Errorf("text tower: %w", err)
	}
	progress.Step("text tower: build", td.Layers, td.Layers)
	lower = convert.Lowering(TextPrecision(opts.Precision))
	switch ranges := opts.Ranges[spec.RoleTextTower]; {
	case opts.Observe:
		lower.ObserveAll = true
	case opts.Precision == graph.Int8Full && ranges != nil:
		lower = convert.Lowering(graph.Int8Full)
		lower.Ranges, lower.KeepFloat = ranges, keepFloatText
	}
	if err := lowerAndAdd(w, tg, spec.RoleTextTower, lower); err != nil {
		return err
	}

	scale, err := src.Weights.Float32("logit_scale")
	if err != nil {
		return err
	}
	if len(scale) != 1 {
		return fmt.Errorf("clip: logit_scale has %d values, want 1", len(scale))
	}
	w.SetValue(spec.ValueLogitScale, math.Exp(float64(scale[0])))
	w.SetValue(spec.ValueContext, td.Context)
	w.SetValue(spec.ValueProjection, c.ProjectionDim)
	w.SetValue(spec.ValueEOSTokenID, c.Text.EosTokenID)
	w.SetValue(spec.ValueTextPooling, textPooling(c.Text.EosTokenID))
	return nil
}

// lowerAndAdd writes g at the given lowering into the bundle under role.
func lowerAndAdd(w *convert.Writer, g *graph.Graph, role string, lower graph.LowerOptions) error {
	step := role + " tower: write " + lower.Precision.String()
	w.Progress().Step(step, 0, 1)
	model, err := g.MarshalWith(lower)
	if err != nil {
		return fmt.Errorf("%s tower: %w", role, err)
	}
	if err := w.AddModel(role, lower.Precision.String(), model); err != nil {
		return err
	}
	w.Progress().Step(step, 1, 1)
	// A real-size tower is hundreds of megabytes of weights and as many of file: give them back
	// before the next tower instead of letting the heap grow to twice its peak (a Pi has little).
	debug.FreeOSMemory()
	return nil
}

// keepFloatVision keeps layer norms, softmax, the final L2 normalisation, the residual adds
// and the [CLS] concatenation in float in the full-int8 vision tower; the matmuls, the patch
// convolution and the activations run on int8. The concatenation matters most: int8
// CONCATENATION needs one set of parameters for all its inputs, so the class embedding, a
// hundred times smaller than the patch embeddings, is crushed to a few levels, and [CLS] is the
// token the tower pools. The residual stream is what 8 bits per tensor hold worst (a few
// channels dwarf the rest); keeping its adds float costs no speed because the layer norms that
// read it are float anyway. The final L2 normalisation has a fixed int8 output scale of 1/128,
// a handful of levels for the components of a 512-wide unit vector. Each step's effect on the
// shapes model and ViT-B/32: BENCHMARKS.md, "What CLIP's int8 vision tower keeps in float".
var keepFloatVision = nn.KeepFloat{
	Ops:   append(slices.Clone(nn.FloatOps), tfl.OpConcatenation),
	Names: []string{"/ln", "layrnorm", "layernorm"}, // the encoder layers' norms, pre_layrnorm, post_layernorm
}.Keep

// keepFloatText keeps in float, in a text tower written at full int8 (convert.Options.Ranges,
// calibrated on label prompts: package textcal), what keepFloatVision keeps in the vision
// tower but the concatenation (there is none), the embeddings, the attention mask and the
// residual stream's way to the final layer norm: a token's embedding is a row of a table that
// 8 bits per tensor would flatten (so the token table stays float32, the larger file); the
// mask's blocked entries are -1e9 where the others are 0, which one int8 scale cannot hold
// both of; and the residual stream is kept float up to its last layer norm (see
// keepFloatVision), so the rows of the pooled tokens are taken from it in float too.
var keepFloatText = nn.KeepFloat{
	Ops:   nn.FloatOps,
	Names: []string{"/ln", "final_layer_norm", "embeddings", ".mask", "text_model.tokens", "text_model.pooled"},
}.Keep

// textPooling names transformers' rule for the pooled text position: with eos_token_id 2 (the
// released OpenAI configs) the argmax of the ids, otherwise the first eos_token_id.
func textPooling(eos int) string {
	if eos == 2 {
		return "argmax"
	}
	return "eos"
}

// preprocessorConfig reads the checkpoint's preprocessor_config.json. A checkpoint without one
// gets CLIPImageProcessor's defaults at the model's image size, returned as JSON to store in
// the bundle.
func preprocessorConfig(dir string, imageSize int) (imageproc.Config, []byte, error) {
	path := filepath.Join(dir, "preprocessor_config.json")
	cfg, err := imageproc.LoadConfig(path)
	if err == nil {
		return cfg, nil, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return cfg, nil, err
	}
	if _, statErr := os.Stat(path); statErr == nil {
		return cfg, nil, err
	}
	d := imageproc.CLIPDefaults()
	doc := map[string]any{
		"image_processor_type": "CLIPImageProcessor",
		"do_resize":            true,
		"size":                 map[string]int{"shortest_edge": imageSize},
		"resample":             int(d.Resample),
		"do_center_crop":       true,
		"crop_size":            map[string]int{"height": imageSize, "width": imageSize},
		"do_rescale":           true,
		"rescale_factor":       d.RescaleFactor,
		"do_normalize":         true,
		"image_mean":           d.ImageMean,
		"image_std":            d.ImageStd,
		"do_convert_rgb":       true,
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return cfg, nil, err
	}
	cfg, err = imageproc.ParseConfig(data)
	return cfg, append(data, '\n'), err
}

// randomInit draws --random-init weights as transformers' CLIPPreTrainedModel._init_weights
// does (initializer_factor 1): normal with these deviations, layer norms at 1 and 0, biases 0.
func randomInit(src *convert.Source, name string, shape []int) convert.Init {
	c, vd, td, err := dims(src)
	if err != nil {
		return convert.Init{Std: 0.02}
	}
	hidden, layers := td.Hidden, td.Layers
	if strings.HasPrefix(name, "vision_model.") {
		hidden, layers = vd.Hidden, vd.Layers
	}
	h := float32(hidden)
	inv := func(x float32) float32 { return float32(1 / math.Sqrt(float64(x))) }
	switch {
	case name == "logit_scale":
		return convert.Init{Mean: float32(c.LogitScaleInitValue)}
	case strings.HasSuffix(name, ".bias"):
		return convert.Init{}
	case strings.Contains(name, "norm") || strings.Contains(name, "layrnorm"):
		return convert.Init{Mean: 1}
	case name == "text_model.embeddings.token_embedding.weight":
		return convert.Init{Std: 0.02}
	case name == "text_model.embeddings.position_embedding.weight":
		return convert.Init{Std: 0.01}
	case name == "vision_model.embeddings.class_embedding":
		return convert.Init{Std: inv(h)}
	case strings.HasPrefix(name, "vision_model.embeddings."):
		return convert.Init{Std: 0.02}
	case strings.Contains(name, "_proj.weight") && !strings.Contains(name, "out_proj"),
		strings.HasSuffix(name, "mlp.fc2.weight"):
		return convert.Init{Std: inv(h) * inv(2*float32(layers))}
	case strings.HasSuffix(name, "out_proj.weight"):
		return convert.Init{Std: inv(h)}
	case strings.HasSuffix(name, "mlp.fc1.weight"):
		return convert.Init{Std: inv(2 * h)}
	case name == "visual_projection.weight":
		return convert.Init{Std: inv(float32(vd.Hidden))}
	case name == "text_projection.weight":
		return convert.Init{Std: inv(float32(td.Hidden))}
	}
	return convert.Init{Std: 0.02}
}
