// Package export converts Hugging Face BLIP checkpoints (captioning, visual question answering,
// image-text retrieval) into bundles of TFLite models, per class:
//
//	BlipForConditionalGeneration: vision, cross_kv, decoder_step
//	BlipForQuestionAnswering:     vision, question_encoder, cross_kv, decoder_step
//	BlipForImageTextRetrieval:    vision (with the ITC image feature), itm, itc_text
//
// Package spec names the models' tensors and the manifest values; package models lists
// Converter among the architectures edged converts.
package export

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/hf"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/quant"
	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/tokenizer"
)

// DefaultPrecision is what a BLIP checkpoint converts to when no precision is asked for: int8,
// the vision tower full int8 and the text models int8-dynamic on edged's kernels (fp32 on a CPU
// without them: see calibrate.go and TextPrecision).
// The full-int8 vision tower runs in XNNPACK's int8 kernels at a quarter of fp32's size, on
// disk and in memory; int8-dynamic is a quarter on disk only (its weights are dequantized at
// load, convert.Lowering). The shapes models give transformers' captions and answers at int8
// as at fp32. Figures: BENCHMARKS.md, "Default precisions".
const DefaultPrecision = graph.Int8Full

// TextPrecision is the precision of the models that see text (the text encoders, the image's
// cross-attention keys and values, the decoder step) in a bundle of precision p: p itself, but
// at full int8, where only the vision tower is calibrated (see calibrate.go), int8-dynamic when
// edged's kernels run on this CPU (runtime/kernels: a float FULLY_CONNECTED on the DEQUANTIZE
// of int8 weights is theirs, weights and all) and fp32 otherwise. The kernels hold the int8
// weights alone, a quarter of fp32's memory, and compute float32's results on the dequantized
// weights up to the order of the sums. Without them an int8-dynamic file costs twice fp32's
// memory: its weights are dequantized at load (convert.Lowering) and XNNPACK keeps that copy
// beside the one it packs, while an fp32 file is packed once. A bundle converted here and run
// with runtime.kernels: off pays that. Figures: BENCHMARKS.md, "Memory and the hot path" and
// "Weight-only int8 text models".
func TextPrecision(p graph.Precision) graph.Precision {
	switch {
	case p != graph.Int8Full:
		return p
	case kernels.Best() != "":
		return graph.Int8Dynamic
	}
	return graph.FP32
}

// Revision numbers the BLIP bundles this package writes (convert.Architecture.Revision):
// bump it with any change to the models' graphs or lowering, or to how the files are laid out
// (4: the weights after the constants read at run time, tfl's dataLayout).
const Revision = 4

// Converter converts the three BLIP checkpoint classes (package models lists it under each of
// spec.ArchCaption, spec.ArchVQA and spec.ArchRetrieval).
var Converter = convert.Architecture{
	Convert:          exportBundle,
	RandomInit:       randomInit,
	DefaultPrecision: DefaultPrecision,
	Revision:         Revision,
}

// exportBundle is convert's entry point for the three BLIP architectures: it builds every
// model of the checkpoint's class and writes them at the asked precision with the values
// inference needs.
func exportBundle(src *convert.Source, w *convert.Writer, opts convert.Options) error {
	cfgFile, err := hf.ParseConfig(src.Config, src.Dir+"/config.json")
	if err != nil {
		return err
	}
	cfg, err := cfgFile.Blip()
	if err != nil {
		return err
	}
	s, err := shapeFromConfig(src.Architecture, cfg)
	if err != nil {
		return err
	}
	if err := convert.CheckTokenizer(src.Dir, cfg.Text.VocabSize, tokenizer.LoadBERT); err != nil {
		return fmt.Errorf("blip: %w", err)
	}
	p := w.Progress()
	models := builders(s)
	// At full int8 the vision tower is calibrated first (see calibrate.go), on a graph of its
	// own that is dropped while the calibration runs, and built again below.
	var ranges map[string]quant.Range
	if opts.Precision == graph.Int8Full {
		var info bundle.CalibrationInfo
		if ranges, info, err = calibrateVision(src, s, models[0], opts); err != nil {
			return fmt.Errorf("blip: %w", err)
		}
		w.SetCalibration(info)
	}
	const step = "blip: build and write models"
	for i, b := range models {
		p.Step(step, i, len(models))
		lower := convert.Lowering(opts.Precision)
		switch {
		case opts.Observe:
			lower.ObserveAll = true
		case opts.Precision == graph.Int8Full && b.role == spec.RoleVision:
			lower.Ranges, lower.KeepFloat = ranges, keepFloat
		case opts.Precision == graph.Int8Full && opts.Ranges[b.role] != nil:
			lower.Ranges, lower.KeepFloat = opts.Ranges[b.role], keepFloatText
		case opts.Precision == graph.Int8Full:
			lower = convert.Lowering(TextPrecision(opts.Precision))
		}
		g, err := buildModel(s, b, src.Weights)
		if err != nil {
			return fmt.Errorf("blip: %w", err)
		}
		data, err := g.MarshalWith(lower)
		if err != nil {
			return fmt.Errorf("blip: %s model: %w", b.role, err)
		}
		if err := w.AddModel(b.role, lower.Precision.String(), data); err != nil {
			return err
		}
		// Give a real-size model's weights back before the next one is built.
		g, data = nil, nil
		debug.FreeOSMemory()
	}
	p.Step(step, len(models), len(models))
	t := cfg.Text
	for name, v := range map[string]any{
		spec.ValueImageSize: s.vision.ImageSize, spec.ValueVisionTokens: s.vision.tokens(), spec.ValueVisionHidden: s.vision.Hidden,
		spec.ValueTextHidden: t.HiddenSize, spec.ValueTextHeads: t.NumAttentionHeads, spec.ValueTextLayers: t.NumHiddenLayers,
		spec.ValueVocabSize: t.VocabSize, spec.ValueTextContext: s.context, spec.ValueDecoderCache: s.cache,
		spec.ValueBosTokenID: t.BosTokenID, spec.ValueSepTokenID: t.SepTokenID, spec.ValuePadTokenID: t.PadTokenID,
		spec.ValueMaxPositions: t.MaxPositionEmbeddings,
	} {
		w.SetValue(name, v)
	}
	switch s.arch {
	case spec.ArchCaption:
		w.SetValue(spec.ValueCrossLength, s.vision.tokens())
	case spec.ArchVQA:
		w.SetValue(spec.ValueCrossLength, s.context)
	case spec.ArchRetrieval:
		w.SetValue(spec.ValueProjection, s.projection)
	}
	return nil
}

// randomInit draws --random-init weights as BlipPreTrainedModel._init_weights does: dense,
// convolution and embedding weights from N(0, 0.02), biases zero, layer norms one and zero.
func randomInit(_ *convert.Source, name string, _ []int) convert.Init {
	switch {
	case strings.Contains(name, "LayerNorm.") || strings.Contains(name, "layer_norm") || strings.Contains(name, "layernorm"):
		if strings.HasSuffix(name, ".weight") {
			return convert.Init{Mean: 1}
		}
		return convert.Init{}
	case strings.HasSuffix(name, ".bias") || strings.HasSuffix(name, "predictions.bias"):
		return convert.Init{}
	}
	return convert.Init{Std: 0.02}
}
