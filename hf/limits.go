package hf

// Limits on the sizes a checkpoint's configs may give. They are far above any model a
// Raspberry Pi or a Jetson can hold, and low enough that nothing sized by them (a random
// weight, a token table, a padded text) can exhaust memory before the weights are checked
// against them: a config beyond a limit is an error naming the file and the key, never an
// allocation that kills the process. Packages that read sizes of converted models (bundle
// manifests, tokenizers) use the same limits.
const (
	MaxWidth     = 1 << 14 // hidden, intermediate and projection widths
	MaxLayers    = 256     // layers of one tower
	MaxHeads     = 256     // attention heads of one layer
	MaxVocab     = 1 << 20 // vocabulary size: every token id is below it
	MaxPositions = 1 << 14 // position embeddings: the longest text or generated sequence
	MaxImageSide = 4096    // pixels per side of a vision model's input
	MaxChannels  = 4       // colour channels of an image
	MaxBeams     = 64      // beams of a generate call
)

// sized is positive for a size that must be from 1 to max.
func (f *fields) sized(key string, def, max int) int {
	v := f.positive(key, def)
	if f.err == nil && v > max {
		f.err = f.c.errorf(key, "%d is beyond edged's limit of %d", v, max)
	}
	return v
}

// nonNegative is int for a count that may be 0, up to max.
func (f *fields) nonNegative(key string, def, max int) int {
	v := f.int(key, def)
	if f.err == nil && (v < 0 || v > max) {
		f.err = f.c.errorf(key, "want 0 to %d, got %d", max, v)
	}
	return v
}

// eps reads a layer norm epsilon: a small positive number (a negative one makes the square
// root of a variance below it NaN, and every result of the model with it).
func (f *fields) eps(key string, def float64) float64 {
	v := f.float(key, def)
	if f.err == nil && !(v > 0 && v < 1) {
		f.err = f.c.errorf(key, "want a small positive number such as 1e-5, got %v", v)
	}
	return v
}

// tokenID checks that an id read from key is a token of a vocabulary of vocab ids; allowNone
// lets -1 stand for "no such token".
func (f *fields) tokenID(key string, id, vocab int, allowNone bool) {
	if f.err != nil || (allowNone && id == -1) {
		return
	}
	if id < 0 || id >= vocab {
		f.err = f.c.errorf(key, "token id %d is outside the vocabulary of %d (vocab_size)", id, vocab)
	}
}
