package daemon

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged/edged/camera"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/confirm"
	"github.com/edged/edged/internal/recall"
)

// scheduler is what every camera's runner shares: the models, the two lanes, where results
// go, the metrics, and the current state.
type scheduler struct {
	live    *liveModels // the models ready so far; more join while the daemon runs
	labels  *lane       // CLIP
	blip    *lane       // captions, standing questions, asks
	sink    Sink
	recall  atomic.Pointer[recall.Store] // frames for text search; nil until a CLIP text tower is ready
	metrics *metrics
	log     *slog.Logger
	state   func() *state
}

// runner schedules one camera's work. Its loop takes the newest frame on each tick of a kind
// (labels, caption, questions) and hands a job to a lane; the camera's source captures on its
// own goroutine and never waits for it.
type runner struct {
	sched *scheduler
	name  string
	src   camera.Source
	gate  *camera.MotionGate // nil without a motion gate
	log   *slog.Logger

	reloaded chan struct{} // a new state was swapped in: intervals may have changed

	// inflight says whether the camera's job of a kind is queued or running: a tick that
	// finds it so skips (and counts) instead of piling jobs up.
	inflight map[Kind]*atomic.Bool

	mu      sync.Mutex
	latest  *camera.Frame // the newest frame taken from the source, held by the runner
	ended   bool          // the source closed its frames (a file played to its end)
	lastSeq map[Kind]uint64
	gateSeq uint64 // the frame the motion gate last judged, and its verdict
	gateRun bool

	// Label jobs of one camera never overlap (inflight), so only the running one touches
	// the event trackers.
	trackers map[string]*setTracker
	// checkers keep the ITM verdicts of open events, one Checker per confirm threshold the
	// camera has used (a reload may change it while events are open). Touched, as the
	// trackers, only by the running label job and, after the lanes drained, closeEvents.
	checkers map[float64]*confirm.Checker
	errs     errorLog
}

// setTracker follows the events of one label set with the settings it was made for.
type setTracker struct {
	set         *clip.LabelSet
	thresholds  map[string]float64 // each label's own threshold
	hysteresis  float64
	minDuration time.Duration
	tracker     *EventTracker
}

func newRunner(s *scheduler, src camera.Source, gate *camera.MotionGate) *runner {
	r := &runner{
		sched:    s,
		name:     src.Name(),
		src:      src,
		gate:     gate,
		log:      s.log.With("camera", src.Name()),
		reloaded: make(chan struct{}, 1),
		inflight: map[Kind]*atomic.Bool{},
		lastSeq:  map[Kind]uint64{},
		trackers: map[string]*setTracker{},
		checkers: map[float64]*confirm.Checker{},
	}
	for _, k := range []Kind{KindLabels, KindCaption, KindQuestions} {
		r.inflight[k] = new(atomic.Bool)
	}
	return r
}

// notifyReload tells the loop that the state changed (never blocks).
func (r *runner) notifyReload() {
	select {
	case r.reloaded <- struct{}{}:
	default:
	}
}

// intervals are how often each kind of work runs; 0 is never.
type intervals map[Kind]time.Duration

func (s *scheduler) intervals(cam *Camera) intervals {
	iv := intervals{}
	ms := s.models()
	if len(cam.Labels.Sets) > 0 && ms.Labeler != nil {
		iv[KindLabels] = cam.Labels.Every
	}
	if cam.Caption.Every > 0 && ms.Captioner != nil {
		iv[KindCaption] = cam.Caption.Every
	}
	if len(cam.Questions.Ask) > 0 && ms.Answerer != nil {
		iv[KindQuestions] = cam.Questions.Every
	}
	return iv
}

