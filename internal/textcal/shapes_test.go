package textcal

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edged/edged/blip"
	blipexport "github.com/edged/edged/blip/export"
	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/fidelity"
	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/shapes/shapestest"
	"github.com/edged/edged/internal/testutil"
	"github.com/edged/edged/models"
	"github.com/edged/edged/quant"
	"github.com/edged/edged/runtime/tflite"
)

// The shapes models and transformers' captions and answers for their 24 reference scenes
// (blip's test data).
const (
	shapesModels = "../../models/shapes"
	reference    = "../../blip/testdata"
)

// standingQuestions are the demo config's (configs/edged.yaml): what the daemon asks.
var standingQuestions = []string{"how many shapes are there?", "what color is the background?"}

// askedQuestions are the standing questions and asks of the other kinds the VQA model was
// trained on (not the reference scenes' own questions).
var askedQuestions = append(slices.Clone(standingQuestions), "what color is the circle?", "what color is the square?", "what color is the triangle?",
	"what shape is red?", "what shape is blue?", "is there a green square?", "is there a yellow circle?")

type referenceCase struct {
	Image            string  `json:"image"`
	CaptionGreedyIDs []int32 `json:"caption_greedy_ids"`
	CaptionBeam3IDs  []int32 `json:"caption_beam3_ids"`
	VQA              []struct {
		QuestionIDs []int32 `json:"question_ids"`
		AnswerIDs   []int32 `json:"answer_ids"`
	} `json:"vqa"`
}

func referenceCases(t *testing.T) []referenceCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(reference, "shapes_reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Cases []referenceCase }
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) != 24 {
		t.Fatalf("%d reference scenes, want 24", len(ref.Cases))
	}
	return ref.Cases
}

// referenceScores counts the outputs of b identical to transformers': greedy and 3-beam
// captions of the 24 scenes (captioning), or the 120 answers (VQA).
func referenceScores(t *testing.T, b *bundle.Bundle) (greedy, beams, answers int) {
	t.Helper()
	m, err := blip.Load(b, blip.Options{Runtime: tflite.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range referenceCases(t) {
		im, err := s.EncodeImage(testutil.DecodeImage(t, filepath.Join(reference, c.Image)))
		if err != nil {
			t.Fatal(err)
		}
		o := m.GenerateDefaults()
		if m.Architecture == blip.ArchVQA {
			o.MaxNewTokens = 5
			for _, q := range c.VQA {
				got, err := s.AnswerIDs(im, q.QuestionIDs, o)
				if err != nil {
					t.Fatal(err)
				}
				if slices.Equal(got, q.AnswerIDs) {
					answers++
				} else {
					t.Logf("%s question %v: %v, transformers %v", c.Image, q.QuestionIDs, got, q.AnswerIDs)
				}
			}
			continue
		}
		o.MaxNewTokens = 20
		got, err := s.CaptionIDs(im, nil, o)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, c.CaptionGreedyIDs) {
			greedy++
		} else {
			t.Logf("%s greedy: %v, transformers %v", c.Image, got, c.CaptionGreedyIDs)
		}
		o.NumBeams = 3
		if got, err = s.CaptionIDs(im, nil, o); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, c.CaptionBeam3IDs) {
			beams++
		}
	}
	return greedy, beams, answers
}

// checkText converts the shapes model name with its text models calibrated and gated, and
// logs the verdicts.
func checkText(t *testing.T, name string, questions []string) (*bundle.Bundle, map[string]bool, *fidelity.Report) {
	t.Helper()
	calibration, check := shapestest.CameraFrames(t, 64, 1), shapestest.CameraFrames(t, 64, 2)
	b, verdicts, report, err := ConvertChecked(models.Architectures, filepath.Join(shapesModels, name), filepath.Join(t.TempDir(), name),
		convert.Options{CalibrationDir: calibration}, fidelity.Options{Frames: check, Questions: questions, TextFrames: 64}, Options{Questions: questions})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	passed := map[string]bool{}
	for _, v := range verdicts {
		log.WriteString(v.Role + " at full int8 against the bundle it would join: ")
		fidelity.WriteReport(&log, v.Report)
		passed[v.Role] = v.Report.Passed
	}
	log.WriteString("the bundle against the float model: ")
	fidelity.WriteReport(&log, *report)
	t.Logf("%s:\n%s", name, log.String())
	if len(verdicts) != len(textRoles[b.Manifest.Architecture]) || !report.Passed || b.Manifest.Precision != "int8" {
		t.Fatalf("%d verdicts; the bundle at %s, gate %s", len(verdicts), b.Manifest.Precision, fidelity.Why(*report))
	}
	for role, ok := range passed {
		f, _ := b.Manifest.File(role)
		// A refused model stays at the precision an int8 bundle writes the text models at.
		if want := map[bool]string{true: "int8", false: blipexport.TextPrecision(graph.Int8Full).String()}[ok]; f.Precision != want {
			t.Errorf("%s is %s, its verdict says %s", role, f.Precision, want)
		}
	}
	return b, passed, report
}

