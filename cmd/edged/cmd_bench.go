package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/internal/bench"
	"github.com/edged/edged/internal/bench/stages"
	"github.com/edged/edged/internal/bench/synth"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/graph/tfl"
	"github.com/edged/edged/models"
)

const benchUsage = `usage: edged bench (--model DIR[,DIR...] | --random-init CONFIG | --synthetic TOWERS) [flags]

Times edged's stages: p50/p90 over --runs runs after --warmup, per precision, delegate and
thread count, then the model file sizes and the process's peak RSS. Stage names and what
each one times are listed in BENCHMARKS.md.

  --synthetic TOWERS  towers built here from graph/nn with random weights (comma-separated:
                      clip-b32-vision, clip-b32-text, blip-base-vision, or all), to compare
                      precisions, delegates and ways of writing the graph (--variant)

flags:
`

func init() {
	register("bench", "time preprocessing, embeddings, captions and answers per precision and delegate", runBench)
}

type benchFlags struct {
	model, randomInit, synthetic  string
	stages, precisions, delegates string
	kernels                       string
	threads                       string
	runs, warmup                  int
	maxTime                       time.Duration
	jsonOut, verbose              bool
	variant, keepFloat            string
	textTokens                    int
	cache                         string
	calibImages                   int
	daemonFor                     time.Duration
	interleave                    bool
	daemonCameras                 int
}

func runBench(args []string) int {
	var f benchFlags
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.model, "model", "", "converted bundle folders, comma-separated (a checkpoint folder is converted first)")
	fs.StringVar(&f.randomInit, "random-init", "", "a config.json (CLIPConfig or BlipConfig) to build real-size bundles with random weights")
	fs.StringVar(&f.synthetic, "synthetic", "", "synthetic towers to time (see above)")
	fs.DurationVar(&f.daemonFor, "daemon", 0, "also run the daemon this long with synthetic 640x480 cameras at 120 fps and CLIP's towers replaced by preprocessing and scoring: frames/s and CPU time per frame outside TFLite")
	fs.BoolVar(&f.interleave, "interleave", true, "time the image towers (clip.image_embed, blip.vision) of every bundle, delegate and thread count round-robin, so that their ratios hold on a busy machine")
	fs.IntVar(&f.daemonCameras, "daemon-cameras", 1, "synthetic cameras for --daemon")
	fs.StringVar(&f.cache, "cache", "", "where --random-init bundles (and checkpoints given to --model) are converted to and reused from (default: the edged cache folder's bench/)")
	fs.IntVar(&f.calibImages, "calibration-images", 8, "--random-init at int8: images to calibrate on (speed does not depend on the ranges)")
	fs.StringVar(&f.stages, "stages", "all", "stages to time, comma-separated (names in BENCHMARKS.md), or all")
	fs.StringVar(&f.precisions, "precision", "int8", "precisions, comma-separated: fp32, fp16, int8-dynamic, int8, or all")
	fs.StringVar(&f.delegates, "delegate", "xnnpack+qs8", "delegates, comma-separated: none, xnnpack, xnnpack+qs8, or all")
	fs.StringVar(&f.kernels, "kernels", "auto", "edged's int8 kernels before the delegate, comma-separated: auto (the CPU's best under xnnpack), off, or kernel names (edged version lists them; they run under none too), each taking attention's int8 BATCH_MATMUL unless it ends in -bmm; delegate names then end in +kernel+bmm or +kernel-bmm")
	fs.StringVar(&f.threads, "threads", strconv.Itoa(runtime.NumCPU()), "thread counts, comma-separated")
	fs.IntVar(&f.runs, "runs", 20, "timed runs per measurement")
	fs.IntVar(&f.warmup, "warmup", 2, "untimed runs first")
	fs.DurationVar(&f.maxTime, "max-time", 20*time.Second, "stop a measurement early after this much timed work (at least 3 runs)")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON object per measurement and line")
	fs.BoolVar(&f.verbose, "v", false, "log progress to stderr")
	fs.StringVar(&f.variant, "variant", "", "synthetic graph form: comma-separated ln=mean|fc, act=exact|sigmoid, ablate=ln|attn (timing attribution only)")
	fs.StringVar(&f.keepFloat, "keep-float", "ln", "synthetic int8: operators kept in float: ln, ln+softmax or none")
	fs.IntVar(&f.textTokens, "text-tokens", 7, "synthetic text tower length (\"a photo of a dog\" is 7 with start and end)")
	if err := fs.Parse(args); err != nil {
		return flagStatus(err)
	}
	if err := benchMain(f); err != nil {
		fmt.Fprintf(os.Stderr, "edged bench: %v\n", err)
		return 1
	}
	return 0
}

