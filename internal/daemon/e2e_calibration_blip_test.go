package daemon_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	blipspec "github.com/edged/edged/blip/spec"
	"github.com/edged/edged/internal/mqtttest"
	"github.com/edged/edged/internal/testutil"
)

// blipCalibrationConfig captions the synthetic camera with the BLIP checkpoint folder ckpt,
// calibrating as calibration says.
func blipCalibrationConfig(t *testing.T, dir, broker string, port int, ckpt, calibration string) string {
	t.Helper()
	return e2eConfig(t, dir, broker, port, fmt.Sprintf("models:\n  blip_caption: %s\n  calibration: %s", ckpt, calibration),
		`  - name: demo
    source: {kind: synthetic, fps: 10, scene_every: 300ms, seed: 7}
    caption: {every: 300ms}
`)
}

// unrecognisedShapesCaptioner is the shapes captioning checkpoint with its config.json
// written compactly: the same model, but a checkpoint hash edged does not know.
func unrecognisedShapesCaptioner(t *testing.T) string {
	return testutil.EditedCheckpoint(t, filepath.Join(repoRoot(t), "models/shapes/blip_caption"), "config.json", func(map[string]any) {})
}

type captionPayload struct {
	Frame   uint64 `json:"frame"`
	Caption string `json:"caption"`
}

// captionsTruthSince waits for want captions published from the from-th on whose frames' truth
// edged printed, and counts those that are a sentence of the shapes world, those that name
// the scene's background, and those that are exactly the scene's caption.
func captionsTruthSince(t *testing.T, p *proc, box *mqtttest.Recorder, from, want int) (formed, background, exact, n int) {
	t.Helper()
	const topic = "edged/e2e/demo/caption"
	deadlineWait(t, fmt.Sprintf("%d captions with their truth", want), func() bool {
		truth := truthByFrame(p.stdout.String(), "caption")
		formed, background, exact, n = 0, 0, 0, 0
		for _, msg := range box.On(topic)[from:] {
			c := decode[captionPayload](t, msg)
			tr, ok := truth[c.Frame]
			if !ok {
				continue // not printed yet
			}
			n++
			if strings.HasPrefix(c.Caption, "a ") && strings.HasSuffix(c.Caption, " background") {
				formed++
			}
			_, bg, _ := strings.Cut(tr, " on a ")
			if bg != "" && strings.HasSuffix(c.Caption, " on a "+bg) {
				background++
			}
			if c.Caption == tr {
				exact++
			}
		}
		return n >= want
	})
	t.Logf("captions: %d of %d well formed, %d name the background, %d exactly the scene's caption", formed, n, background, exact)
	return formed, background, exact, n
}

