package export

import (
	"fmt"

	"github.com/edged/edged/hf"
)

// shapeFromConfig reads the sizes the export needs from a checkpoint's config.
func shapeFromConfig(arch string, c *hf.BlipConfig) (shape, error) {
	v := visionDims{
		Hidden: c.Vision.HiddenSize, Heads: c.Vision.NumAttentionHeads, Layers: c.Vision.NumHiddenLayers,
		Intermediate: c.Vision.IntermediateSize, ImageSize: c.Vision.ImageSize, PatchSize: c.Vision.PatchSize,
		Eps: float32(c.Vision.LayerNormEps), Act: c.Vision.HiddenAct,
	}
	t := textDims{
		Hidden: c.Text.HiddenSize, Heads: c.Text.NumAttentionHeads, Layers: c.Text.NumHiddenLayers,
		Intermediate: c.Text.IntermediateSize, Vocab: c.Text.VocabSize, MaxPositions: c.Text.MaxPositionEmbeddings,
		EncoderHidden: c.Text.EncoderHiddenSize, Eps: float32(c.Text.LayerNormEps), Act: c.Text.HiddenAct,
		// transformers ties the LM head to the word embeddings when either level asks for it.
		TiedLMHead: c.Text.TieWordEmbeddings || c.TieWordEmbeddings,
	}
	s, err := newShape(arch, v, t, c.ImageTextHiddenSize)
	if err != nil {
		return s, fmt.Errorf("blip config: %w", err)
	}
	return s, nil
}
