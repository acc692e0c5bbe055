package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/hf"
	"github.com/edged/edged/hf/hub"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/progress"
	"github.com/edged/edged/models"
)

// openModel opens the model a command names (--model and the like): a bundle, a checkpoint
// folder or a Hugging Face repository id, pulled and converted on first use into the one
// cache (cache "" is the default), with progress on stderr. Ctrl-C stops a download.
func openModel(name, cache, precision string, stderr io.Writer) (*bundle.Bundle, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	return models.Open(ctx, name, models.Options{
		CacheDir:  cache,
		Precision: precision,
		Convert:   convert.Options{EdgedVersion: version, Progress: convert.NewProgress(stderr, logger)},
		Hub:       hub.Options{Logger: logger, Progress: pullProgress(stderr, logger)},
		Logger:    logger,
	})
}

// pullProgress reports a download's bytes: a bar on a terminal, a log line every 10 s
// otherwise.
func pullProgress(stderr io.Writer, logger *slog.Logger) progress.Reporter {
	return progress.New(stderr, logger, progress.Options{Prefix: "pull: ", Unit: progress.Bytes, Every: 10 * time.Second})
}

// cacheFolder is the --cache flag's folder, or the default cache.
func cacheFolder(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	return models.DefaultCacheDir()
}

// checkFolderArchitecture refuses a model folder (a bundle or a checkpoint) of another class
// than the command needs before anything is converted: converting a checkpoint of the wrong
// class is not worth minutes. A repository id is checked once opened (architectureError).
func checkFolderArchitecture(model, cmd, want string) error {
	if _, err := os.Stat(model); err != nil {
		return nil // a repository id, or nothing: opening it says which
	}
	got, err := architectureOf(model)
	if err != nil {
		return err
	}
	return architectureError(model, got, cmd, want)
}

// architectureError says that model, of class got, is not of the class cmd needs; nil when
// it is.
func architectureError(model, got, cmd, want string) error {
	if got == want {
		return nil
	}
	return fmt.Errorf("%s is a %s model; %s needs a %s", model, got, cmd, want)
}

// architectureOf is the class of the bundle or checkpoint in dir.
func architectureOf(dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, bundle.ManifestName)); err == nil {
		m, err := bundle.ReadManifest(dir)
		if err != nil {
			return "", err
		}
		return m.Architecture, nil
	}
	cfg, err := hf.ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return "", fmt.Errorf("%s is neither a bundle nor a Hugging Face checkpoint: %w", dir, err)
	}
	return cfg.Architecture()
}