// A BLIP captioning checkpoint folder without calibration data starts at the safe precision and
// captions; once the camera's frames are in, a child edged calibrates its vision tower to full
// int8 on them, the gate passes it against the safe model (vision outputs and identical greedy
// captions on frames held aside), and the daemon captions with it. The text models stay as the
// safe bundle wrote them; the cache, the manifest and /healthz say so; and the captions it
// publishes after the swap match the scenes as well as before.
func TestE2ECalibratesBLIPCaptionerOnTheCamera(t *testing.T) {
	e := startCalibrationE2E(t, blipCalibrationConfig, unrecognisedShapesCaptioner(t), "{min_frames: 32, min_span: 4s, every: 100ms}")
	p, box, port, cache := e.p, e.box, e.port, e.cache

	safe := startsSafe(t, p, port, cache, "blip_caption", 32)
	// Captions at the safe precision, before the swap (the reservoir needs 10 s of frames).
	formedSafe, bgSafe, exactSafe, nSafe := captionsTruthSince(t, p, box, 0, 10)
	calibratedOnTheCamera(t, p, port, "blip_caption", "captioning")
	swapped := len(box.On("edged/e2e/demo/caption"))

	// The calibrated bundle took the safe one's place in the cache and says what it
	// calibrated and checked on; only the vision tower changed.
	cal := cameraCalibratedBundle(t, cache, safe, 20, 6)
	c := cal.Bundle.Manifest.Calibration
	if c.Check.TextCompared < 6 || c.Check.Reference != "int8-dynamic" {
		t.Errorf("the gate compared %d captions with the %q model, want ≥ 6 (one per frame held aside) with the safe int8-dynamic one",
			c.Check.TextCompared, c.Check.Reference)
	}
	for _, role := range []string{blipspec.RoleVision, blipspec.RoleCrossKV, blipspec.RoleDecoderStep} {
		a, okA := safe.Bundle.Manifest.File(role)
		b, okB := cal.Bundle.Manifest.File(role)
		if !okA || !okB {
			t.Fatalf("%s missing: safe %v, calibrated %v", role, okA, okB)
		}
		if same := a.SHA256 == b.SHA256; same != (role != blipspec.RoleVision) {
			t.Errorf("%s: safe %s (%s), calibrated %s (%s): want only the vision tower changed", role, a.SHA256[:12], a.Precision, b.SHA256[:12], b.Precision)
		}
	}
	t.Logf("gate on the camera's frames: %d frames, mean cosine %.4f, worst %.4f, identical captions %.3f of %d",
		c.Check.Frames, c.Check.MeanCosine, c.Check.WorstCosine, c.Check.TextAgreement, c.Check.TextCompared)

	// Captions after the swap match the scenes as before it (the shapes captioner's greedy
	// captions are exactly the scene's for 0.445 of held-out scenes, and name the background
	// nearly always): every one well formed; the background right on ≥ 90%; exact ones no
	// fewer than a fifth, and no fewer than half the safe model's rate.
	formed, bg, exact, n := captionsTruthSince(t, p, box, swapped, 30)
	if formed != n || float64(bg) < 0.9*float64(n) || float64(exact) < 0.2*float64(n) ||
		float64(exact)/float64(n) < 0.5*float64(exactSafe)/float64(nSafe) {
		t.Errorf("after the swap: %d/%d well formed, %d/%d name the background, %d/%d exact (safe model: %d/%d, %d/%d, %d/%d)",
			formed, n, bg, n, exact, n, formedSafe, nSafe, bgSafe, nSafe, exactSafe, nSafe)
	}
}

// A BLIP VQA checkpoint calibrates on the frames it answers the standing questions about, and
// its gate asks those questions: with a bar no int8 model reaches (a mean cosine of 1) the gate
// refuses it, the safe model keeps answering, and the log, /healthz and the metrics say why.
func TestE2EBLIPVQACalibrationRefusedKeepsTheSafeModel(t *testing.T) {
	e := startCalibrationE2E(t, vqaConfig, unrecognisedShapesVQA(t), "{min_frames: 16, min_span: 3s, every: 100ms, retry: 1h, min_mean_cosine: 1}")
	p, box, port, cache := e.p, e.box, e.port, e.cache

	p.waitStderr("models.blip_vqa runs at the safe precision", 1)
	p.waitStderr("calibration: converting models.blip_vqa to full int8", 1)
	during := len(box.On("edged/e2e/demo/answer"))
	refusedOnTheCamera(t, p, "answering")
	s := healthModel(t, port, "blip_vqa")
	if s.Precision != "int8-dynamic" || s.Calibration == nil || s.Calibration.Refused != 1 || !strings.Contains(s.Calibration.Gate, "mean cosine") ||
		s.Calibration.Check == nil {
		t.Fatalf("/healthz models.blip_vqa after a refusal: %+v (calibration %+v), want int8-dynamic, refused by mean cosine, with the figures", s, s.Calibration)
	}
	// The gate asked the standing questions (2 per frame compared), not its default three.
	if ch := s.Calibration.Check; ch.TextCompared == 0 || ch.TextCompared%2 != 0 || ch.TextCompared > 2*ch.Frames {
		t.Errorf("gate compared %d answers on %d frames; want the 2 standing questions on each frame sampled", ch.TextCompared, ch.Frames)
	}
	_, metrics := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if v := metricValue(metrics, `edged_calibration_conversions_total{model="blip_vqa",result="refused"}`); v != 1 {
		t.Errorf("refused conversions = %v, want 1", v)
	}
	if v := metricValue(metrics, `edged_model_full_int8{model="blip_vqa"}`); v != 0 {
		t.Errorf("edged_model_full_int8 = %v after a refusal, want 0", v)
	}
	if b := cachedBundle(t, cache); b.Bundle.Manifest.Precision != "int8-dynamic" {
		t.Errorf("cached bundle at %s after a refusal, want the safe int8-dynamic one", b.Bundle.Manifest.Precision)
	}
	// The safe model answered throughout, and still does.
	box.WaitOn(t, "edged/e2e/demo/answer", "answers after the refusal", func(mqtttest.Message) bool {
		return len(box.On("edged/e2e/demo/answer")) > during+4
	})
	t.Logf("gate: %s; %d answers compared on %d frames", s.Calibration.Gate, s.Calibration.Check.TextCompared, s.Calibration.Check.Frames)
}