// loop runs the camera's schedule until ctx ends, then gives back the frame it holds. Jobs
// already handed to a lane hold their own reference to their frame.
func (r *runner) loop(ctx context.Context) {
	tickers := map[Kind]*time.Ticker{}
	current := intervals{}
	apply := func() {
		cam := r.sched.state().camera(r.name)
		want := r.sched.intervals(cam)
		for _, k := range []Kind{KindLabels, KindCaption, KindQuestions} {
			if want[k] == current[k] {
				continue // unchanged: keep the phase
			}
			if t := tickers[k]; t != nil {
				t.Stop()
				delete(tickers, k)
			}
			if want[k] > 0 {
				tickers[k] = time.NewTicker(want[k])
			}
		}
		current = want
	}
	tick := func(k Kind) <-chan time.Time {
		if t := tickers[k]; t != nil {
			return t.C
		}
		return nil
	}
	defer func() {
		for _, t := range tickers {
			t.Stop()
		}
		r.mu.Lock()
		if r.latest != nil {
			r.latest.Release()
			r.latest = nil
		}
		r.mu.Unlock()
	}()
	apply()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.reloaded:
			apply()
		case <-tick(KindLabels):
			r.schedule(KindLabels)
		case <-tick(KindCaption):
			r.schedule(KindCaption)
		case <-tick(KindQuestions):
			r.schedule(KindQuestions)
		}
	}
}

// schedule hands the camera's job of kind k for the newest frame to its lane, unless the
// previous one is still queued or running, or there is nothing new to look at. Every skip is
// counted.
func (r *runner) schedule(k Kind) {
	busy := r.inflight[k]
	if !busy.CompareAndSwap(false, true) {
		r.sched.metrics.skip(r.name, k, skipBusy)
		return
	}
	f, reason := r.frameFor(k)
	if f == nil {
		busy.Store(false)
		r.sched.metrics.skip(r.name, k, reason)
		return
	}
	st := r.sched.state()
	unhold := func() {}
	if k == KindQuestions { // the VQA model counts as in use while the job waits, as an ask's
		unhold = holdQueued(r.sched.models().Answerer)
	}
	j := &job{camera: r.name, kind: k, run: func(ctx context.Context) {
		defer unhold()
		defer busy.Store(false)
		defer f.Release()
		err := r.run(ctx, k, f, st)
		r.sched.metrics.job(r.name, k, err)
		if err != nil {
			r.errs.report(r.log, fmt.Sprintf("%s failed", k), err, "frame", f.Seq)
		}
	}}
	ln := r.sched.labels
	if k != KindLabels {
		ln = r.sched.blip
	}
	if !ln.trySubmit(j) {
		unhold()
		f.Release()
		busy.Store(false)
		r.sched.metrics.skip(r.name, k, skipFull)
	}
}

// takeNewest moves the source's newest frame, if there is one, into r.latest and returns
// r.latest (nil before the first frame). The caller holds r.mu.
func (r *runner) takeNewest() *camera.Frame {
	if !r.ended {
		select {
		case f, ok := <-r.src.Frames():
			if !ok {
				r.ended = true
				break
			}
			if r.latest != nil {
				r.latest.Release()
			}
			r.latest = f
			r.sched.metrics.framesUsed.WithLabelValues(r.name).Inc()
		default:
		}
	}
	return r.latest
}

// frameFor picks the frame for a scheduled job of kind k and retains it for the job, or says
// why there is none: no frame yet, the same frame as this kind's last job, or a picture the
// motion gate finds unchanged.
func (r *runner) frameFor(k Kind) (*camera.Frame, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.takeNewest()
	switch {
	case f == nil:
		return nil, skipNoFrame
	case f.Seq == r.lastSeq[k]:
		return nil, skipSameFrame
	case r.stale(f) != nil:
		return nil, skipStale
	}
	if r.gate != nil {
		if f.Seq != r.gateSeq {
			r.gateSeq, r.gateRun = f.Seq, r.gate.Check(f.Image, f.Time).Run
		}
		if !r.gateRun {
			return nil, skipStill
		}
	}
	r.lastSeq[k] = f.Seq
	f.Retain()
	return f, ""
}

// newestFrame retains and returns the camera's newest frame for an ask (nil before the
// first frame). Asks bypass the motion gate: someone wants an answer now.
func (r *runner) newestFrame() *camera.Frame {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.takeNewest()
	if f != nil {
		f.Retain()
	}
	return f
}

