package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged/edged/camera"
	"github.com/edged/edged/internal/publish"
	"github.com/edged/edged/internal/userfile"
	"github.com/edged/edged/internal/web"
)

// Options are what a program embedding the daemon decides; the config file decides the rest.
type Options struct {
	// Stdout receives one readable line per result; nil prints none.
	Stdout io.Writer
	// Logger receives the structured log; nil logs text to stderr at the config's log_level
	// (which a reload may change).
	Logger *slog.Logger
	// LoadModels loads the models the config names, in the background while the daemon
	// runs; nil loads the real CLIP and BLIP models, pulling repositories and converting
	// checkpoints into the cache on first use.
	LoadModels ModelLoader
	// Sinks receive every result, besides MQTT and Stdout (a live page, say).
	Sinks []Sink
	// Version is reported to Home Assistant.
	Version string
	// ReloadPoll is how often the config and label set files are checked for changes
	// (default 2s).
	ReloadPoll time.Duration
	// DrainTimeout bounds how long in-flight work may take to finish at shutdown (default 10s).
	DrainTimeout time.Duration
}

// Daemon is edged's long-lived service: cameras → schedule → CLIP and BLIP → MQTT.
type Daemon struct {
	opts     Options
	path     string
	log      *slog.Logger
	logLevel *slog.LevelVar // nil when the caller brought its own logger
	st       atomic.Pointer[state]
	pub      *publish.Publisher
	metrics  *metrics
	mux      *http.ServeMux
	sources  []camera.Source
	runners  map[string]*runner
	sched    *scheduler
	ready    atomic.Bool  // lanes and runners running: asks can be scheduled
	prep     *preparation // where each model stands; set by Run
	budget   *memoryBudget
	stopping atomic.Bool
	reload   chan struct{}
	started  time.Time
	page     *page       // the live page's state and backend
	pageHTTP *web.Server // the live page, served at "/"
}

// New reads the config file and everything it names that can be checked without opening
// anything: label sets, camera sources, MQTT password and TLS files. A problem is returned as
// a *ConfigError (edged exits with status 2); nothing has been started.
func New(configPath string, opts Options) (*Daemon, error) {
	st, err := loadState(configPath)
	if err != nil {
		return nil, err
	}
	cfg := st.cfg
	d := &Daemon{opts: opts, path: configPath, runners: map[string]*runner{}, reload: make(chan struct{}, 1), mux: http.NewServeMux()}
	if d.opts.ReloadPoll <= 0 {
		d.opts.ReloadPoll = 2 * time.Second
	}
	if d.opts.DrainTimeout <= 0 {
		d.opts.DrainTimeout = 10 * time.Second
	}
	d.log = opts.Logger
	if d.log == nil {
		d.logLevel = new(slog.LevelVar)
		d.logLevel.Set(parseLevel(cfg.LogLevel))
		d.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: d.logLevel}))
	}
	d.st.Store(st)
	if d.budget, err = newMemoryBudget(cfg); err != nil {
		return nil, err
	}
	if w := d.budget.newWarning(); w != "" {
		d.log.Warn(w)
	}

	if d.page, err = newPage(d); err != nil {
		return nil, err
	}
	popts := publisherOptions(cfg, st, opts.Version)
	popts.AskHandler = d.ask
	popts.SearchHandler = d.page.searchMQTT
	pub, err := publish.New(popts, d.log) // it names itself in its log lines
	if err != nil {
		return nil, configErrorAt(cfg, "mqtt", "%v", err)
	}
	d.pub = pub

	camera.SetNativeLogging(cfg.LogLevel == "debug")
	for i, c := range cfg.Cameras {
		src, err := camera.New(cameraSpec(cfg, c), camera.Options{Logger: d.log.With("component", "camera"), StateChanged: d.cameraState})
		if err != nil {
			field := fmt.Sprintf("cameras[%d].source", i)
			var se *camera.SpecError
			if errors.As(err, &se) && se.Field != "" {
				field += "." + se.Field
			}
			return nil, configErrorAt(cfg, field, "%v", err)
		}
		d.sources = append(d.sources, src)
		// Until it streams: a retained "online" from an edged that was killed is not true now.
		if err := d.pub.SetCameraAvailable(c.Name, false); err != nil {
			return nil, configErrorAt(cfg, fmt.Sprintf("cameras[%d].name", i), "%v", err)
		}
	}
	d.metrics = newMetrics(statsSource{cameras: d.cameraStats, publisher: d.pub.Stats})
	d.metrics.reg.MustRegister(calibrationCollector{prep: func() *preparation { return d.prep }})
	d.mux.Handle("/metrics", d.metricsHandler())
	d.mux.HandleFunc("/healthz", d.healthz)
	d.pageHTTP = web.New(d.page, web.Options{Logger: d.log.With("component", "web")})
	d.mux.Handle("/", d.pageHTTP)
	return d, nil
}