// vqaConfig asks the synthetic camera the two standing questions with the VQA checkpoint
// folder ckpt, calibrating as calibration says.
func vqaConfig(t *testing.T, dir, broker string, port int, ckpt, calibration string) string {
	t.Helper()
	return e2eConfig(t, dir, broker, port, fmt.Sprintf("models:\n  blip_vqa: %s\n  calibration: %s", ckpt, calibration),
		`  - name: demo
    source: {kind: synthetic, fps: 10, scene_every: 300ms, seed: 7}
    questions:
      every: 300ms
      ask: ["how many shapes are there?", "what color is the background?"]
`)
}

// unrecognisedShapesVQA is the shapes VQA checkpoint with its config.json written compactly.
func unrecognisedShapesVQA(t *testing.T) string {
	return testutil.EditedCheckpoint(t, filepath.Join(repoRoot(t), "models/shapes/blip_vqa"), "config.json", func(map[string]any) {})
}

// answerLine is a standing question's answer line on edged's stdout, with the truth the
// synthetic camera gives for that question.
var answerLine = regexp.MustCompile(`(?m)^\S+ demo answer +(.+?) → (.*) \(\d+ ms; frame \d+, truth: (.*)\)$`)

// answersTruthFrom waits for want answer lines printed from stdout offset from on, and counts
// those that are the truth.
func answersTruthFrom(t *testing.T, p *proc, from, want int) (right, n int) {
	t.Helper()
	deadlineWait(t, fmt.Sprintf("%d answers with their truth", want), func() bool {
		right, n = 0, 0
		for _, m := range answerLine.FindAllStringSubmatch(p.stdout.String()[from:], -1) {
			n++
			if m[2] == m[3] {
				right++
			}
		}
		return n >= want
	})
	t.Logf("answers: %d of %d the scene's truth", right, n)
	return right, n
}

// A BLIP VQA checkpoint without calibration data calibrates its vision tower on the frames it
// answers the standing questions about; the gate asks those questions, passes the model, and
// the answers after the swap are the scenes' truth as before it. A restart loads the
// calibrated model from the cache as it is.
func TestE2ECalibratesBLIPVQAOnTheCamera(t *testing.T) {
	e := startCalibrationE2E(t, vqaConfig, unrecognisedShapesVQA(t), "{min_frames: 24, min_span: 4s, every: 100ms}")
	p, port, cache := e.p, e.port, e.cache

	safe := startsSafe(t, p, port, cache, "blip_vqa", 24)
	rightSafe, nSafe := answersTruthFrom(t, p, 0, 10)
	s := calibratedOnTheCamera(t, p, port, "blip_vqa", "answering")
	swapped := len(p.stdout.String())
	// The gate asked the two standing questions on each frame sampled.
	if ch := s.Calibration.Check; ch.TextCompared == 0 || ch.TextCompared%2 != 0 || ch.TextCompared > 2*ch.Frames {
		t.Errorf("the gate compared %d answers on %d frames; want the 2 standing questions on each frame sampled", ch.TextCompared, ch.Frames)
	}
	if c := cameraCalibratedBundle(t, cache, safe, 12, 4).Bundle.Manifest.Calibration; c.Check.Reference != "int8-dynamic" {
		t.Errorf("the gate compared with the %q model, want the safe int8-dynamic one", c.Check.Reference)
	}

	// The shapes VQA model answers these two questions right on nearly every scene (120/120 of
	// the reference answers): after the swap, ≥ 90% of answers, and no fewer than the safe
	// model's rate less 10 points.
	right, n := answersTruthFrom(t, p, swapped, 30)
	rate, safeRate := float64(right)/float64(n), float64(rightSafe)/float64(nSafe)
	if rate < 0.9 || rate < safeRate-0.1 {
		t.Errorf("after the swap %d of %d answers are the truth (safe model %d of %d); want ≥ 90%%", right, n, rightSafe, nSafe)
	}

	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
	p2 := startEdged(t, e.dir, e.cfg)
	p2.waitStderr("feature started", 1)
	// It loads as it is, and shadow checks watch it from then on.
	if s := healthModel(t, port, "blip_vqa"); s.Precision != "int8" || s.Calibration == nil || s.Calibration.State != "calibrated" {
		t.Errorf("/healthz models.blip_vqa after a restart: %+v, want int8, calibrated", s)
	}
	p2.waitStderr("models.blip_vqa runs at full int8; shadow checks compare it with the safe precision", 1)
	if right, n := answersTruthFrom(t, p2, 0, 10); float64(right) < 0.9*float64(n) {
		t.Errorf("after a restart %d of %d answers are the truth; want ≥ 90%%", right, n)
	}
	for _, msg := range []string{"runs at the safe precision", "convert: "} {
		if strings.Contains(p2.stderr.String(), msg) {
			t.Errorf("after a restart the log says %q: the calibrated model should load as it is", msg)
		}
	}
}

