// Package spec is the contract between BLIP's exporter (blip/export) and its inference (blip):
// the architectures, the roles of a bundle's model files, their tensor names and the values a
// bundle's manifest records. Both sides import it; neither imports the other.
package spec

import "fmt"

// Architectures (config.json's architectures[0]) and the models each is exported as.
const (
	ArchCaption   = "BlipForConditionalGeneration"
	ArchVQA       = "BlipForQuestionAnswering"
	ArchRetrieval = "BlipForImageTextRetrieval"
)

// Roles of the model files in a BLIP bundle.
const (
	RoleVision          = "vision"           // pixels -> image_embeds (+ image_feat for retrieval)
	RoleCrossKV         = "cross_kv"         // encoder states -> cross-attention keys/values of every decoder layer
	RoleDecoderStep     = "decoder_step"     // one token per sequence with a self-attention cache -> logits
	RoleQuestionEncoder = "question_encoder" // VQA: question ids + image_embeds -> question_states
	RoleITM             = "itm"              // retrieval: text ids + image_embeds -> itm_logits
	RoleITCText         = "itc_text"         // retrieval: text ids -> text_feat
)

// Names of the text encoders' tensors (VQA question encoder, ITM and ITC text towers).
const (
	InInputIDs        = "input_ids"       // [1, context] int32, padded
	InAttentionBias   = "attention_bias"  // [1, 1, 1, context] float32: 0 for tokens, MaskBias for padding
	InImageEmbeds     = "image_embeds"    // [1, image tokens, vision hidden]
	OutQuestionStates = "question_states" // [1, context, hidden]: BlipTextModel's last_hidden_state
	OutITMLogits      = "itm_logits"      // [1, 2]: no match, match
	OutTextFeat       = "text_feat"       // [1, projection]: ITC text feature, L2-normalised
)

// MaskBias is the additive attention bias of a masked position, as BlipTextModel's
// get_extended_attention_mask makes it: exp(-10000) is 0 in float32, so a masked token gets no
// weight at all.
const MaskBias = -10000

// Names of the vision model's tensors.
const (
	InPixelValues  = "pixel_values" // [1, H, W, 3] float32, NHWC as imageproc gives it
	OutImageEmbeds = "image_embeds" // [1, tokens, hidden]: post-layer-normed states of every token
	OutImageFeat   = "image_feat"   // [1, projection]: ITC image feature, L2-normalised (retrieval only)
)

// Names of the decoder step's and cross_kv's tensors.
const (
	InEncoderStates = "encoder_states" // [1, cross length, encoder hidden]
	InTokenIDs      = "token_ids"      // [B] int32: the token of each sequence at this step
	InPosition      = "position"       // [1] int32: its position (the same for every sequence)
	InSelfBias      = "self_bias"      // [1, 1, 1, cache+1]: 0 for filled slots and the new token, MaskBias for empty ones
	InCrossBias     = "cross_bias"     // [1, 1, cross length]: 0 for real encoder states, MaskBias for padding
	OutLogits       = "logits"         // [B, vocab]
)

// Per-layer tensor names of the decoder models.
func CrossKeyName(i int) string   { return fmt.Sprintf("cross_key_%d", i) }   // [heads, cross length, head dim]
func CrossValueName(i int) string { return fmt.Sprintf("cross_value_%d", i) } // [heads, head dim, cross length]
func PastKeyName(i int) string    { return fmt.Sprintf("past_key_%d", i) }    // [B, heads, cache, head dim]
func PastValueName(i int) string  { return fmt.Sprintf("past_value_%d", i) }  // [B, heads, head dim, cache]
func NewKeyName(i int) string     { return fmt.Sprintf("key_%d", i) }         // [B, hidden]
func NewValueName(i int) string   { return fmt.Sprintf("value_%d", i) }       // [B, hidden]

// Manifest values a BLIP bundle records for inference.
const (
	ValueImageSize    = "image_size"    // pixels per side of the vision input
	ValueVisionTokens = "vision_tokens" // image_embeds length: class token and patches
	ValueVisionHidden = "vision_hidden" // image_embeds width
	ValueTextHidden   = "text_hidden"   // text encoder and decoder width
	ValueTextHeads    = "text_heads"    // attention heads of the text models
	ValueTextLayers   = "text_layers"   // decoder layers
	ValueVocabSize    = "vocab_size"    // logits width
	ValueTextContext  = "text_context"  // token length of the text encoders' inputs
	ValueDecoderCache = "decoder_cache" // self-attention cache slots: the longest decoded sequence
	ValueCrossLength  = "cross_length"  // encoder states the decoder's cross-attention reads
	ValueProjection   = "projection"    // ITC feature width
	ValueBosTokenID   = "bos_token_id"  // [DEC]: decoding starts here
	ValueSepTokenID   = "sep_token_id"  // [SEP]: decoding stops here (BLIP's eos)
	ValuePadTokenID   = "pad_token_id"  // [PAD]
	ValueMaxPositions = "max_positions" // max_position_embeddings
)