// currentFrame retains and returns the camera's newest frame for an ask, or says why there
// is none that shows the camera's view now: no frame yet, or only one older than the
// camera's max_frame_age (the camera is stalled or failed).
func (r *runner) currentFrame() (*camera.Frame, error) {
	f := r.newestFrame()
	if f == nil {
		return nil, fmt.Errorf("camera %q has no frame yet", r.name)
	}
	if err := r.stale(f); err != nil {
		f.Release()
		return nil, err
	}
	return f, nil
}

// stale says why f is too old to be the camera's current view (nil when it is not): a frame
// from before a stall must not be labelled or answered about as if it were now.
func (r *runner) stale(f *camera.Frame) error {
	limit := r.sched.state().camera(r.name).Source.MaxFrameAge
	if age := time.Since(f.Time); limit > 0 && age > limit {
		return fmt.Errorf("camera %q has no current frame: the newest is %v old, over max_frame_age %v (camera %s)",
			r.name, age.Round(100*time.Millisecond), limit, r.src.Stats().State)
	}
	return nil
}

// run does one job of kind k on frame f with the state it was scheduled under.
func (r *runner) run(ctx context.Context, k Kind, f *camera.Frame, st *state) error {
	cam := st.camera(r.name)
	switch k {
	case KindLabels:
		return r.label(ctx, f, cam, st.sets[r.name])
	case KindCaption:
		return r.caption(ctx, f, cam)
	case KindQuestions:
		return r.answerStanding(ctx, f, cam)
	}
	return fmt.Errorf("unknown kind %q", k)
}

// label embeds the frame once and scores it against every label set of the camera, then
// feeds the scores to the sets' event trackers.
func (r *runner) label(ctx context.Context, f *camera.Frame, cam *Camera, sets []*clip.LabelSet) error {
	start := time.Now()
	emb, err := r.sched.models().Labeler.EmbedImage(ctx, f.Image)
	r.sched.metrics.observe(modelCLIPImage, time.Since(start), err)
	if err != nil {
		return fmt.Errorf("CLIP image embedding: %w", err)
	}
	if store := r.sched.recall.Load(); store != nil {
		if err := store.Add(recall.Frame{Camera: r.name, Seq: f.Seq, Time: f.Time, Image: f.Image, Embedding: emb, Annotations: f.Annotations}); err != nil {
			r.errs.report(r.log, "frame not remembered for search", err, "frame", f.Seq)
		}
	}
	r.retireTrackers(sets, cam, f)
	var snap *Result // one snapshot per frame, however many events start on it
	for _, set := range sets {
		scores, err := r.sched.models().Labeler.Classify(ctx, emb, set)
		if err != nil {
			return fmt.Errorf("label set %q: %w", set.Name, err)
		}
		top := scores[:min(cam.Labels.TopK, len(scores))]
		r.sched.sink.Result(&Result{Kind: KindLabels, Camera: r.name, Frame: frameInfo(f), Latency: time.Since(start),
			LabelSet: set.Name, Labels: top, Embedding: emb})
		for _, ev := range r.trackEvents(set, cam, scores, f) {
			r.check(ctx, &ev, set, cam, f.Image)
			r.sched.metrics.events.WithLabelValues(r.name, ev.Type).Inc()
			r.sched.sink.Result(&Result{Kind: KindEvent, Camera: r.name, Frame: frameInfo(f), Event: &ev})
			if ev.Type == "start" && cam.Snapshot.OnEvents && snap == nil {
				jpeg, err := encodeSnapshot(f.Image, cam.Snapshot.MaxWidth, cam.Snapshot.Quality)
				if err != nil {
					r.errs.report(r.log, "snapshot failed", err, "frame", f.Seq)
					continue
				}
				snap = &Result{Kind: KindSnapshot, Camera: r.name, Frame: frameInfo(f), JPEG: jpeg}
				r.sched.sink.Result(snap)
			}
		}
	}
	return nil
}

