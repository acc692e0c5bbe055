package export

import "fmt"

// visionDims are the sizes of BLIP's ViT image encoder (config.json's vision_config).
type visionDims struct {
	Hidden, Heads, Layers, Intermediate int
	ImageSize, PatchSize                int
	Eps                                 float32 // layer_norm_eps
	Act                                 string  // hidden_act
}

// grid is the number of patches along each side of the image.
func (d visionDims) grid() int { return d.ImageSize / d.PatchSize }

// tokens is the length of the image sequence: the class token and one token per patch.
func (d visionDims) tokens() int { return d.grid()*d.grid() + 1 }

func (d visionDims) check() error {
	switch {
	case d.Hidden <= 0 || d.Heads <= 0 || d.Layers <= 0 || d.Intermediate <= 0:
		return fmt.Errorf("vision_config: hidden_size %d, num_attention_heads %d, num_hidden_layers %d and intermediate_size %d must be positive", d.Hidden, d.Heads, d.Layers, d.Intermediate)
	case d.Hidden%d.Heads != 0:
		return fmt.Errorf("vision_config: hidden_size %d is not a multiple of num_attention_heads %d", d.Hidden, d.Heads)
	case d.PatchSize <= 0 || d.ImageSize < d.PatchSize || d.ImageSize%d.PatchSize != 0:
		return fmt.Errorf("vision_config: image_size %d is not a multiple of patch_size %d", d.ImageSize, d.PatchSize)
	case d.Act != "gelu":
		return fmt.Errorf("vision_config: hidden_act %q is not supported (BLIP uses \"gelu\")", d.Act)
	}
	return nil
}

// textDims are the sizes of BLIP's BERT text encoder and decoder (config.json's text_config).
type textDims struct {
	Hidden, Heads, Layers, Intermediate int
	Vocab, MaxPositions                 int
	EncoderHidden                       int     // width of the states cross-attention reads
	Eps                                 float32 // layer_norm_eps
	Act                                 string  // hidden_act
	TiedLMHead                          bool    // tie_word_embeddings: the LM head reuses the word embeddings
}

func (d textDims) check() error {
	switch {
	case d.Hidden <= 0 || d.Heads <= 0 || d.Layers <= 0 || d.Intermediate <= 0:
		return fmt.Errorf("text_config: hidden_size %d, num_attention_heads %d, num_hidden_layers %d and intermediate_size %d must be positive", d.Hidden, d.Heads, d.Layers, d.Intermediate)
	case d.Hidden%d.Heads != 0:
		return fmt.Errorf("text_config: hidden_size %d is not a multiple of num_attention_heads %d", d.Hidden, d.Heads)
	case d.Vocab <= 0 || d.MaxPositions <= 0 || d.EncoderHidden <= 0:
		return fmt.Errorf("text_config: vocab_size %d, max_position_embeddings %d and encoder_hidden_size %d must be positive", d.Vocab, d.MaxPositions, d.EncoderHidden)
	case d.Act != "gelu":
		return fmt.Errorf("text_config: hidden_act %q is not supported (BLIP uses \"gelu\")", d.Act)
	}
	return nil
}

func (d textDims) headDim() int { return d.Hidden / d.Heads }