func benchMain(f benchFlags) error {
	sources := 0
	for _, s := range []string{f.model, f.randomInit, f.synthetic} {
		if s != "" {
			sources++
		}
	}
	if sources > 1 {
		return errors.New("give one of --model, --random-init and --synthetic")
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	precisions, err := parsePrecisions(f.precisions)
	if err != nil {
		return fmt.Errorf("--precision: %w", err)
	}
	delegates, err := bench.ParseList(f.delegates, bench.Delegates)
	if err != nil {
		return fmt.Errorf("--delegate: %w", err)
	}
	if delegates, err = withKernels(delegates, f.kernels); err != nil {
		return fmt.Errorf("--kernels: %w", err)
	}
	threads, err := parseInts(f.threads)
	if err != nil {
		return fmt.Errorf("--threads: %w", err)
	}
	r := bench.NewRunner(os.Stdout, f.jsonOut, bench.Options{Warmup: f.warmup, Runs: f.runs, MaxTime: f.maxTime}, log)
	selected, err := bench.ParseList(f.stages, nil)
	if err != nil {
		return fmt.Errorf("--stages: %w", err)
	}
	want := func(stage string) bool {
		for _, s := range selected {
			if s == "all" || s == stage || strings.HasSuffix(s, ".") && strings.HasPrefix(stage, s) {
				return true
			}
		}
		return false
	}
	if err := bench.ResetPeakRSS(); err != nil {
		log.Warn("peak RSS covers the whole process", "err", err)
	}
	switch {
	case f.synthetic != "":
		err = benchSynthetic(r, f, precisions, delegates, threads)
	default:
		err = benchPreprocessing(r, f, want)
		if err == nil && (f.model != "" || f.randomInit != "") {
			err = benchBundles(r, f, precisions, delegates, threads, want)
		}
	}
	if err == nil && f.daemonFor > 0 {
		err = stages.DaemonOverhead(r, stages.DaemonOptions{Duration: f.daemonFor, Width: 640, Height: 480, FPS: 120, Cameras: f.daemonCameras})
	}
	if err != nil {
		return err
	}
	if rss, rerr := bench.PeakRSS(); rerr == nil {
		if err := r.Emit(bench.Record{Stage: "memory.peak_rss", Model: modelName(f), PeakRSS: rss}); err != nil {
			return err
		}
	}
	if err := r.Flush(); err != nil {
		return err
	}
	if r.Failures > 0 {
		return fmt.Errorf("%d measurement(s) failed (see the log above)", r.Failures)
	}
	return nil
}

// benchBundles times the stages of --model's bundle, or of --random-init's configs at each
// precision, under every delegate and thread count.
func benchBundles(r *bench.Runner, f benchFlags, precisions []graph.Precision, delegates []string, threads []int, want func(string) bool) error {
	cache := f.cache
	if cache == "" {
		dir, err := models.DefaultCacheDir()
		if err != nil {
			return err
		}
		cache = filepath.Join(dir, "bench")
	}
	var jobs []stages.Job
	if f.model != "" {
		dirs, err := bench.ParseList(f.model, nil)
		if err != nil {
			return fmt.Errorf("--model: %w", err)
		}
		for _, dir := range dirs {
			b, err := openModel(dir, f.cache, "", io.Discard)
			if err != nil {
				return err
			}
			jobs = append(jobs, stages.Job{Bundle: b, Name: filepath.Base(filepath.Clean(dir))})
		}
	} else {
		configs, err := bench.ParseList(f.randomInit, nil)
		if err != nil {
			return fmt.Errorf("--random-init: %w", err)
		}
		for _, c := range configs {
			for _, p := range precisions {
				start := time.Now()
				b, name, err := stages.RandomInitBundle(c, p, cache, f.calibImages)
				if err != nil {
					r.Fail(bench.Record{Stage: "convert", Model: c, Precision: p.String()}, err)
					continue
				}
				r.Log.Info("bundle ready", "dir", b.Dir, "took", bench.Elapsed(start))
				jobs = append(jobs, stages.Job{Bundle: b, Name: name})
			}
		}
	}
	if want("memory.models_rss") && !want("clip.image_embed") {
		// Alone (--stages memory.models_rss): the peak covers loading and running the models only.
		if err := bench.ResetPeakRSS(); err != nil {
			r.Log.Warn("peak RSS covers the whole process", "err", err)
		}
		if len(delegates) != 1 {
			return fmt.Errorf("memory.models_rss measures one configuration per process, not %d: give one --delegate and one --kernels", len(delegates))
		}
		return stages.ModelsMemory(r, jobs, delegates[0])
	}
	for _, j := range jobs {
		if err := stages.FileSizes(stages.Setup{Runner: r, Model: j.Name}, j.Bundle); err != nil {
			return err
		}
	}
	perBundle := want
	if f.interleave && (want("clip.image_embed") || want("blip.vision")) {
		if err := stages.VisionInterleaved(r, jobs, delegates, threads); err != nil {
			return err
		}
		perBundle = func(stage string) bool { return stage != "clip.image_embed" && stage != "blip.vision" && want(stage) }
	}
	for _, j := range jobs {
		s := stages.Setup{Runner: r, Model: j.Name, Want: perBundle}
		seen := map[string]bool{}
		for _, d := range delegates {
			for _, n := range threads {
				s.Delegate, s.Threads = d, n
				key := fmt.Sprint(stages.EffectiveDelegate(j.Bundle, d), n)
				if seen[key] {
					continue // clip turns QS8 on for int8 towers itself: xnnpack and xnnpack+qs8 are one configuration
				}
				seen[key] = true
				if err := stages.Run(s, j.Bundle); err != nil {
					r.Fail(bench.Record{Stage: "bundle", Model: j.Name, Precision: j.Bundle.Manifest.Precision, Delegate: d, Threads: n}, err)
				}
			}
		}
	}
	return nil
}

// withKernels crosses the delegates with the kernel modes into delegate names (bench.WithKernels).
func withKernels(delegates []string, modes string) ([]string, error) {
	list, err := bench.ParseList(modes, nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range delegates {
		for _, m := range list {
			name, err := bench.WithKernels(d, m)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out, nil
}

func modelName(f benchFlags) string {
	switch {
	case f.synthetic != "":
		return "synthetic"
	case f.model != "":
		return f.model
	case f.randomInit != "":
		return f.randomInit
	}
	return "-"
}

// benchPreprocessing times imageproc on a 640×480 BGR frame (a camera's) into CLIP's 224 and
// BLIP's 384 tensors, with a reused buffer, as the daemon does.
func benchPreprocessing(r *bench.Runner, f benchFlags, want func(string) bool) error {
	frame := stages.SyntheticFrame()
	for _, c := range []struct {
		stage string
		cfg   imageproc.Config
	}{{"imageproc.clip", imageproc.CLIPDefaults()}, {"imageproc.blip", imageproc.BLIPDefaults()}} {
		if !want(c.stage) {
			continue
		}
		p, err := imageproc.New(c.cfg, imageproc.Options{})
		if err != nil {
			return err
		}
		h, w, err := p.OutputSize(frame.Width, frame.Height)
		if err != nil {
			return err
		}
		dst := make([]float32, h*w*3)
		rec := bench.Record{Stage: c.stage, Model: fmt.Sprintf("640x480-bgr->%dx%d", w, h), Precision: "fp32", Delegate: "go", Threads: 1}
		r.Time(rec, func() error {
			_, err := p.ProcessFrame(frame, dst)
			return err
		})
	}
	return nil
}

func benchSynthetic(r *bench.Runner, f benchFlags, precisions []graph.Precision, delegates []string, threads []int) error {
	names, err := bench.ParseList(f.synthetic, synth.TowerNames)
	if err != nil {
		return fmt.Errorf("--synthetic: %w", err)
	}
	v, err := parseVariant(f.variant)
	if err != nil {
		return fmt.Errorf("--variant: %w", err)
	}
	var keep func(string, tfl.BuiltinOp) bool
	switch f.keepFloat {
	case "ln":
		keep = synth.KeepLayerNormFloat
	case "ln+softmax":
		keep = synth.KeepLayerNormAndSoftmaxFloat
	case "none":
		keep = func(string, tfl.BuiltinOp) bool { return false }
	default:
		return fmt.Errorf("--keep-float: want ln, ln+softmax or none, got %q", f.keepFloat)
	}
	variantName := f.variant
	if f.keepFloat != "ln" {
		if variantName != "" {
			variantName += ","
		}
		variantName += "keep=" + f.keepFloat
	}
	for _, name := range names {
		t, err := synth.NewTower(name, f.textTokens)
		if err != nil {
			return err
		}
		if err := synth.Run(r, t, v, variantName, precisions, delegates, threads, keep); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func parseVariant(s string) (synth.Variant, error) {
	var v synth.Variant
	if s == "" {
		return v, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, val, _ := strings.Cut(kv, "=")
		switch {
		case k == "ln" && val == "mean":
			v.LayerNorm = synth.LayerNormMean
		case k == "ln" && val == "fc":
			v.LayerNorm = synth.LayerNormFC
		case k == "ablate" && (val == "ln" || val == "attn"):
			v.Ablate = val
		case k == "act" && val == "exact":
		case k == "act" && val == "sigmoid":
			v.Act = synth.GELUSigmoid
		default:
			return v, fmt.Errorf("unknown %q", kv)
		}
	}
	return v, nil
}

func parsePrecisions(s string) ([]graph.Precision, error) {
	names, err := bench.ParseList(s, []string{"fp32", "fp16", "int8-dynamic", "int8"})
	if err != nil {
		return nil, err
	}
	out := make([]graph.Precision, len(names))
	for i, n := range names {
		if out[i], err = graph.ParsePrecision(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	items, err := bench.ParseList(s, nil)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(items))
	for i, it := range items {
		n, err := strconv.Atoi(it)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", it)
		}
		out[i] = n
	}
	return out, nil
}