// A SIGHUP that changes the standing questions reaches a VQA model's gate without loading the
// model again: the conversion after the reload asks the new questions (the log names them), and
// the child's gate compares the answers to all three on each frame it samples for texts.
func TestE2EBLIPVQAReloadedQuestionsReachTheGate(t *testing.T) {
	// min_span leaves the reload seconds ahead of the first conversion; check_texts fixes how
	// many frames' answers the gate compares, so its figures count the questions; retry keeps
	// a refusal (which the test does not judge) from starting a second conversion.
	e := startCalibrationE2E(t, vqaConfig, unrecognisedShapesVQA(t), "{min_frames: 24, min_span: 6s, every: 100ms, check_texts: 4, retry: 1h}")
	p, port := e.p, e.port
	p.waitStderr("models.blip_vqa runs at the safe precision", 1)

	const added = "is there a red circle?"
	asked := `ask: ["how many shapes are there?", "what color is the background?"]`
	edited := strings.Replace(readFileString(t, e.cfg), asked, `ask: ["how many shapes are there?", "what color is the background?", "`+added+`"]`, 1)
	if edited == readFileString(t, e.cfg) {
		t.Fatalf("the config asks no %s", asked)
	}
	writeFile(t, filepath.Dir(e.cfg), filepath.Base(e.cfg), edited)
	p.signal(syscall.SIGHUP)
	p.waitStderr("config reloaded", 1)
	const converting = "calibration: converting models.blip_vqa"
	if p.stderr.Count(converting) > 0 {
		t.Fatalf("the conversion started before the reload (min_span too short for this machine):\n%s", p.stderr.Tail(20))
	}

	p.waitStderr(converting, 1)
	var line string
	for _, l := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(l, converting) {
			line = l
		}
	}
	if !strings.Contains(line, `questions="how many shapes are there? | what color is the background? | `+added+`"`) {
		t.Errorf("the conversion after the reload says %q; want the gate to ask the reloaded config's three questions", line)
	}
	waitGateVerdict(t, p)
	s := healthModel(t, port, "blip_vqa")
	if s.Calibration == nil || s.Calibration.Check == nil {
		t.Fatalf("/healthz models.blip_vqa after the gate: %+v (calibration %+v), want the gate's figures", s, s.Calibration)
	}
	ch := s.Calibration.Check
	if want := 3 * min(4, ch.Frames); ch.TextCompared != want {
		t.Errorf("the gate compared %d answers on %d frames; want %d: the 3 questions on each of the %d frames sampled for texts",
			ch.TextCompared, ch.Frames, want, min(4, ch.Frames))
	}
	t.Logf("gate after the reload: %s; %d answers compared on %d frames, %.3f identical", s.Calibration.Gate, ch.TextCompared, ch.Frames, ch.TextAgreement)
}
