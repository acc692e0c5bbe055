package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edged/edged/hf/hub"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/models"
)

func init() {
	register("convert", "convert a Hugging Face checkpoint into a bundle of .tflite models", runConvert)
}

func runConvert(args []string) int {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: edged convert --from HF_DIR|REPO[@REVISION] --out BUNDLE_DIR [--precision fp32|fp16|int8-dynamic|int8] [--calibration IMG_DIR] [--random-init]\n\n"+
			"Converts a checkpoint folder (config.json, model.safetensors, tokenizer and preprocessing\n"+
			"configs) of a supported architecture (%v) into a bundle folder:\n"+
			"the .tflite models, the configs they need and manifest.json. --from may be a Hugging Face\n"+
			"repository id, pulled first into the hub cache (as edged pull does).\n\n", models.Architectures.Names())
		fs.PrintDefaults()
	}
	from := fs.String("from", "", "Hugging Face checkpoint `folder`, or a repository id owner/name[@revision]")
	out := fs.String("out", "", "bundle `folder` to write (replaced if it is a bundle already)")
	precision := fs.String("precision", "", "fp32, fp16, int8-dynamic or int8 (full integer, calibrated); default: the architecture's")
	calibration := fs.String("calibration", "", "`folder` of images to calibrate int8 activations on (default: rendered shapes scenes)")
	images := fs.Int("calibration-images", convert.DefaultCalibrationImages, "how many calibration images to use")
	observer := fs.String("observer", convert.ObserverMinMax, "how calibration sets ranges: minmax, percentile or moving-average")
	randomInit := fs.Bool("random-init", false, "use random weights of realistic scale for the checkpoint's config (benchmarks at real size)")
	seed := fs.Uint64("seed", 0, "seed of --random-init weights")
	threads := fs.Int("threads", 1, "threads for calibration runs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	opts := convert.Options{
		CalibrationDir:    *calibration,
		CalibrationImages: *images,
		Observer:          *observer,
		RandomInit:        *randomInit,
		Seed:              *seed,
		Threads:           *threads,
		Progress:          convert.NewProgress(os.Stderr, slog.Default()),
		EdgedVersion:      version,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.Default()
	dir, origin, err := models.Checkpoint(ctx, *from, hub.Options{Logger: logger, Progress: pullProgress(os.Stderr, logger)})
	if err != nil {
		fmt.Fprintf(os.Stderr, "edged convert: %v\n", err)
		return 1
	}
	*from, opts.Origin = dir, origin
	if *precision == "" {
		opts.Precision, err = models.DefaultPrecision(*from)
	} else {
		opts.Precision, err = graph.ParsePrecision(*precision)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "edged convert: %v\n", err)
		return 2
	}
	if *calibration != "" && opts.Precision != graph.Int8Full {
		fmt.Fprintf(os.Stderr, "edged convert: --calibration is for --precision int8, not %v\n", opts.Precision)
		return 2
	}
	b, err := models.Convert(*from, *out, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "edged convert: %v\n", err)
		return 1
	}
	m := b.Manifest
	fmt.Printf("%s: %s at %s", b.Dir, m.Architecture, m.Precision)
	if m.Source.Parameters > 0 {
		fmt.Printf(", %.1fM parameters", float64(m.Source.Parameters)/1e6)
	}
	fmt.Println()
	for _, f := range m.Files {
		prec := ""
		if f.Precision != "" {
			prec = " (" + f.Precision + ")"
		}
		fmt.Printf("  %-26s %-20s %10d bytes%s\n", f.Path, f.Role, f.Size, prec)
	}
	return 0
}
