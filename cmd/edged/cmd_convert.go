package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/hf/hub"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/fidelity"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/textcal"
	"github.com/edged/edged/models"
)

func init() {
	register("convert", "convert a Hugging Face checkpoint into a bundle of .tflite models", runConvert)
}

func runConvert(args []string) int { return convertCommand(args, os.Stdout, os.Stderr) }

// convertCommand is edged convert writing to stdout and stderr.
func convertCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: edged convert --from HF_DIR|REPO[@REVISION] --out BUNDLE_DIR [--precision fp32|fp16|int8-dynamic|int8] [--calibration IMG_DIR [--check IMG_DIR2]] [--random-init]\n\n"+
			"Converts a checkpoint folder (config.json, model.safetensors, tokenizer and preprocessing\n"+
			"configs) of a supported architecture (%v) into a bundle folder:\n"+
			"the .tflite models, the configs they need and manifest.json. --from may be a Hugging Face\n"+
			"repository id, pulled first into the hub cache (as edged pull does).\n\n"+
			"With --check, the full-int8 model is compared with the float model on the frames of\n"+
			"IMG_DIR2 (held aside from calibration) and kept only if it passes the fidelity gate;\n"+
			"otherwise the bundle is written at int8-dynamic (int8 weights, float activations).\n\n", models.Architectures.Names())
		fs.PrintDefaults()
	}
	from := fs.String("from", "", "Hugging Face checkpoint `folder`, or a repository id owner/name[@revision]")
	out := fs.String("out", "", "bundle `folder` to write (replaced if it is a bundle already)")
	precision := fs.String("precision", "", "fp32, fp16, int8-dynamic or int8 (full integer, calibrated); default: the architecture's")
	calibration := fs.String("calibration", "", "`folder` of images like the camera's to calibrate int8 activations on (without it only the shapes models convert at full int8, on rendered shapes scenes; any other checkpoint converts at int8-dynamic: int8 weights, float activations)")
	images := fs.Int("calibration-images", convert.DefaultCalibrationImages, "how many calibration images to use")
	observer := fs.String("observer", convert.ObserverMinMax, "how calibration sets ranges: minmax, percentile or moving-average")
	randomInit := fs.Bool("random-init", false, "use random weights of realistic scale for the checkpoint's config (benchmarks at real size)")
	seed := fs.Uint64("seed", 0, "seed of --random-init weights")
	threads := fs.Int("threads", 1, "threads for calibration runs")
	gate := gateFlags(fs)
	if err := fs.Parse(args); err != nil {
		return flagStatus(err)
	}
	switch {
	case *from == "":
		return missingArgs(fs, "no checkpoint: give one with --from (a folder or a repository id)")
	case *out == "":
		return missingArgs(fs, "no bundle folder to write: give one with --out")
	case fs.NArg() > 0:
		return missingArgs(fs, "unexpected argument %q (flags take their value as --from VALUE)", fs.Arg(0))
	}
	opts := convert.Options{
		CalibrationDir:    *calibration,
		CalibrationImages: *images,
		Observer:          *observer,
		RandomInit:        *randomInit,
		Seed:              *seed,
		Threads:           *threads,
		Progress:          convert.NewProgress(stderr, slog.Default()),
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
		fmt.Fprintf(stderr, "edged convert: %v\n", err)
		return 2
	}
	if *calibration != "" && opts.Precision != graph.Int8Full {
		fmt.Fprintf(stderr, "edged convert: --calibration is for --precision int8, not %v\n", opts.Precision)
		return 2
	}
	if gate.calibrateText && gate.frames == "" {
		fmt.Fprintln(stderr, "edged convert: --calibrate-text keeps each text model at full int8 only where the fidelity gate holds: give frames to check on with --check")
		return 2
	}
	var b *bundle.Bundle
	if gate.frames != "" {
		if opts.Precision != graph.Int8Full {
			fmt.Fprintf(stderr, "edged convert: --check is for --precision int8, not %v\n", opts.Precision)
			return 2
		}
		check, err := gate.options(*threads)
		if err != nil {
			fmt.Fprintf(stderr, "edged convert: %v\n", err)
			return 2
		}
		var report *fidelity.Report
		if gate.calibrateText {
			var verdicts []textcal.Verdict
			b, verdicts, report, err = textcal.ConvertChecked(models.Architectures, *from, *out, opts, check, textcal.Options{Questions: check.Questions})
			for _, v := range verdicts {
				fmt.Fprintln(stdout, v)
			}
		} else {
			b, report, err = fidelity.ConvertChecked(models.Architectures, *from, *out, opts, check)
		}
		if usage := textcal.UsageError(""); errors.As(err, &usage) {
			fmt.Fprintf(stderr, "edged convert: %v\n", err)
			return 2
		}
		if err != nil {
			fmt.Fprintf(stderr, "edged convert: %v\n", err)
			return 1
		}
		if report != nil {
			fidelity.WriteReport(stdout, *report)
		}
	} else if b, err = models.Convert(*from, *out, opts); err != nil {
		fmt.Fprintf(stderr, "edged convert: %v\n", err)
		return 1
	}
	m := b.Manifest
	fmt.Fprintf(stdout, "%s: %s at %s", b.Dir, m.Architecture, m.Precision)
	if m.Source.Parameters > 0 {
		fmt.Fprintf(stdout, ", %.1fM parameters", float64(m.Source.Parameters)/1e6)
	}
	fmt.Fprintln(stdout)
	if c := m.Calibration; c != nil && c.Fallback != "" {
		fmt.Fprintf(stdout, "  not full int8: %s\n", c.Fallback)
	}
	for _, f := range m.Files {
		prec := ""
		if f.Precision != "" {
			prec = " (" + f.Precision + ")"
		}
		fmt.Fprintf(stdout, "  %-26s %-20s %10d bytes%s\n", f.Path, f.Role, f.Size, prec)
	}
	return 0
}
