package daemon

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/mqtttest"
)

// waitTimeout bounds every wait for something to happen in these tests.
const waitTimeout = 20 * time.Second

// eventually polls cond until it holds, failing the test at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	mqtttest.Eventually(t, what, waitTimeout, cond)
}

// recorder is a Sink that keeps every result.
type recorder struct {
	mu      sync.Mutex
	results []*Result
}

func (r *recorder) Result(res *Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
}

// of returns the results of one kind, in the order they came.
func (r *recorder) of(k Kind) []*Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Result
	for _, res := range r.results {
		if res.Kind == k {
			out = append(out, res)
		}
	}
	return out
}

func (r *recorder) count(k Kind) int { return len(r.of(k)) }

// The model doubles below stand in for CLIP and BLIP where the scheduler, not a model, is
// under test. They make no pretence of seeing anything: they count calls, can be held up,
// and return what the test tells them to.

// testLabeler scores every label of a set with the score the test chose (0 by default) and
// counts its calls. While hold is set, EmbedImage waits for release.
type testLabeler struct {
	embeds, classifies atomic.Int64
	mu                 sync.Mutex
	scores             map[string]float64
	prepared           []string // names of the sets prepared, in order
	hold               atomic.Bool
	release            chan struct{}
}

func newTestLabeler() *testLabeler {
	return &testLabeler{scores: map[string]float64{}, release: make(chan struct{})}
}

func (l *testLabeler) setScore(label string, s float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.scores[label] = s
}

func (l *testLabeler) EmbedImage(ctx context.Context, img image.Image) ([]float32, error) {
	n := l.embeds.Add(1)
	if l.hold.Load() {
		select {
		case <-l.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return []float32{float32(n)}, nil // a distinct embedding per call
}

func (l *testLabeler) PrepareLabels(ctx context.Context, set *clip.LabelSet) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prepared = append(l.prepared, set.Name)
	return nil
}

func (l *testLabeler) Classify(ctx context.Context, emb []float32, set *clip.LabelSet) ([]clip.Score, error) {
	l.classifies.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]clip.Score, len(set.Labels))
	for i, lab := range set.Labels {
		out[i] = clip.Score{Label: lab.Name, Score: l.scores[lab.Name]}
	}
	// best first, as the contract says; stable so that ties keep file order
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Score > out[j-1].Score; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// heldCaptioner captions after the test releases it (one call per release), counting
// calls; with open set it does not wait.
type heldCaptioner struct {
	calls   atomic.Int64
	open    atomic.Bool
	release chan struct{}
}

func newHeldCaptioner() *heldCaptioner { return &heldCaptioner{release: make(chan struct{})} }

func (c *heldCaptioner) Caption(ctx context.Context, img image.Image, opts CaptionOptions) (Caption, error) {
	n := c.calls.Add(1)
	if !c.open.Load() {
		select {
		case <-c.release:
		case <-ctx.Done():
			return Caption{}, ctx.Err()
		}
	}
	return Caption{Text: fmt.Sprintf("caption %d", n)}, nil
}

// testAnswerer answers "answer to <question>" to each question, counting calls.
type testAnswerer struct {
	calls atomic.Int64
}

func newTestAnswerer() *testAnswerer { return &testAnswerer{} }

func (a *testAnswerer) Answer(ctx context.Context, img image.Image, qs []string) ([]string, error) {
	a.calls.Add(1)
	out := make([]string, len(qs))
	for i, q := range qs {
		out[i] = "answer to " + q
	}
	return out, nil
}

// testDir is a folder with a config, label sets and (empty) model folders for the doubles.
type testDir struct {
	t   *testing.T
	dir string
}

func newTestDir(t *testing.T) *testDir {
	td := &testDir{t: t, dir: t.TempDir()}
	for _, m := range []string{"clip", "blip_caption", "blip_vqa"} {
		if err := os.MkdirAll(filepath.Join(td.dir, "models", m), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return td
}

func (td *testDir) path(name string) string { return filepath.Join(td.dir, name) }

// write writes a file, giving it a modification time later than the one it had, so that
// the reload watcher sees the change even on a coarse-grained file system.
func (td *testDir) write(name, content string) string {
	td.t.Helper()
	p := td.path(name)
	var old time.Time
	if fi, err := os.Stat(p); err == nil {
		old = fi.ModTime()
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		td.t.Fatal(err)
	}
	if fi, err := os.Stat(p); err == nil && !fi.ModTime().After(old) {
		later := old.Add(time.Second)
		if err := os.Chtimes(p, later, later); err != nil {
			td.t.Fatal(err)
		}
	}
	return p
}

// config writes config.yaml: an embedded broker on a free port, the models folders, and
// cameras given as YAML (indented as list items under cameras:).
func (td *testDir) config(cameras string) string {
	return td.write("config.yaml", "device: test\nhttp: \"\"\ncache_dir: cache\nmqtt: {broker: embedded, listen: '127.0.0.1:0'}\n"+
		"models: {clip: models/clip, blip_caption: models/blip_caption, blip_vqa: models/blip_vqa}\n"+
		"cameras:\n"+cameras)
}

// running is a daemon started by a test with model doubles.
type running struct {
	d      *Daemon
	rec    *recorder
	logs   *mqtttest.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startDaemon runs a daemon on configPath with the given models; it is stopped at cleanup.
func startDaemon(t *testing.T, configPath string, models *Models, opts Options) *running {
	t.Helper()
	logs := &mqtttest.Buffer{}
	rec := &recorder{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.LoadModels = func(_ context.Context, _ *Config, ready func(*Models)) error { ready(models); return nil }
	opts.Sinks = append(opts.Sinks, rec)
	d, err := New(configPath, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, rec: rec, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.Tail(40))
		}
	})
	eventually(t, "the daemon to be ready", func() bool { return d.ready.Load() })
	return r
}

// stop cancels the daemon and waits for Run to return.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // stop may be called again
		return err
	case <-time.After(waitTimeout):
		t.Fatal("the daemon did not stop")
		return nil
	}
}

// metric reads one counter or gauge from the daemon's registry (0 when absent).
func (r *running) metric(name string, labels ...string) float64 {
	return metricValue(r.d.metrics, name, labels...)
}

func metricValue(m *metrics, name string, labels ...string) float64 {
	switch name {
	case "skipped":
		return testutil.ToFloat64(m.skipped.WithLabelValues(labels...))
	case "jobs":
		return testutil.ToFloat64(m.jobs.WithLabelValues(labels...))
	case "events":
		return testutil.ToFloat64(m.events.WithLabelValues(labels...))
	case "reloads":
		return testutil.ToFloat64(m.reloads.WithLabelValues(labels...))
	}
	panic("unknown metric " + name)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// loadAll loads the real models cfg names, all of them, closed when the test ends.
func loadAll(t *testing.T, cfg *Config) *Models {
	t.Helper()
	prep := newPreparation(cfg)
	live := newLiveModels()
	t.Cleanup(func() { live.close() })
	if err := loadModels(discardLogger(), prep)(context.Background(), cfg, func(m *Models) { live.add(m) }); err != nil {
		t.Fatal(err)
	}
	if _, failed := prep.problems(); len(failed) > 0 {
		t.Fatal(failed)
	}
	m := *live.load()
	return &m
}
