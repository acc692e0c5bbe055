package daemon

import (
	"context"
	"fmt"
	"image"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingAnswerer is a model whose loads and closes are counted.
type countingAnswerer struct{ loads, closes *int }

func (countingAnswerer) Answer(_ context.Context, _ image.Image, q []string) ([]string, error) {
	return make([]string, len(q)), nil
}

func TestIdleModelKeepsScheduledModels(t *testing.T) {
	var loads, closes int
	open := func() (*Models, error) {
		loads++
		return &Models{Answerer: countingAnswerer{&loads, &closes}, Close: func() error { closes++; return nil }}, nil
	}
	scheduled := true
	policy := &idleUnload{after: time.Hour, scheduled: func(string) bool { return scheduled },
		metrics: newMetrics(statsSource{}), log: discardLogger(), prep: newPreparation(&Config{})}
	first, _ := open()
	m := newIdleModel(fieldBLIPVQA, policy, first, open)
	defer m.close()
	a := idleAnswerer{m}

	idle := func() { // as if the wait had passed
		m.mu.Lock()
		m.last = time.Now().Add(-2 * time.Hour)
		m.mu.Unlock()
		m.expire()
	}
	idle()
	if closes != 0 {
		t.Fatalf("a model the schedule uses was closed")
	}
	scheduled = false
	idle()
	if closes != 1 {
		t.Fatalf("closes %d after an idle wait, want 1", closes)
	}
	if _, err := a.Answer(context.Background(), nil, []string{"q"}); err != nil || loads != 2 {
		t.Fatalf("answer after the unload: loads %d, err %v; want a second load", loads, err)
	}
	// In use: not closed whatever the clock says.
	_, done, err := m.use()
	if err != nil {
		t.Fatal(err)
	}
	idle()
	if closes != 1 {
		t.Errorf("a model in use was closed")
	}
	done()
}

func TestScheduledModels(t *testing.T) {
	cfg := &Config{Cameras: []Camera{
		{Labels: LabelsSchedule{Sets: []string{"a.yaml"}, Every: time.Second}},
		{Caption: CaptionSchedule{Every: time.Second, Candidates: 4, Rank: "itm"}, Questions: QuestionsConfig{Ask: []string{"q"}}},
	}}
	got := scheduledModels(cfg)
	want := map[string]bool{fieldCLIP: true, fieldBLIPCaption: true, fieldBLIPITM: true}
	for _, f := range []string{fieldCLIP, idleCLIPText, fieldBLIPCaption, fieldBLIPVQA, fieldBLIPITM} {
		if got[f] != want[f] {
			t.Errorf("%s scheduled %v, want %v (questions without every are asks only; labels use cached text)", f, got[f], want[f])
		}
	}
}

// A schedule no faster than models.idle_unload leaves its model idle between two runs; a
// caption ranked by CLIP embeds its candidates' text every time.
func TestScheduledModelsSlowSchedulesAndRanking(t *testing.T) {
	wait := 5 * time.Minute
	cfg := &Config{Models: ModelsConfig{IdleUnload: &wait}, Cameras: []Camera{
		{Labels: LabelsSchedule{Sets: []string{"a.yaml"}, Every: wait}},
		{Questions: QuestionsConfig{Every: time.Hour, Ask: []string{"q"}}},
		{Caption: CaptionSchedule{Every: time.Minute, Candidates: 4, Rank: "clip"}},
	}}
	got := scheduledModels(cfg)
	want := map[string]bool{fieldCLIP: true, idleCLIPText: true, fieldBLIPCaption: true}
	for _, f := range []string{fieldCLIP, idleCLIPText, fieldBLIPCaption, fieldBLIPVQA, fieldBLIPITM} {
		if got[f] != want[f] {
			t.Errorf("%s scheduled %v, want %v", f, got[f], want[f])
		}
	}
	cfg.Cameras = cfg.Cameras[:2] // labels every 5 min, questions hourly: nothing kept
	if got := scheduledModels(cfg); len(got) != 0 {
		t.Errorf("scheduled %v with schedules as slow as the idle wait, want none", got)
	}
	never := time.Duration(0) // idle_unload 0: nothing is unloaded, any schedule keeps its model
	cfg.Models.IdleUnload = &never
	if got := scheduledModels(cfg); !got[fieldCLIP] || !got[fieldBLIPVQA] {
		t.Errorf("scheduled %v with idle_unload 0, want clip and blip_vqa", got)
	}
}

// A request queued on the BLIP lane behind a caption holds the VQA model from the moment it
// is queued: the idle wait passing meanwhile does not unload it, and the request runs on the
// model loaded at the start, with no reload. Asks (urgent) and standing questions' jobs alike.
func TestIdleModelHeldByQueuedRequests(t *testing.T) {
	for _, kind := range []string{"ask", "standing question"} {
		t.Run(kind, func(t *testing.T) { testIdleModelHeldByQueued(t, kind == "ask") })
	}
}

func testIdleModelHeldByQueued(t *testing.T, ask bool) {
	td := newTestDir(t)
	questions := "    questions: {every: 20ms, ask: ['what is it?']}\n"
	if ask {
		questions = ""
	}
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 50}
    caption: {every: 20ms}
` + questions)
	td.write("config.yaml", strings.Replace(readFile(t, cfg), "device: test", "device: test\nruntime: {workers: 1}", 1))
	var loads, closes atomic.Int64
	open := func() (*Models, error) {
		loads.Add(1)
		return &Models{Answerer: newTestAnswerer(), Close: func() error { closes.Add(1); return nil }}, nil
	}
	// The wait never passes on its own: the test ages the model and calls expire itself.
	policy := &idleUnload{after: time.Hour, scheduled: func(string) bool { return false },
		metrics: newMetrics(statsSource{}), log: discardLogger(), prep: newPreparation(&Config{})}
	first, _ := open()
	m := newIdleModel(fieldBLIPVQA, policy, first, open)
	defer m.close()
	idle := func() {
		m.mu.Lock()
		m.last = time.Now().Add(-2 * time.Hour)
		m.mu.Unlock()
		m.expire()
	}
	captioner := newHeldCaptioner()
	r := startDaemon(t, cfg, &Models{Captioner: captioner, Answerer: idleAnswerer{m}}, Options{})

	eventually(t, "a caption to hold the BLIP lane's only worker", func() bool { return captioner.calls.Load() == 1 })
	answered := make(chan error, 1)
	if ask {
		go func() {
			a, err := r.d.ask(context.Background(), "cam", "what is it?", "")
			if err == nil && a.Answer != "answer to what is it?" {
				err = fmt.Errorf("answer %q", a.Answer)
			}
			answered <- err
		}()
		eventually(t, "the ask queued behind the caption", func() bool { return len(r.d.sched.blip.urgent) == 1 })
	} else {
		eventually(t, "the questions' job queued behind the caption", func() bool { return len(r.d.sched.blip.normal) == 1 })
	}
	idle()
	if n := closes.Load(); n != 0 {
		t.Errorf("the VQA model was unloaded %d time(s) while a request waited for it", n)
	}
	captioner.open.Store(true)
	captioner.release <- struct{}{}
	if ask {
		select {
		case err := <-answered:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("the ask was not answered")
		}
	} else {
		eventually(t, "the standing question answered", func() bool { return r.rec.count(KindAnswer) >= 1 })
	}
	if n := loads.Load(); n != 1 {
		t.Errorf("%d loads: the request paid a reload", n)
	}
	if ask {
		// Once the ask's job is over, the model is idle again and goes at the next wait.
		eventually(t, "the ask's hold released", func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.users == 0
		})
		idle()
		if n := closes.Load(); n != 1 {
			t.Errorf("closes %d after the ask and an idle wait, want 1", n)
		}
	}
}