// cameraSpec maps a camera's config onto the camera package's Spec.
func cameraSpec(cfg *Config, c Camera) camera.Spec {
	s := c.Source
	return camera.Spec{Name: c.Name, Kind: s.Kind, Device: s.Device, URL: s.URL, Transport: s.Transport,
		Username: s.Username, PasswordFile: cfg.Resolve(s.PasswordFile), Pipeline: s.Pipeline,
		Path: cfg.Resolve(s.Path), Loop: s.Loop, FPS: s.FPS, Width: s.Width, Height: s.Height, Format: s.Format,
		ReadTimeout: s.ReadTimeout, SceneEvery: s.SceneEvery, Seed: s.Seed}
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// Handle adds a handler to the daemon's HTTP server (beside /metrics and /healthz). Call it
// before Run.
func (d *Daemon) Handle(pattern string, h http.Handler) { d.mux.Handle(pattern, h) }

// Reload asks the daemon to read its config and label sets again (what SIGHUP does). It
// never blocks; reloads asked for while one runs are folded into the next.
func (d *Daemon) Reload() {
	select {
	case d.reload <- struct{}{}:
	default:
	}
}

// Run runs the daemon until ctx ends, then drains: work already handed to a worker finishes
// (within Options.DrainTimeout) and is published, open events are ended, the publisher
// flushes its queue and publishes `stopped`. It returns nil after a clean shutdown and an
// error when something could not start (the HTTP address, the embedded broker, a model).
func (d *Daemon) Run(ctx context.Context) error {
	d.started = time.Now()
	cfg := d.st.Load().cfg
	d.prep = newPreparation(cfg)
	d.prep.budget = d.budget
	d.prep.unload = &idleUnload{after: cfg.Models.idleUnload(), metrics: d.metrics, log: d.log, prep: d.prep,
		scheduled: func(field string) bool { return scheduledModels(d.st.Load().cfg)[field] }}
	d.prep.config = func() *Config { return d.st.Load().cfg }

	stopHTTP, err := d.serveHTTP(cfg)
	if err != nil {
		return err
	}
	defer stopHTTP()

	// The publisher has its own lifetime: it must outlive ctx to publish what the drain
	// produces, then `stopped`.
	if err := d.pub.Start(context.Background()); err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	defer d.pub.Close()
	d.log.Info("mqtt", "broker", d.pub.BrokerURL(), "device", cfg.Device, "topics", d.pub.Topics().Prefix+"/"+cfg.Device+"/#")

	labelWorkers, blipWorkers := laneWorkers(cfg.Runtime.Workers)
	capacity := 4*len(cfg.Cameras) + 64 // at most one job per camera and kind, plus asks
	d.sched = &scheduler{
		live:    newLiveModels(),
		labels:  newLane("labels", capacity, d.log),
		blip:    newLane("blip", capacity, d.log),
		sink:    d.sink(),
		metrics: d.metrics,
		log:     d.log,
		state:   d.st.Load,
	}
	// After the drain: no job runs on a model any more.
	defer d.sched.live.close()
	d.metrics.workers.WithLabelValues("labels").Set(float64(labelWorkers))
	d.metrics.workers.WithLabelValues("blip").Set(float64(blipWorkers))
	// Jobs get a context of their own that ends only at the drain deadline.
	workCtx, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()
	d.sched.labels.start(workCtx, labelWorkers)
	d.sched.blip.start(workCtx, blipWorkers)

	var camWG, runWG sync.WaitGroup
	for i, src := range d.sources {
		var gate *camera.MotionGate
		if m := cfg.Cameras[i].Motion; m.Enabled {
			gate = camera.NewMotionGate(camera.MotionOptions{Threshold: m.Threshold, MaxSkip: m.MaxSkip})
		}
		r := newRunner(d.sched, src, gate)
		d.runners[src.Name()] = r
		camWG.Add(1)
		go func() {
			defer camWG.Done()
			if err := src.Run(ctx); err != nil {
				d.log.Error("camera stopped", "camera", src.Name(), "err", err)
			}
		}()
		runWG.Add(1)
		go func() {
			defer runWG.Done()
			r.loop(ctx)
		}()
	}
	d.ready.Store(true)
	// Models are prepared while the cameras run; a model that is ready after ctx ended is
	// closed at once (liveModels.add), and a conversion in progress is left to finish or die
	// with the process (bundles are published atomically).
	load := d.opts.LoadModels
	if load == nil {
		load = loadModels(d.log, d.prep)
	}
	go d.prepareModels(ctx, cfg, load)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		d.watch(ctx)
	}()
	d.log.Info("edged running", "cameras", len(d.sources), "workers", fmt.Sprintf("%d labels + %d blip", labelWorkers, blipWorkers), "http", cfg.HTTP.Listen)

	<-ctx.Done()
	d.stopping.Store(true)
	d.log.Info("stopping: finishing in-flight work", "timeout", d.opts.DrainTimeout)
	runWG.Wait()
	camWG.Wait()
	<-watchDone
	d.drain(cancelWork)
	now := time.Now()
	for _, r := range d.runners {
		r.closeEvents(now)
	}
	d.ready.Store(false)
	d.log.Info("stopped: in-flight work finished")
	return nil
}

