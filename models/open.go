package models

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/hf/hub"
	"github.com/edged/edged/internal/convert"
)

// Options choose where Open finds, fetches and keeps a model. Zero fields take defaults.
type Options struct {
	// CacheDir is edged's cache ("" means DefaultCacheDir): conversions go to its models
	// folder (BundlesDir), text embeddings to its text folder (TextDir).
	CacheDir string
	// Precision is what a checkpoint converts to ("" means its architecture's default); a
	// bundle named directly must be of it.
	Precision string
	// Convert are the settings of a conversion (its Precision is ignored: Precision decides).
	Convert convert.Options
	// Hub is how a repository id is pulled: the hub cache (shared with huggingface-cli), the
	// endpoint, the token, offline mode and download progress.
	Hub hub.Options
	// Logger gets the decisions Open takes (a cached conversion used while the hub cannot
	// be reached); nil means slog.Default().
	Logger *slog.Logger
}

// Ref is what a model's name refers to: a folder on disk, or a Hugging Face repository.
type Ref struct {
	Path string // a bundle or a checkpoint folder; "" for a repository
	// Repo and Revision name a repository ("owner/name") and a branch, tag or commit.
	Repo, Revision string
}

// String is the name as a user writes it.
func (r Ref) String() string {
	if r.Path != "" {
		return r.Path
	}
	return r.Repo + "@" + r.Revision
}

// Resolve says what name refers to. A path that exists wins, so a folder called like a
// repository ("openai/clip-vit-base-patch32" under the working folder) is that folder; any
// other name must be a repository id, "owner/name[@revision]" (revision main by default).
func Resolve(name string) (Ref, error) {
	if name == "" {
		return Ref{}, errors.New("no model named")
	}
	if _, err := os.Stat(name); err == nil {
		return Ref{Path: name}, nil
	}
	repo, revision, err := hub.ParseRef(name)
	if err != nil {
		return Ref{}, fmt.Errorf("model %q: no such folder, and not a Hugging Face repository id (owner/name[@revision])", name)
	}
	return Ref{Repo: repo, Revision: revision}, nil
}

// Open returns the bundle that name refers to: a bundle folder, a Hugging Face checkpoint
// folder, or a repository id "owner/name[@revision]" (see Resolve). A repository is pulled
// into the hub cache (hub.Pull: only what is missing; nothing at all offline), and a
// checkpoint is converted once into the cache's models folder and found there afterwards.
// The bundle of a repository records it, with the revision and commit, in its manifest.
//
// When a repository cannot be pulled (offline without its files, or a hub that cannot be
// reached and no snapshot in the hub cache), a bundle already converted from it at the
// revision and precision asked for is used, with a warning: a device whose hub cache was
// cleared after converting still starts offline.
func Open(ctx context.Context, name string, o Options) (*bundle.Bundle, error) {
	ref, err := Resolve(name)
	if err != nil {
		return nil, err
	}
	if o.CacheDir == "" {
		if o.CacheDir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if ref.Path != "" {
		return openFolder(ref.Path, o)
	}
	dir, origin, err := pull(ctx, ref, o.Hub)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		if b, ok := convertedFrom(o, ref); ok {
			o.Logger.Warn("cannot pull the model; using the bundle converted from it earlier", "model", ref.String(), "bundle", b.Dir, "error", err)
			touch(b.Dir)
			return b, nil
		}
		return nil, err
	}
	o.Convert.Origin = origin
	return openFolder(dir, o)
}

// Checkpoint returns the folder name refers to (see Resolve): the folder itself, or a
// repository's snapshot in the hub cache, pulled with hubOpts; and for a repository, the
// origin a bundle converted from it records (convert.Options.Origin).
func Checkpoint(ctx context.Context, name string, hubOpts hub.Options) (string, bundle.Origin, error) {
	ref, err := Resolve(name)
	if err != nil {
		return "", bundle.Origin{}, err
	}
	if ref.Path != "" {
		return ref.Path, bundle.Origin{}, nil
	}
	return pull(ctx, ref, hubOpts)
}

// pull fetches a repository's checkpoint into the hub cache.
func pull(ctx context.Context, ref Ref, hubOpts hub.Options) (string, bundle.Origin, error) {
	dir, err := hub.Pull(ctx, ref.Repo, ref.Revision, hubOpts)
	if err != nil {
		return "", bundle.Origin{}, err
	}
	return dir, bundle.Origin{Repo: ref.Repo, Revision: ref.Revision, Commit: filepath.Base(dir)}, nil
}

// openFolder is Open for a bundle or checkpoint folder.
func openFolder(dir string, o Options) (*bundle.Bundle, error) {
	b, err := Architectures.Open(dir, BundlesDir(o.CacheDir), o.Precision, o.Convert)
	if err != nil {
		return nil, err
	}
	if inCache(o.CacheDir, b.Dir) {
		touch(b.Dir)
	}
	return b, nil
}

// BundlesDir is the folder of cacheDir that holds converted bundles, one folder each.
func BundlesDir(cacheDir string) string { return filepath.Join(cacheDir, "models") }

// TextDir is the folder of cacheDir that holds CLIP's cached text embeddings
// (clip.Options.TextCacheDir), shared by every command and the daemon.
func TextDir(cacheDir string) string { return filepath.Join(cacheDir, "text") }
