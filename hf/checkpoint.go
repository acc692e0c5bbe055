package hf

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Checkpoint is an open Hugging Face checkpoint folder: its config.json and its weights.
// Other files are read when asked for.
type Checkpoint struct {
	Dir     string
	Config  *Config
	Weights *Safetensors
}

// Open opens the checkpoint in dir: it parses config.json and the safetensors headers.
func Open(dir string) (*Checkpoint, error) {
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	w, err := OpenWeights(dir)
	if err != nil {
		return nil, err
	}
	return &Checkpoint{Dir: dir, Config: cfg, Weights: w}, nil
}

// Close closes the weight files.
func (c *Checkpoint) Close() error { return c.Weights.Close() }

// Architecture is config.json's architectures[0], e.g. "CLIPModel".
func (c *Checkpoint) Architecture() (string, error) { return c.Config.Architecture() }

// PreprocessorConfig is the raw preprocessor_config.json (package imageproc parses it).
func (c *Checkpoint) PreprocessorConfig() ([]byte, error) {
	path := filepath.Join(c.Dir, "preprocessor_config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hf: read %s: %w", path, err)
	}
	return data, nil
}

// GenerationConfig reads generation_config.json, or derives it from config.json as
// transformers does when the file is missing.
func (c *Checkpoint) GenerationConfig() (*GenerationConfig, error) {
	g, err := ReadConfig(filepath.Join(c.Dir, "generation_config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return GenerationConfigFromModel(c.Config)
	}
	if err != nil {
		return nil, err
	}
	return ParseGenerationConfig(g)
}

// TokenizerConfig reads tokenizer_config.json (and special_tokens_map.json).
func (c *Checkpoint) TokenizerConfig() (*TokenizerConfig, error) {
	return ReadTokenizerConfig(c.Dir)
}

// Hash is the checkpoint's content hash: see Hash.
func (c *Checkpoint) Hash() (string, error) { return Hash(c.Dir) }

// Hash is a content hash of the checkpoint in dir, for cache keys: the hex SHA-256 over the
// names, sizes and contents of its .safetensors, .json and .txt files (weights, configs,
// tokenizer and vocabulary files), and of its .bin files when its weights are PyTorch's
// (PickWeights), in name order. Other files (README.md, a pytorch_model.bin beside
// model.safetensors) do not change what edged builds, so they do not count. Symbolic links
// count as the files they point to (a Hugging Face cache snapshot is made of them). It reads
// every weight byte, so it costs about one read of the weights: cache the result rather than
// calling it per request.
func Hash(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("hf: hash %s: %w", dir, err)
	}
	files := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !isFile(filepath.Join(dir, name), e) {
			continue
		}
		files[name] = true
	}
	pytorch := strings.HasPrefix(PickWeights(func(name string) bool { return files[name] }), "pytorch_model.")
	var names []string
	for name := range files {
		switch filepath.Ext(name) {
		case ".safetensors", ".json", ".txt":
			names = append(names, name)
		case ".bin":
			if pytorch {
				names = append(names, name)
			}
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("hf: hash %s: no checkpoint files (.safetensors, .json, .txt): %w", dir, fs.ErrNotExist)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		if err := hashFile(h, dir, name); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// isFile reports whether the directory entry e at path is a regular file or a symbolic link
// to one.
func isFile(path string, e fs.DirEntry) bool {
	if e.Type().IsRegular() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// hashFile adds "name\x00size\x00content" to h: names and sizes keep two folders whose
// files concatenate to the same bytes apart.
func hashFile(h io.Writer, dir, name string) error {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("hf: hash %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("hf: hash %s: %w", path, err)
	}
	io.WriteString(h, name+"\x00"+strconv.FormatInt(st.Size(), 10)+"\x00")
	if n, err := io.Copy(h, f); err != nil || n != st.Size() {
		if err == nil {
			err = fmt.Errorf("read %d of %d bytes", n, st.Size())
		}
		return fmt.Errorf("hf: hash %s: %w", path, err)
	}
	return nil
}