// drain closes the lanes and waits for their workers; at the deadline it cancels the jobs'
// context (a model call in progress still finishes: TFLite cannot be interrupted).
func (d *Daemon) drain(cancelWork context.CancelFunc) {
	d.sched.labels.close()
	d.sched.blip.close()
	done := make(chan struct{})
	go func() {
		d.sched.labels.wait()
		d.sched.blip.wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d.opts.DrainTimeout):
		d.log.Warn("in-flight work did not finish in time; cancelling it", "timeout", d.opts.DrainTimeout)
		cancelWork()
		<-done
	}
}

// prepareSets computes the text embeddings of every label set in st (cached by clip).
func prepareSets(ctx context.Context, models *Models, st *state, m *metrics) error {
	if models.Labeler == nil {
		return nil
	}
	done := map[any]bool{}
	for _, cam := range st.cfg.Cameras {
		for _, set := range st.sets[cam.Name] {
			if done[set] {
				continue
			}
			done[set] = true
			start := time.Now()
			err := models.Labeler.PrepareLabels(ctx, set)
			m.observe(modelCLIPText, time.Since(start), err)
			if err != nil {
				return fmt.Errorf("label set %s: text embeddings: %w", set.Source, err)
			}
		}
	}
	return nil
}

// sink is where results go: MQTT, the console, and any sinks the caller added.
func (d *Daemon) sink() Sink {
	s := sinks{&mqttSink{pub: d.pub, log: d.log}}
	if d.opts.Stdout != nil {
		s = append(s, newConsole(d.opts.Stdout))
	}
	s = append(s, d.page)
	return append(s, d.opts.Sinks...)
}