// retireTrackers ends the open events of label sets that a reload removed or changed, so
// every start a subscriber saw gets its end.
func (r *runner) retireTrackers(sets []*clip.LabelSet, cam *Camera, f *camera.Frame) {
	keep := map[string]bool{}
	for _, set := range sets {
		if t := r.trackers[set.Name]; t != nil && t.matches(set, cam) {
			keep[set.Name] = true
		}
	}
	for name, t := range r.trackers {
		if keep[name] {
			continue
		}
		for _, ev := range t.tracker.CloseAll(f.Time) {
			ev.LabelSet = name
			r.check(context.Background(), &ev, nil, cam, nil)
			r.sched.metrics.events.WithLabelValues(r.name, ev.Type).Inc()
			r.sched.sink.Result(&Result{Kind: KindEvent, Camera: r.name, Frame: frameInfo(f), Event: &ev})
		}
		delete(r.trackers, name)
	}
}

func (t *setTracker) matches(set *clip.LabelSet, cam *Camera) bool {
	return t.hysteresis == cam.Labels.Hysteresis && t.minDuration == cam.Labels.MinDuration &&
		(t.set == set || reflect.DeepEqual(t.set, set))
}

// trackEvents feeds every label's score (not only the top ones) to the set's tracker, each
// against its own threshold.
func (r *runner) trackEvents(set *clip.LabelSet, cam *Camera, scores []clip.Score, f *camera.Frame) []Event {
	t := r.trackers[set.Name]
	if t == nil {
		t = &setTracker{set: set, thresholds: make(map[string]float64, len(set.Labels)),
			hysteresis: cam.Labels.Hysteresis, minDuration: cam.Labels.MinDuration,
			tracker: NewEventTracker(r.name, cam.Labels.Hysteresis, cam.Labels.MinDuration)}
		for _, l := range set.Labels {
			t.thresholds[l.Name] = l.Threshold
		}
		r.trackers[set.Name] = t
	}
	var evs []Event
	for _, s := range scores {
		th, ok := t.thresholds[s.Label]
		if !ok {
			continue
		}
		if ev, ok := t.tracker.Observe(s.Label, s.Score, th, f.Time); ok {
			ev.LabelSet = set.Name
			evs = append(evs, ev)
		}
	}
	return evs
}

// closeEvents ends every open event (at shutdown), so subscribers see each start's end.
func (r *runner) closeEvents(at time.Time) {
	for name, t := range r.trackers {
		for _, ev := range t.tracker.CloseAll(at) {
			ev.LabelSet = name
			r.check(context.Background(), &ev, nil, nil, nil)
			r.sched.metrics.events.WithLabelValues(r.name, ev.Type).Inc()
			r.sched.sink.Result(&Result{Kind: KindEvent, Camera: r.name, Event: &ev})
		}
		delete(r.trackers, name)
	}
}

// check gives an event of a label the camera has checked (labels.confirm) BLIP ITM's
// verdict: a start is scored on the frame it opened on, against the label's prompts (the
// texts CLIP matched); an end carries its start's verdict. A failed check is logged and the
// event goes out unchecked: a missed alarm is worse than an unconfirmed one.
func (r *runner) check(ctx context.Context, ev *Event, set *clip.LabelSet, cam *Camera, img image.Image) {
	if ev.Type == "end" {
		for _, c := range r.checkers {
			if v, ok := c.End(ev.ID); ok {
				ev.Check = &v
				return
			}
		}
		return
	}
	matcher := r.sched.matcher()
	if matcher == nil || cam == nil || img == nil || !cam.Labels.Confirm.checks(ev.Label) {
		return
	}
	var prompts []string
	for _, l := range set.Labels {
		if l.Name == ev.Label {
			prompts = l.Prompts
		}
	}
	th := cam.Labels.Confirm.Threshold
	c := r.checkers[th]
	if c == nil {
		var err error
		if c, err = confirm.New(matcher, confirm.Options{Threshold: th}); err != nil {
			r.errs.report(r.log, "ITM check not possible; event published unchecked", err, "label", ev.Label)
			return
		}
		r.checkers[th] = c
	}
	v, err := c.Start(ctx, ev.ID, img, prompts)
	if err != nil {
		r.errs.report(r.log, "ITM check failed; event published unchecked", err, "label", ev.Label)
		return
	}
	ev.Check = &v
}

