package stages

import (
	"context"
	"fmt"
	"image"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edged/edged/clip"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/internal/bench"
	"github.com/edged/edged/internal/daemon"
)

// DaemonOptions shape the daemon overhead run.
type DaemonOptions struct {
	Duration      time.Duration // how long the daemon runs (after a second of start-up)
	Width, Height int           // synthetic camera frame size
	FPS           float64       // synthetic camera rate (the config allows up to 120)
	Cameras       int
}

// preprocLabeler stands in for CLIP in the daemon overhead run: it does everything the real
// labeler does outside TFLite (preprocessing the frame into CLIP's 224×224 tensor, scoring 100
// labels with clip.Classifier) and returns a fixed embedding instead of running the tower.
type preprocLabeler struct {
	proc       *imageproc.Processor
	buffers    sync.Pool
	embed      []float32
	classifier *clip.Classifier
	set        *clip.LabelSet
	frames     atomic.Int64
}

func (l *preprocLabeler) EmbedImage(_ context.Context, img image.Image) ([]float32, error) {
	buf := l.buffers.Get().(*[]float32)
	defer l.buffers.Put(buf)
	if _, err := l.proc.Process(img, *buf); err != nil {
		return nil, err
	}
	l.frames.Add(1)
	return l.embed, nil
}

func (l *preprocLabeler) PrepareLabels(context.Context, *clip.LabelSet) error { return nil }

func (l *preprocLabeler) Classify(_ context.Context, e []float32, _ *clip.LabelSet) ([]clip.Score, error) {
	return l.classifier.Classify(e)
}

// DaemonOverhead runs the real daemon (synthetic cameras, scheduler, workers, events, the
// embedded MQTT broker and publisher) with CLIP's towers replaced by preprocessing and
// scoring only, and reports the frames per second it sustains (daemon.frames_per_s, as
// p50_ms: the mean time between labelled frames) and the process CPU time per labelled frame
// (daemon.cpu_per_frame): the cost of everything outside TFLite.
func DaemonOverhead(r *bench.Runner, o DaemonOptions) error {
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.Cameras <= 0 {
		o.Cameras = 1
	}
	dir, err := os.MkdirTemp("", "edged-bench-daemon-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return err
	}
	var labels strings.Builder
	labels.WriteString("name: bench\ntemplates: [\"a photo of a {}\"]\nlabels:\n")
	for _, l := range Labels {
		fmt.Fprintf(&labels, "  - %s\n", l)
	}
	if err := os.WriteFile(filepath.Join(dir, "labels.yaml"), []byte(labels.String()), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "clip"), 0o755); err != nil {
		return err
	}
	var cams strings.Builder
	for i := 0; i < o.Cameras; i++ {
		fmt.Fprintf(&cams, `  - name: cam%d
    source: {kind: synthetic, width: %d, height: %d, fps: %g, seed: %d}
    labels: {sets: [labels.yaml], every: 1ms, top_k: 3}
`, i, o.Width, o.Height, o.FPS, i+1)
	}
	cfg := fmt.Sprintf(`device: bench
http: ""
mqtt:
  broker: embedded
  listen: 127.0.0.1:%d
  topic_prefix: bench
  home_assistant: {enabled: false}
models:
  clip: clip
cameras:
%s`, port, cams.String())
	cfgPath := filepath.Join(dir, "edged.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	proc, err := imageproc.New(imageproc.CLIPDefaults(), imageproc.Options{})
	if err != nil {
		return err
	}
	set, err := clip.NewLabelSet("bench", Labels, []string{clip.DefaultTemplate})
	if err != nil {
		return err
	}
	embeds := make([][]float32, len(Labels))
	for i := range embeds {
		embeds[i] = clip.Normalize(randomFloats(512, 1, uint64(100+i)))
	}
	classifier, err := selfContrasted(set, embeds, 100)
	if err != nil {
		return err
	}
	lab := &preprocLabeler{proc: proc, embed: clip.Normalize(randomFloats(512, 1, 99)), classifier: classifier, set: set}
	lab.buffers.New = func() any { b := make([]float32, 224*224*3); return &b }
	var results atomic.Int64
	sink := daemon.SinkFunc(func(res *daemon.Result) {
		if res.Kind == daemon.KindLabels {
			results.Add(1)
		}
	})
	d, err := daemon.New(cfgPath, daemon.Options{
		LoadModels: func(_ context.Context, _ *daemon.Config, ready func(*daemon.Models)) error {
			ready(&daemon.Models{Labeler: lab})
			return nil
		},
		Sinks:  []daemon.Sink{sink},
		Logger: r.Log,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	time.Sleep(time.Second) // start-up: broker, cameras, first frames (not measured)
	f0, cpu0, t0 := lab.frames.Load(), cpuTime(), time.Now()
	time.Sleep(o.Duration)
	f1, cpu1, t1 := lab.frames.Load(), cpuTime(), time.Now()
	cancel()
	if err := <-done; err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	frames := f1 - f0
	if frames <= 0 {
		return fmt.Errorf("daemon labelled no frames in %v", o.Duration)
	}
	wall := t1.Sub(t0)
	model := fmt.Sprintf("%dx%d-synthetic×%d@%gfps", o.Width, o.Height, o.Cameras, o.FPS)
	perFrame := wall / time.Duration(frames)
	rec := bench.Record{Stage: "daemon.frames", Model: model, Precision: "-", Delegate: "go", Threads: 0,
		P50Ms: round3(bench.Ms(perFrame)), P90Ms: round3(bench.Ms(perFrame)), Runs: int(frames),
		Note: fmt.Sprintf("%.1f frames/s labelled over %.1fs (the cameras offer %.0f)", float64(frames)/wall.Seconds(), wall.Seconds(), o.FPS*float64(o.Cameras))}
	if err := r.Emit(rec); err != nil {
		return err
	}
	cpu := (cpu1 - cpu0) / time.Duration(frames)
	rec = bench.Record{Stage: "daemon.cpu_per_frame", Model: model, Precision: "-", Delegate: "go", Threads: 0,
		P50Ms: round3(bench.Ms(cpu)), P90Ms: round3(bench.Ms(cpu)), Runs: int(frames),
		Note: fmt.Sprintf("process CPU time per labelled frame outside TFLite (render, preprocess, score, publish); %d results", results.Load())}
	return r.Emit(rec)
}

func round3(ms float64) float64 { return float64(int64(ms*1000+0.5)) / 1000 }

// cpuTime is the user and system CPU time of the whole process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
