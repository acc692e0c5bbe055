package hf

import "fmt"

// fields reads typed config values, keeping the first error so a typed config can be
// filled in one straight run of assignments and checked once at the end.
type fields struct {
	c   *Config
	err error
}

func (f *fields) int(key string, def int) int {
	if f.err != nil {
		return 0
	}
	v, err := f.c.Int(key, def)
	f.err = err
	return v
}

// positive is int for a size that must be at least 1.
func (f *fields) positive(key string, def int) int {
	v := f.int(key, def)
	if f.err == nil && v < 1 {
		f.err = f.c.errorf(key, "want a positive size, got %d", v)
	}
	return v
}

// square reads a size that transformers allows as an int or an [h, w] pair, up to max;
// edged's models take square inputs, so a pair must have equal sides.
func (f *fields) square(key string, def, max int) int {
	if f.err != nil {
		return 0
	}
	if list, ok := f.c.Raw[key].([]any); ok {
		sides, err := f.c.Ints(key)
		if err != nil {
			f.err = err
			return 0
		}
		if len(list) != 2 || sides[0] != sides[1] {
			f.err = f.c.errorf(key, "want one size or two equal sides, got %v", sides)
			return 0
		}
		if sides[0] < 1 || sides[0] > max {
			f.err = f.c.errorf(key, "want a size from 1 to %d, got %v", max, sides)
		}
		return sides[0]
	}
	return f.sized(key, def, max)
}

func (f *fields) float(key string, def float64) float64 {
	if f.err != nil {
		return 0
	}
	v, err := f.c.Float(key, def)
	f.err = err
	return v
}

func (f *fields) str(key, def string) string {
	if f.err != nil {
		return ""
	}
	v, err := f.c.String(key, def)
	f.err = err
	return v
}

func (f *fields) bool(key string, def bool) bool {
	if f.err != nil {
		return false
	}
	v, err := f.c.Bool(key, def)
	f.err = err
	return v
}

// ints reads an int-or-list id (eos_token_id), def when missing or null.
func (f *fields) ints(key string, def ...int) []int {
	if f.err != nil {
		return nil
	}
	v, err := f.c.Ints(key)
	f.err = err
	if v == nil && err == nil {
		return append([]int(nil), def...)
	}
	return v
}

// heads checks that hidden splits evenly into heads, as transformers' attention requires.
func (f *fields) heads(hidden, heads int) {
	if f.err == nil && hidden%heads != 0 {
		f.err = fmt.Errorf("hf: %s: %shidden_size %d is not a multiple of num_attention_heads %d", f.c.Path, f.c.prefix, hidden, heads)
	}
}

// sub opens a nested config such as text_config. A legacy "<key>_dict" object (older CLIP
// and BLIP checkpoints carry text_config_dict next to text_config) overrides its keys, as
// transformers did when it read such files.
func (f *fields) sub(key string) *Config {
	if f.err != nil {
		return &Config{Path: f.c.Path, Raw: map[string]any{}}
	}
	sub, err := f.c.Sub(key)
	if err != nil {
		f.err = err
		return &Config{Path: f.c.Path, Raw: map[string]any{}}
	}
	legacy, err := f.c.Sub(key + "_dict")
	if err != nil {
		f.err = err
		return sub
	}
	if len(legacy.Raw) > 0 {
		merged := map[string]any{}
		for k, v := range sub.Raw {
			merged[k] = v
		}
		for k, v := range legacy.Raw {
			merged[k] = v
		}
		sub.Raw = merged
	}
	return sub
}

// modelType checks model_type when present: a BLIP config read as CLIP is a clear error
// rather than a model built from defaults.
func (f *fields) modelType(want string) {
	mt := f.str("model_type", "")
	if f.err == nil && mt != "" && mt != want {
		f.err = fmt.Errorf("hf: %s: %smodel_type is %q, want %q", f.c.Path, f.c.prefix, mt, want)
	}
}
