package clip

import (
	"encoding/json"
	"fmt"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edged/edged/internal/graph"
	"github.com/edged/edged/internal/testutil"
)

// shapesCase is one reference scene with transformers' zero-shot result.
type shapesCase struct {
	Image     string    `json:"image"`
	Top1      string    `json:"clip_top1"`
	Probs     []float64 `json:"clip_probs"`
	imageFile string
}

type shapesReferenceFile struct {
	Labels   []string     `json:"labels"`
	Template string       `json:"template"`
	Cases    []shapesCase `json:"cases"`
}

func loadShapesCases(t testing.TB) shapesReferenceFile {
	t.Helper()
	data, err := os.ReadFile(shapesCases)
	if err != nil {
		t.Fatal(err)
	}
	var ref shapesReferenceFile
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) != 24 || len(ref.Labels) != 15 {
		t.Fatalf("reference has %d cases and %d labels, want 24 and 15", len(ref.Cases), len(ref.Labels))
	}
	for i := range ref.Cases {
		ref.Cases[i].imageFile = filepath.Join("testdata/shapes/scenes", ref.Cases[i].Image)
	}
	return ref
}

var decodePNG = testutil.DecodeImage

// TestShapesLabelEmbeddings: the 15 labels, tokenized by the bundle's tokenizer, give
// transformers' ids, and their text embeddings have cosine ≥ 0.999 with transformers' (fp32).
func TestShapesLabelEmbeddings(t *testing.T) {
	m := testModel(t, shapesModel, graph.FP32)
	ref := loadShapesCases(t)
	wantIDs, idShape := readI32(t, shapesReference, "label_input_ids")
	mask, _ := readI32(t, shapesReference, "label_attention_mask")
	for i, label := range ref.Labels {
		text := strings.ReplaceAll(ref.Template, "{}", label)
		ids, err := m.Tokenize(text)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < idShape[1]; k++ {
			if mask[i*idShape[1]+k] == 1 && ids[k] != wantIDs[i*idShape[1]+k] {
				t.Errorf("%q: ids %v, transformers %v", text, ids[:idShape[1]], wantIDs[i*idShape[1]:(i+1)*idShape[1]])
				break
			}
		}
	}
	set, err := NewLabelSet("shapes", ref.Labels, []string{ref.Template})
	if err != nil {
		t.Fatal(err)
	}
	embs, err := m.LabelEmbeddings(set)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := readF32(t, shapesReference, "label_text_embeds")
	worst := 1.0
	for i, e := range embs {
		c := cosine(e, want[i*m.Dim():(i+1)*m.Dim()])
		worst = math.Min(worst, c)
		if c < 0.999 {
			t.Errorf("label %q: cosine %.6f < 0.999", ref.Labels[i], c)
		}
	}
	t.Logf("lowest cosine over 15 labels: %.7f", worst)
}

// shapesAgreement classifies the 24 reference scenes, read from their PNG files through the
// bundle's preprocessing, against the 15 labels through the bundle's tokenizer, and compares with transformers: top-1 agreement, largest probability
// difference, lowest image-embedding cosine.
func shapesAgreement(t *testing.T, m *Model) (agree int, maxProbDiff, minCos float64) {
	t.Helper()
	ref := loadShapesCases(t)
	set, err := NewLabelSet("shapes", ref.Labels, []string{ref.Template})
	if err != nil {
		t.Fatal(err)
	}
	cls, err := m.Classifier(set)
	if err != nil {
		t.Fatal(err)
	}
	minCos = 1
	for i, c := range ref.Cases {
		emb, err := m.EmbedImage(decodePNG(t, c.imageFile))
		if err != nil {
			t.Fatal(err)
		}
		wantEmb, _ := readF32(t, shapesReference, fmt.Sprintf("image_embeds_%02d", i))
		minCos = math.Min(minCos, cosine(emb, wantEmb))
		scores, err := cls.Classify(emb)
		if err != nil {
			t.Fatal(err)
		}
		// transformers' top-1 is the set's softmax: the label with the largest share, first.
		top := scores[0]
		if top.Label == c.Top1 {
			agree++
		} else {
			t.Logf("%s: top-1 %q (%.3f), transformers %q", c.Image, top.Label, top.Share, c.Top1)
		}
		for _, s := range scores {
			for k, l := range ref.Labels {
				if l == s.Label {
					maxProbDiff = math.Max(maxProbDiff, math.Abs(s.Share-c.Probs[k]))
				}
			}
		}
	}
	return agree, maxProbDiff, minCos
}

// TestShapesZeroShot: at fp32 the top-1 label of every reference scene is transformers' (24/24)
// with probabilities within 0.01; the int8 precisions agree on at least 23 of 24.
func TestShapesZeroShot(t *testing.T) {
	for _, tc := range []struct {
		p        graph.Precision
		minAgree int
		probTol  float64
	}{
		{graph.FP32, 24, 0.01},
		{graph.FP16, 24, 0.01},
		{graph.Int8Dynamic, 23, math.Inf(1)},
		{graph.Int8Full, 23, math.Inf(1)},
	} {
		t.Run(tc.p.String(), func(t *testing.T) {
			m := testModel(t, shapesModel, tc.p)
			agree, diff, minCos := shapesAgreement(t, m)
			t.Logf("%v: top-1 agrees on %d/24, largest probability difference %.4f, lowest image-embedding cosine %.5f", tc.p, agree, diff, minCos)
			if agree < tc.minAgree {
				t.Errorf("top-1 agrees on %d/24, want at least %d", agree, tc.minAgree)
			}
			if diff > tc.probTol {
				t.Errorf("probabilities differ by up to %.4f > %g", diff, tc.probTol)
			}
		})
	}
}

// MatchTexts is zero-shot classification with the texts as the labels: the same
// probabilities as a Classifier over a set of those texts (the one-prompt mean is the prompt's
// own embedding), in the texts' order, and none of the texts goes into the text cache.
func TestMatchTextsIsClassificationOverTheTexts(t *testing.T) {
	m := testModel(t, shapesModel, graph.FP32)
	texts := []string{"a red circle on a black background", "a red square on a black background", "a photo of a yellow triangle"}
	set, err := NewLabelSet("texts", texts, []string{"{}"})
	if err != nil {
		t.Fatal(err)
	}
	cls, err := m.Classifier(set)
	if err != nil {
		t.Fatal(err)
	}
	cached := m.cache.Len()
	img := decodePNG(t, loadShapesCases(t).Cases[0].imageFile)
	got, err := m.MatchTexts(img, texts)
	if err != nil {
		t.Fatal(err)
	}
	if m.cache.Len() != cached {
		t.Errorf("MatchTexts grew the text cache from %d to %d", cached, m.cache.Len())
	}
	emb, err := m.EmbedImage(img)
	if err != nil {
		t.Fatal(err)
	}
	scores, err := cls.Classify(emb)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, s := range scores {
		i := slices.Index(texts, s.Label)
		sum += got[i]
		if math.Abs(got[i]-s.Share) > 1e-6 {
			t.Errorf("%q: MatchTexts %.7f, classifier's share %.7f", s.Label, got[i], s.Share)
		}
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Errorf("probabilities add up to %v", sum)
	}
	if _, err := m.MatchTexts(img, []string{"a", " "}); err == nil || !strings.Contains(err.Error(), "text 1 is empty") {
		t.Errorf("an empty text: error %v", err)
	}
}
