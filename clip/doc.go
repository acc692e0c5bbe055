// Package clip exports Hugging Face CLIPModel checkpoints to TensorFlow Lite and runs them:
// image and text embeddings, zero-shot classification over YAML label sets, and retrieval.
//
// # Export
//
// Importing the package registers "CLIPModel" with package convert. A bundle holds two
// models, each with the projection and L2 normalisation built in:
//
//   - vision.tflite: pixel_values float32 [1, H, W, 3] (NHWC, preprocessed as the
//     checkpoint's CLIPImageProcessor does; package imageproc) → image_embeds [1, D].
//     Patch CONV_2D, [CLS] and position embeddings, pre-LN, encoder, post-LN of [CLS],
//     visual projection.
//   - text.tflite: tokens int32 [2, S] (row 0 the token ids up to and including the pooled
//     token, row 1 the positions 0..S-1) → text_embeds [1, D]. S is resized per call and the
//     causal mask is computed in the graph, so the tower runs at the text's real length,
//     which gives transformers' embedding of the padded context (attention is causal and
//     the pooled token is the last one) at a fraction of the cost.
//
// The manifest records logit_scale (the softmax multiplier, exp of the checkpoint's
// parameter), context_length, projection_dim, eos_token_id and text_pooling ("argmax" when
// eos_token_id is 2, as in the released OpenAI configs, else "eos"), which say where
// transformers pools. At fp32, fp16 and int8-dynamic both towers take that precision; at int8
// the vision tower is full integer (activation ranges calibrated on images, layer norms,
// softmax, residual adds and the [CLS] concatenation kept float, see keepFloatVision) and the
// text tower is int8-dynamic: text embeddings are computed once per label set and cached, and
// calibrating text would need texts a checkpoint does not come with (see TextPrecision).
//
// # Inference
//
// Load (or Open, which converts a checkpoint on first use) gives a Model. EmbedImage and
// EmbedPixels embed images; EmbedText, EmbedTexts and EmbedTokens embed texts, through a
// TextCache keyed by the text tower's file hash and the prompt (in memory, and on disk with
// Options.TextCacheDir). Model.Classifier embeds a LabelSet once (prompt ensembling: the
// normalised mean of each label's prompt embeddings) and returns a Classifier, which scores
// image embeddings with a softmax over logit scale × cosine, best first.
//
// # Goroutines
//
// Model, Classifier and TextCache are safe for concurrent use. Each tower has one TFLite
// interpreter, and an interpreter is used by one goroutine at a time: a mutex per tower makes
// each embedding (set inputs, invoke, read outputs) one unit, so concurrent calls queue. To
// embed in parallel, load one Model per worker; the models are memory-mapped from the same
// files.
package clip
