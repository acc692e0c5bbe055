package daemon

import (
	"context"
	"image"
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