// ask answers a question from MQTT about a camera's newest frame, on the BLIP lane ahead of
// scheduled work.
func (d *Daemon) ask(ctx context.Context, cam, question, requestID string) (publish.Answer, error) {
	switch {
	case d.st.Load().camera(cam) == nil:
		return publish.Answer{}, fmt.Errorf("unknown camera %q", cam)
	case d.stopping.Load():
		return publish.Answer{}, errLaneClosed
	case !d.ready.Load(): // ready is stored after the runners and lanes are made
		return publish.Answer{}, errors.New("edged is starting; ask again in a moment")
	case d.sched.models().Answerer == nil && d.st.Load().cfg.Models.BLIPVQA != "":
		return publish.Answer{}, errors.New("the VQA model (models.blip_vqa) is being prepared; ask again when it is ready")
	case d.sched.models().Answerer == nil:
		return publish.Answer{}, errors.New("no VQA model: the config names no models.blip_vqa")
	}
	f, err := d.runners[cam].currentFrame()
	if err != nil {
		return publish.Answer{}, err
	}
	type outcome struct {
		answer string
		took   time.Duration
		err    error
	}
	done := make(chan outcome, 1)
	// The VQA model counts as in use from now: the ask may wait behind a caption.
	unhold := holdQueued(d.sched.models().Answerer)
	j := &job{camera: cam, kind: KindAsk, run: func(context.Context) {
		defer unhold()
		defer f.Release()
		if ctx.Err() != nil { // the asker gave up while the job waited
			done <- outcome{err: ctx.Err()}
			return
		}
		start := time.Now()
		var a string
		as, err := d.sched.models().Answerer.Answer(ctx, f.Image, []string{question})
		if err == nil && len(as) != 1 {
			err = fmt.Errorf("%d answers to one question", len(as))
		}
		took := time.Since(start)
		d.metrics.observe(modelBLIPVQA, took, err)
		d.metrics.job(cam, KindAsk, err)
		if err == nil {
			a = as[0]
			d.sched.sink.Result(&Result{Kind: KindAnswer, Camera: cam, Frame: frameInfo(f), Latency: took,
				Question: question, Text: a, Asked: true, RequestID: requestID})
		}
		done <- outcome{a, took, err}
	}}
	seq, at := f.Seq, f.Time
	if err := d.sched.blip.submitUrgent(ctx, j); err != nil {
		unhold()
		f.Release()
		return publish.Answer{}, err
	}
	select {
	case o := <-done:
		if o.err != nil {
			return publish.Answer{}, fmt.Errorf("BLIP answer: %w", o.err)
		}
		return publish.Answer{Ts: publish.Timestamp(at), Frame: seq, Question: question, Answer: o.answer}, nil
	case <-ctx.Done():
		return publish.Answer{}, ctx.Err()
	}
}

// cameraState hears of every change of a camera's state: the camera is available on MQTT
// while it streams. Connecting says nothing new (a camera retrying stays unavailable, a
// reconnecting one is not yet back).
func (d *Daemon) cameraState(name string, st camera.Stats) {
	if st.State == camera.StateConnecting {
		return
	}
	if err := d.pub.SetCameraAvailable(name, st.State == camera.StateStreaming); err != nil && !errors.Is(err, publish.ErrClosed) {
		d.log.Warn("cannot publish a camera's availability", "camera", name, "err", err)
	}
}

// cameraStats are the sources' counters, by camera name.
func (d *Daemon) cameraStats() map[string]camera.Stats {
	m := make(map[string]camera.Stats, len(d.sources))
	for _, s := range d.sources {
		m[s.Name()] = s.Stats()
	}
	return m
}

// HTTP server limits: a client must send its request within readTimeout (the page's requests
// are small), and an idle keep-alive connection is closed after idleTimeout. Responses set
// their own write deadlines, since event streams stay open.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// serveHTTP listens on the config's http address (none serves nothing) before returning, so
// a taken address is an error at start; the returned function shuts the server down. Every
// request passes the access guard: the host it names, and credentials when configured.
func (d *Daemon) serveHTTP(cfg *Config) (func(), error) {
	addr := cfg.HTTP.Listen
	if addr == "" {
		return func() {}, nil
	}
	access := web.AccessOptions{AllowedHosts: cfg.HTTP.AllowedHosts, Logger: d.log.With("component", "http")}
	access.ListenHost, _, _ = net.SplitHostPort(addr)
	var err error
	if cfg.HTTP.UsersFile != "" {
		if access.Users, err = userfile.Read(cfg.Resolve(cfg.HTTP.UsersFile)); err != nil {
			return nil, fmt.Errorf("http: users_file: %w", err)
		}
	}
	if access.Token, err = cfg.httpToken(); err != nil {
		return nil, fmt.Errorf("http: token_file: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	srv := &http.Server{Handler: web.Guard(d.mux, access), ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout: readTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}
	srv.RegisterOnShutdown(d.pageHTTP.Close) // event streams would hold Shutdown otherwise
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", "err", err)
		}
	}()
	d.log.Info("http", "page", "http://"+ln.Addr().String()+"/", "metrics", "http://"+ln.Addr().String()+"/metrics", "health", "http://"+ln.Addr().String()+"/healthz")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
