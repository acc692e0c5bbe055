// Package spec is the contract between CLIP's exporter (clip/export) and its inference (clip):
// the architecture, the roles of a bundle's model files, their tensor names and the values a
// bundle's manifest records. Both sides import it; neither imports the other.
package spec

// Architecture is the transformers class of a CLIP checkpoint (config.json's architectures[0]).
const Architecture = "CLIPModel"

// Tensor names of the exported towers: the contract between export and inference, recorded in
// each bundle's manifest.
const (
	InputPixels      = "pixel_values" // float32 [1, H, W, 3], NHWC, preprocessed
	OutputImage      = "image_embeds" // float32 [1, projection], L2-normalised
	InputTokens      = "tokens"       // int32 [4, N]: ids, positions, segments, pooled rows of one or more texts (see buildText)
	OutputText       = "text_embeds"  // float32 [N, projection], L2-normalised: row k is text k's
	RoleVisionTower  = "vision"
	RoleTextTower    = "text"
	ValueLogitScale  = "logit_scale" // exp of the checkpoint's logit_scale: the softmax multiplier
	ValueContext     = "context_length"
	ValueEOSTokenID  = "eos_token_id" // the pooling token (see poolIndex)
	ValueProjection  = "projection_dim"
	ValueTextPooling = "text_pooling" // "argmax" or "eos"
)

// The rows of the text tower's input.
const (
	RowIDs = iota
	RowPositions
	RowSegments
	RowPool
	TextRows
)
