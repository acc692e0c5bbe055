package hf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
)

// Config is a parsed JSON config file (config.json and friends): the raw object, with typed
// accessors that fill in a default for a missing or null key and give an error naming the
// file and key for a value of the wrong type.
type Config struct {
	// Path is the file the config came from, for errors.
	Path string
	// Raw is the JSON object. Numbers are json.Number, so integers stay exact.
	Raw map[string]any

	prefix string // "text_config." for a sub-config, for errors
}

// ReadConfig reads and parses a JSON config file.
func ReadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hf: read %s: %w", path, err)
	}
	return ParseConfig(data, path)
}

// ParseConfig parses a JSON config; path is only used in errors.
func ParseConfig(data []byte, path string) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("hf: %s: bad JSON: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("hf: %s: bad JSON: data after the top-level object", path)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("hf: %s: want a JSON object at the top level, got %s", path, describe(v))
	}
	return &Config{Path: path, Raw: obj}, nil
}

// errorf formats an error about key.
func (c *Config) errorf(key, format string, args ...any) error {
	return fmt.Errorf("hf: %s: %s%s: %s", c.Path, c.prefix, key, fmt.Sprintf(format, args...))
}

// Has reports whether key is present and not null.
func (c *Config) Has(key string) bool { return c.Raw[key] != nil }

// String is the string at key, or def when it is missing or null.
func (c *Config) String(key, def string) (string, error) {
	v := c.Raw[key]
	if v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", c.errorf(key, "want a string, got %s", describe(v))
	}
	return s, nil
}

// Int is the integer at key, or def when it is missing or null. A float with an integral
// value (768.0) is accepted.
func (c *Config) Int(key string, def int) (int, error) {
	v := c.Raw[key]
	if v == nil {
		return def, nil
	}
	i, ok := toInt(v)
	if !ok {
		return 0, c.errorf(key, "want an integer, got %s", describe(v))
	}
	return i, nil
}

// toInt converts a JSON number with an integral value.
func toInt(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := strconv.ParseInt(string(n), 10, 0); err == nil {
		return int(i), true
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int(f), true
}

// Float is the number at key, or def when it is missing or null.
func (c *Config) Float(key string, def float64) (float64, error) {
	v := c.Raw[key]
	if v == nil {
		return def, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, c.errorf(key, "want a number, got %s", describe(v))
	}
	f, err := n.Float64()
	if err != nil { // out of float64's range
		return 0, c.errorf(key, "want a number, got %s", n)
	}
	return f, nil
}

// Bool is the boolean at key, or def when it is missing or null.
func (c *Config) Bool(key string, def bool) (bool, error) {
	v := c.Raw[key]
	if v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, c.errorf(key, "want true or false, got %s", describe(v))
	}
	return b, nil
}

// Ints is the integer or list of integers at key (eos_token_id may be either), or nil when
// it is missing or null.
func (c *Config) Ints(key string) ([]int, error) {
	v := c.Raw[key]
	if v == nil {
		return nil, nil
	}
	if i, ok := toInt(v); ok {
		return []int{i}, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, c.errorf(key, "want an integer or a list of integers, got %s", describe(v))
	}
	out := make([]int, len(list))
	for i, e := range list {
		n, ok := toInt(e)
		if !ok {
			return nil, c.errorf(fmt.Sprintf("%s[%d]", key, i), "want an integer, got %s", describe(e))
		}
		out[i] = n
	}
	return out, nil
}

// Strings is the list of strings at key, or nil when it is missing or null.
func (c *Config) Strings(key string) ([]string, error) {
	v := c.Raw[key]
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, c.errorf(key, "want a list of strings, got %s", describe(v))
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, c.errorf(fmt.Sprintf("%s[%d]", key, i), "want a string, got %s", describe(e))
		}
		out[i] = s
	}
	return out, nil
}

// Sub is the object at key as a Config (errors name it "key.inner"); a missing or null key
// gives an empty Config, so its accessors return their defaults.
func (c *Config) Sub(key string) (*Config, error) {
	v := c.Raw[key]
	sub := &Config{Path: c.Path, prefix: c.prefix + key + ".", Raw: map[string]any{}}
	if v == nil {
		return sub, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, c.errorf(key, "want an object, got %s", describe(v))
	}
	sub.Raw = obj
	return sub, nil
}

// Architecture is architectures[0], the transformers class the checkpoint was saved from
// (e.g. "CLIPModel", "BlipForConditionalGeneration").
func (c *Config) Architecture() (string, error) {
	list, err := c.Strings("architectures")
	if err != nil {
		return "", err
	}
	if len(list) == 0 || list[0] == "" {
		return "", fmt.Errorf("hf: %s: no architectures listed, so the model class is unknown", c.Path)
	}
	return list[0], nil
}

// ModelType is model_type ("clip", "blip", ...), or "" when absent.
func (c *Config) ModelType() (string, error) { return c.String("model_type", "") }

// describe names a JSON value's kind for errors, with the value when it is short.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if len(v) > 40 {
			return "a string"
		}
		return strconv.Quote(v)
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
