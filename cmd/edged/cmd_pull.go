package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edged/edged/hf/hub"
)

func init() {
	register("pull", "download Hugging Face model repositories into the hub cache", runPull)
}

func runPull(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return pull(ctx, args, os.Stdout, os.Stderr)
}

// pull downloads each REPO[@REVISION] and prints its snapshot folder on stdout, one per line;
// progress and errors go to stderr.
func pull(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pull", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: edged pull REPO[@REVISION]... [--cache DIR]\n\n"+
			"Downloads what converting each Hugging Face repository needs (config, preprocessor and\n"+
			"tokenizer files, the weights in one format: safetensors, else pytorch_model.bin) into the\n"+
			"hub cache that huggingface-cli shares, and prints each snapshot folder: a checkpoint\n"+
			"folder for --model or edged convert --from. REVISION is a branch, a tag or a commit\n"+
			"(default main). Environment: HF_ENDPOINT (a mirror), HF_TOKEN (gated or private\n"+
			"repositories), HF_HUB_OFFLINE=1 (the cache only), HF_HUB_CACHE or HF_HOME (the cache).\n\n")
		fs.PrintDefaults()
	}
	cache := fs.String("cache", "", "hub cache `folder` (default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)")
	var refs []string
	for { // flags may come before or after the repositories
		if err := fs.Parse(args); err != nil {
			return flagStatus(err)
		}
		if fs.NArg() == 0 {
			break
		}
		refs = append(refs, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(refs) == 0 {
		return missingArgs(fs, "no repository: give one or more REPO[@REVISION] (owner/name)")
	}
	type target struct{ repo, revision string }
	var targets []target
	for _, ref := range refs {
		repo, revision, err := hub.ParseRef(ref)
		if err != nil {
			fmt.Fprintf(stderr, "edged pull: %v\n", err)
			return 2
		}
		targets = append(targets, target{repo, revision})
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	opts := hub.Options{
		CacheDir: *cache,
		Logger:   logger,
		Progress: pullProgress(stderr, logger),
	}
	status := 0
	for _, t := range targets {
		logger.Info("pull", "repo", t.repo, "revision", t.revision)
		dir, err := hub.Pull(ctx, t.repo, t.revision, opts)
		if err != nil {
			fmt.Fprintf(stderr, "edged pull: %v\n", err)
			status = 1
			continue
		}
		fmt.Fprintln(stdout, dir)
	}
	return status
}
