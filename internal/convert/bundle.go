package convert

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/graph"
)

// auxFiles are the checkpoint files a bundle carries along, by role: what the tokenizers,
// image processors and CLIP contrasts read at run time.
var auxFiles = []struct{ role, name string }{
	{bundle.RoleConfig, "config.json"},
	{bundle.RolePreprocessorConfig, "preprocessor_config.json"},
	{bundle.RoleTokenizer, "tokenizer.json"},
	{bundle.RoleTokenizerConfig, "tokenizer_config.json"},
	{bundle.RoleSpecialTokens, "special_tokens_map.json"},
	{bundle.RoleVocab, "vocab.json"},
	{bundle.RoleVocab, "vocab.txt"},
	{bundle.RoleMerges, "merges.txt"},
	{bundle.RoleGenerationConfig, "generation_config.json"},
	{bundle.RoleContrast, bundle.ContrastFile},
}

// Convert converts the checkpoint folder from into a bundle folder out, which must not exist,
// be empty, or be a bundle (which is then replaced). The bundle is built in a temporary folder
// beside out and renamed into place at the end, so out is never half written.
func (r Registry) Convert(from, out string, opts Options) (*bundle.Bundle, error) {
	return r.convert(from, out, opts, "")
}

// convert converts, remembering the checkpoint's hash in memoDir when it is not "".
func (r Registry) convert(from, out string, opts Options, memoDir string) (*bundle.Bundle, error) {
	opts = opts.withDefaults()
	src, err := r.openSource(from, opts, memoDir)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	arch, err := r.Lookup(src.Architecture)
	if err != nil {
		return nil, fmt.Errorf("convert %s: %w", from, err)
	}
	if opts.RandomInit && arch.RandomInit == nil {
		return nil, fmt.Errorf("convert %s: %s does not support random weights", from, src.Architecture)
	}
	if opts.Observe && opts.Precision != graph.FP32 {
		return nil, fmt.Errorf("convert %s: models written for observing are fp32, not %v", from, opts.Precision)
	}
	opts, fallback := planCalibration(src, opts)
	if err := checkTarget(out); err != nil {
		return nil, err
	}
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	tmp, unlock, err := partialDir(parent, filepath.Base(out))
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	defer unlock()
	published := false
	defer func() {
		if !published {
			os.RemoveAll(tmp)
		}
	}()
	w := &Writer{dir: tmp, progress: opts.Progress, manifest: &bundle.Manifest{
		Format:       bundle.ManifestFormat,
		Architecture: src.Architecture,
		Revision:     arch.Revision,
		Precision:    opts.Precision.String(),
		Source:       bundle.SourceInfo{Path: from, Hash: src.Hash, RandomInit: opts.RandomInit, Origin: opts.Origin},
		Calibration:  fallback,
		EdgedVersion: opts.EdgedVersion,
	}}
	if opts.RandomInit {
		w.manifest.Source.Seed = opts.Seed
	}
	counted := &countedWeights{Weights: src.Weights, seen: map[string]bool{}}
	src.Weights = counted
	if err := arch.Convert(src, w, opts); err != nil {
		return nil, fmt.Errorf("convert %s (%s, %v): %w", from, src.Architecture, opts.Precision, err)
	}
	w.manifest.Source.Parameters = counted.n
	for _, a := range auxFiles {
		if w.manifest.HasRole(a.role) {
			continue // e.g. vocab.json was copied, vocab.txt is not looked for
		}
		data, err := os.ReadFile(filepath.Join(from, a.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("convert: %w", err)
		}
		if err := w.AddFile(a.role, a.name, data); err != nil {
			return nil, err
		}
	}
	if err := w.manifest.Write(tmp); err != nil {
		return nil, err
	}
	if err := publish(tmp, out); err != nil {
		return nil, err
	}
	published = true
	b, err := bundle.Read(out)
	if err == nil {
		markVerified(b) // its files were hashed as they were written
	}
	return b, err
}

// CheckTokenizer refuses a checkpoint whose tokenizer inference could not use (the bundle
// would carry it, and every start of the model would fail): load, the architecture's tokenizer
// loader, must accept dir, and the tokenizer's ids must be rows of the model's token table of
// vocab rows. A checkpoint without a tokenizer passes: its bundle's models take ids only.
func CheckTokenizer[T interface{ VocabSize() int }](dir string, vocab int, load func(dir string) (T, error)) error {
	tok, err := load(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if n := tok.VocabSize(); n > vocab {
		return fmt.Errorf("the tokenizer of %s has ids up to %d, the model knows %d tokens (text_config.vocab_size)", dir, n-1, vocab)
	}
	return nil
}

// Publish moves the finished bundle folder dir to out, as Convert does with its own: out must
// not exist, be empty, or be a bundle (which is replaced). dir and out are on one file system
// (make dir beside out).
func Publish(dir, out string) error {
	if err := checkTarget(out); err != nil {
		return err
	}
	return publish(dir, out)
}

// checkTarget refuses to overwrite a folder that is not a bundle.
func checkTarget(out string) error {
	entries, err := os.ReadDir(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("convert: output %s: %w", out, err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(out, bundle.ManifestName)); err != nil {
		return fmt.Errorf("convert: output %s exists and is not a bundle (no %s); not overwriting it", out, bundle.ManifestName)
	}
	return nil
}

// publish renames the finished folder tmp to out. An existing bundle at out is moved aside
// first and removed after (on Linux, a process that has its models memory-mapped keeps
// reading them).
func publish(tmp, out string) error {
	err := os.Rename(tmp, out)
	if err == nil {
		return nil
	}
	entries, rerr := os.ReadDir(out)
	if rerr != nil {
		return fmt.Errorf("convert: publish %s: %w", out, err)
	}
	if len(entries) == 0 {
		if err := os.Remove(out); err != nil {
			return fmt.Errorf("convert: publish %s: %w", out, err)
		}
		return os.Rename(tmp, out)
	}
	old := tmp + ".old"
	if err := os.Rename(out, old); err != nil {
		return fmt.Errorf("convert: move old bundle %s aside: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Rename(old, out) // put the old one back
		return fmt.Errorf("convert: publish %s: %w", out, err)
	}
	return os.RemoveAll(old)
}

// Open returns the bundle for dir, which is either a bundle (it has a manifest.json) or a
// Hugging Face checkpoint folder (it has a config.json). A checkpoint is converted on first
// use into cacheDir under a folder named after its architecture,
// content hash and precision, and found there afterwards. precision "" means the bundle's own
// for a bundle and the architecture's default for a checkpoint; anything else must match.
// opts.Precision is ignored (precision decides); its other fields apply to a conversion.
func (r Registry) Open(dir, cacheDir, precision string, opts Options) (*bundle.Bundle, error) {
	var want *graph.Precision
	if precision != "" {
		p, err := graph.ParsePrecision(precision)
		if err != nil {
			return nil, fmt.Errorf("open model %s: %w", dir, err)
		}
		want = &p
	}
	if _, err := os.Stat(filepath.Join(dir, bundle.ManifestName)); err == nil {
		b, err := bundle.Read(dir)
		if err == nil {
			err = verifyOnce(b)
		}
		if err != nil {
			return nil, fmt.Errorf("open model %s: %w (the bundle is damaged: convert its checkpoint again)", dir, err)
		}
		if want != nil && b.Manifest.Precision != want.String() {
			return nil, fmt.Errorf("open model %s: the bundle is %s, not %s (convert the checkpoint again at %s)", dir, b.Manifest.Precision, want, want)
		}
		return b, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return nil, fmt.Errorf("open model %s: neither a bundle (no %s) nor a Hugging Face checkpoint (no config.json)", dir, bundle.ManifestName)
	}
	if cacheDir == "" {
		return nil, fmt.Errorf("open model %s: no cache folder to convert it into", dir)
	}
	cleanPartialsOnce(cacheDir)
	id, err := identify(dir, opts, cacheDir)
	if err != nil {
		return nil, err
	}
	arch, err := r.Lookup(id.architecture)
	if err != nil {
		return nil, fmt.Errorf("open model %s: %w", dir, err)
	}
	opts.Precision = arch.DefaultPrecision
	if want != nil {
		opts.Precision = *want
	}
	key := CacheName(id.architecture, id.hash, opts.Precision)
	if opts.RandomInit {
		key += fmt.Sprintf("-random%d", opts.Seed)
	}
	cached := filepath.Join(cacheDir, key)
	if b, err := bundle.Read(cached); err == nil && b.Manifest.Source.Hash == id.hash && b.Manifest.Revision == arch.Revision {
		err := verifyOnce(b)
		if err == nil {
			return b, nil
		}
		slog.Warn("convert: a cached model is damaged; converting it again", "model", dir, "cache", cached, "err", err)
	}
	// A damaged cache entry (files missing, truncated or overwritten), or one an edged of
	// another converter revision wrote, is converted again; the new bundle replaces it.
	return r.convert(dir, cached, opts, cacheDir)
}

// CacheName is the folder of a cache's models folder that Open converts a checkpoint of
// architecture arch with content hash hash into at precision p.
func CacheName(arch, hash string, p graph.Precision) string {
	return strings.ToLower(arch) + "-" + shortHash(hash) + "-" + p.String()
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}
