package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edged/edged/bundle"
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