// models are the models ready now.
func (s *scheduler) models() *Models { return s.live.load() }

// matcher is the ITM model, timed into the metrics, once it is ready; nil before and without
// models.blip_itm.
func (s *scheduler) matcher() confirm.Matcher {
	if m := s.models().Matcher; m != nil {
		return timedMatcher{m, s.metrics}
	}
	return nil
}

// timedMatcher puts every ITM call into the inference metrics.
type timedMatcher struct {
	m       confirm.Matcher
	metrics *metrics
}

func (t timedMatcher) Match(ctx context.Context, img image.Image, texts []string) ([]float64, error) {
	start := time.Now()
	scores, err := t.m.Match(ctx, img, texts)
	t.metrics.observe(modelBLIPITM, time.Since(start), err)
	return scores, err
}

func (r *runner) caption(ctx context.Context, f *camera.Frame, cam *Camera) error {
	start := time.Now()
	c, err := r.sched.models().Captioner.Caption(ctx, f.Image, cam.Caption.options())
	took := time.Since(start)
	r.sched.metrics.observe(modelBLIPCaption, took, err)
	if err != nil {
		return fmt.Errorf("BLIP caption: %w", err)
	}
	res := &Result{Kind: KindCaption, Camera: r.name, Frame: frameInfo(f), Latency: took, Text: c.Text}
	if c.Ranked {
		res.CaptionRank = &CaptionRank{By: cam.Caption.Rank, Score: c.Score}
		if len(c.Candidates) > 1 {
			res.CaptionRank.RunnersUp = c.Candidates[1:min(len(c.Candidates), 1+cam.Caption.RunnersUp)]
		}
	}
	r.sched.sink.Result(res)
	return nil
}

// answerStanding asks every standing question of the camera about one frame. Each answer's
// latency is the call's time shared among the questions (the picture is encoded once).
func (r *runner) answerStanding(ctx context.Context, f *camera.Frame, cam *Camera) error {
	questions := cam.Questions.Ask
	start := time.Now()
	answers, err := r.sched.models().Answerer.Answer(ctx, f.Image, questions)
	took := time.Since(start)
	r.sched.metrics.observe(modelBLIPVQA, took, err)
	if err != nil {
		return fmt.Errorf("BLIP answers: %w", err)
	}
	if len(answers) != len(questions) {
		return fmt.Errorf("BLIP gave %d answers to %d questions", len(answers), len(questions))
	}
	for i, q := range questions {
		r.sched.sink.Result(&Result{Kind: KindAnswer, Camera: r.name, Frame: frameInfo(f), Latency: took / time.Duration(len(questions)),
			Question: q, Text: answers[i]})
	}
	return nil
}

// errorLog keeps a failure that repeats every second from flooding the log: it logs a new
// message at once and the same message again at most once a minute, with how often it
// happened meanwhile.
type errorLog struct {
	mu       sync.Mutex
	last     string
	lastAt   time.Time
	repeated int
}

func (e *errorLog) report(log *slog.Logger, msg string, err error, args ...any) {
	e.mu.Lock()
	text := msg + ": " + err.Error()
	now := time.Now()
	if text == e.last && now.Sub(e.lastAt) < time.Minute {
		e.repeated++
		e.mu.Unlock()
		return
	}
	repeated := e.repeated
	e.last, e.lastAt, e.repeated = text, now, 0
	e.mu.Unlock()
	if repeated > 0 {
		args = append(args, "repeated", repeated)
	}
	log.Warn(msg, append([]any{"err", err}, args...)...)
}
