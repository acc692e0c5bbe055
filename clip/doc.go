// Package clip runs CLIP bundles (written by clip/export from Hugging Face CLIPModel
// checkpoints): image and text embeddings, zero-shot classification over YAML label sets, and
// retrieval.
//
// # Inference
//
// Load gives a Model for a bundle (package models opens one for a checkpoint, converting it on
// first use). EmbedImage and
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

import "github.com/edged/edged/clip/spec"

// Architecture is the transformers class of the checkpoints whose bundles Load opens.
const Architecture = spec.Architecture