// TestShapesVQATextModels: the shapes VQA model's text models, calibrated on the float
// model's own answers to the questions it is asked (the demo's standing questions and asks of
// the other kinds it was trained on) for the synthetic camera's frames, each gated on other
// frames of that camera. Whatever the gate lets through at full int8 keeps at least 118 of
// transformers' 120 answers on the reference scenes. (Each of them changes one to four of the
// 576 answers on the camera's frames, so the gate keeps them all float.)
func TestShapesVQATextModels(t *testing.T) {
	b, passed, _ := checkText(t, "blip_vqa", askedQuestions)
	_, _, answers := referenceScores(t, b)
	t.Logf("text models at full int8 %v: %d/120 answers identical to transformers", passed, answers)
	if answers < 118 {
		t.Errorf("%d/120 answers identical to transformers, want at least 118", answers)
	}
}

// TestShapesCaptionTextModels: the shapes captioner's decoder step at full int8 changes a
// caption of the camera's frames (a shape word), and the gate keeps it float; the bundle
// passes the gate against the float model.
func TestShapesCaptionTextModels(t *testing.T) {
	b, passed, _ := checkText(t, "blip_caption", nil)
	greedy, beams, _ := referenceScores(t, b)
	t.Logf("text models at full int8 %v: captions greedy %d/24, 3 beams %d/24 identical to transformers", passed, greedy, beams)
	if passed[spec.RoleDecoderStep] {
		t.Errorf("the gate let the decoder step through at full int8")
	}
}

// TestShapesTextModelsOneByOne measures, for each text model of the shapes captioner and VQA
// model written alone at full int8 with the vision tower, how many of transformers' outputs on
// the reference scenes it keeps (BENCHMARKS.md, "Which BLIP text models run at full int8"):
// the figures are logged; the vision tower alone must keep them all.
func TestShapesTextModelsOneByOne(t *testing.T) {
	calibration := shapestest.CameraFrames(t, 64, 1)
	for _, tc := range []struct {
		name, arch string
		questions  []string
	}{
		{"blip_caption", blip.ArchCaption, nil},
		{"blip_vqa", blip.ArchVQA, standingQuestions},
		{"blip_vqa", blip.ArchVQA, askedQuestions},
	} {
		ck := filepath.Join(shapesModels, tc.name)
		conv := convert.Options{CalibrationDir: calibration}
		ranges, _, err := Ranges(models.Architectures, ck, conv, Options{Questions: tc.questions})
		if err != nil {
			t.Fatal(err)
		}
		for _, role := range append([]string{"no text model"}, textRoles[tc.arch]...) {
			one := conv
			one.Precision = graph.Int8Full
			if ranges[role] != nil {
				one.Ranges = map[string]map[string]quant.Range{role: ranges[role]}
			}
			b, err := models.Convert(ck, filepath.Join(t.TempDir(), "b"), one)
			if err != nil {
				t.Fatal(err)
			}
			greedy, beams, answers := referenceScores(t, b)
			if tc.arch == blip.ArchCaption {
				t.Logf("%s, %s at full int8: captions greedy %d/24, 3 beams %d/24", tc.name, role, greedy, beams)
				if ranges[role] == nil && (greedy != 24 || beams != 24) {
					t.Errorf("the vision tower alone at full int8: captions %d/24, %d/24", greedy, beams)
				}
				continue
			}
			t.Logf("%s calibrated on %d questions, %s at full int8: answers %d/120", tc.name, len(tc.questions), role, answers)
			if ranges[role] == nil && answers != 120 {
				t.Errorf("the vision tower alone at full int8: answers %d/120", answers)
			}
		}
	}
}
