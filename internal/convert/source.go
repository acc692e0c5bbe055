package convert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/edged/edged/hf"
	"github.com/edged/edged/internal/graph"
)

// Weights is where an architecture reads its parameters: a checkpoint's safetensors, or random
// values for --random-init.
type Weights interface {
	// Float32 returns the tensor called name as float32 values (converted from F16 or BF16 if
	// stored so), after checking that its shape is shape (no dimensions for a scalar).
	Float32(name string, shape ...int) ([]float32, error)
	// Has reports whether the tensor exists, for optional parameters.
	Has(name string) bool
}

// Source is a checkpoint being converted.
type Source struct {
	// Dir is the checkpoint folder.
	Dir string
	// Architecture is config.json's architectures[0], e.g. "CLIPModel".
	Architecture string
	// Config is the content of config.json; architectures parse it with package hf.
	Config []byte
	// Hash identifies the checkpoint's content (hf.Hash: weights, configs, tokenizer files);
	// bundles and the cache record it.
	Hash string
	// Weights are the checkpoint's tensors, or random ones with Options.RandomInit.
	Weights Weights

	close func() error
}

// Close releases the checkpoint's files.
func (s *Source) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

// OpenSource opens the checkpoint folder dir for conversion: its config.json, its weights
// (unless opts.RandomInit, where only the config is needed) and its content hash.
func (r Registry) OpenSource(dir string, opts Options) (*Source, error) {
	return r.openSource(dir, opts, "")
}

// openSource is OpenSource with the checkpoint hash remembered in memoDir (see memoHash).
func (r Registry) openSource(dir string, opts Options, memoDir string) (*Source, error) {
	id, err := identify(dir, opts, memoDir)
	if err != nil {
		return nil, err
	}
	src := &Source{Dir: dir, Architecture: id.architecture, Config: id.config, Hash: id.hash}
	if opts.RandomInit {
		arch, err := r.Lookup(id.architecture)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
		}
		if arch.RandomInit == nil {
			return nil, fmt.Errorf("checkpoint %s: %s does not support random weights", dir, id.architecture)
		}
		src.Weights = &randomWeights{src: src, seed: opts.Seed, init: arch.RandomInit}
		return src, nil
	}
	st, err := hf.OpenWeights(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	src.Weights, src.close = st, st.Close
	return src, nil
}

// identity is what names a checkpoint: its architecture and content hash.
type identity struct {
	architecture string
	config       []byte
	hash         string
}

// identify reads config.json's architectures[0] and hashes the checkpoint (remembering the
// hash in memoDir when it is not ""). With random weights the hash covers the config and the
// seed only (the weights are not read).
func identify(dir string, opts Options, memoDir string) (identity, error) {
	path := filepath.Join(dir, "config.json")
	config, err := os.ReadFile(path)
	if err != nil {
		return identity{}, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	cfg, err := hf.ParseConfig(config, path)
	if err != nil {
		return identity{}, err
	}
	arch, err := cfg.Architecture()
	if err != nil {
		return identity{}, err
	}
	id := identity{architecture: arch, config: config}
	if opts.RandomInit {
		h := sha256.New()
		fmt.Fprintf(h, "edged random-init seed %d\n", opts.Seed)
		h.Write(config)
		id.hash = hex.EncodeToString(h.Sum(nil))
		return id, nil
	}
	if id.hash, err = memoHash(dir, memoDir); err != nil {
		return identity{}, err
	}
	return id, nil
}

// DefaultPrecision is the precision the checkpoint in dir converts to when none is asked for:
// its architecture's default.
func (r Registry) DefaultPrecision(dir string) (graph.Precision, error) {
	cfg, err := hf.ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return 0, err
	}
	name, err := cfg.Architecture()
	if err != nil {
		return 0, err
	}
	arch, err := r.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	return arch.DefaultPrecision, nil
}

// countedWeights counts the values of every tensor read, once per tensor (a converter may
// read one twice, for two models of the bundle).
type countedWeights struct {
	Weights
	seen map[string]bool
	n    int64
}

func (c *countedWeights) Float32(name string, shape ...int) ([]float32, error) {
	v, err := c.Weights.Float32(name, shape...)
	if err == nil && !c.seen[name] {
		c.seen[name] = true
		c.n += int64(len(v))
	}
	return v, err
}
