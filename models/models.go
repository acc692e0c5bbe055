// Package models is where edged gets the bundles it runs: the one list of the architectures it
// converts, and the cache in which a Hugging Face checkpoint is converted on first use.
//
// A model is named by a bundle folder, a checkpoint folder or a Hugging Face repository id
// (owner/name[@revision]); Open returns a bundle for any of them, pulling a repository into
// the hub cache and converting a checkpoint into edged's cache once, and finding both there
// afterwards. The cache has one layout for every command and the daemon: bundles in
// BundlesDir, CLIP text embeddings in TextDir; List and Remove manage it.
package models

import (
	"fmt"
	"os"
	"path/filepath"

	blipexport "github.com/edged/edged/blip/export"
	blipspec "github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	clipexport "github.com/edged/edged/clip/export"
	clipspec "github.com/edged/edged/clip/spec"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
)

// Architectures are the checkpoint classes edged converts, keyed by config.json's
// architectures[0]. A new model family is one more line here.
var Architectures = convert.Registry{
	clipspec.Architecture:  clipexport.Converter,
	blipspec.ArchCaption:   blipexport.Converter,
	blipspec.ArchVQA:       blipexport.Converter,
	blipspec.ArchRetrieval: blipexport.Converter,
}

// Convert converts the checkpoint folder from into the bundle folder out (see
// convert.Registry.Convert).
func Convert(from, out string, opts convert.Options) (*bundle.Bundle, error) {
	return Architectures.Convert(from, out, opts)
}

// DefaultPrecision is the precision the checkpoint in dir converts to when none is asked for.
func DefaultPrecision(dir string) (graph.Precision, error) {
	return Architectures.DefaultPrecision(dir)
}

// DefaultCacheDir is where converted checkpoints are kept: $XDG_CACHE_HOME/edged, or the
// platform's user cache folder (~/.cache/edged on Linux).
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "edged"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("model cache: %w (set XDG_CACHE_HOME or pass a cache folder)", err)
	}
	return filepath.Join(d, "edged"), nil
}
