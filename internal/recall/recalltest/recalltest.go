// Package recalltest holds real model outputs for tests of recall and of the live page: the
// 24 reference scenes of the shapes models with what transformers computed for them (CLIP
// image embeddings, zero-shot probabilities, greedy captions, VQA answers) and the CLIP text
// embeddings of the 15 "<colour> <shape>" labels. They let a test search, label and answer
// with real numbers without loading a model. gen_fixture.go made testdata/ from
// ../shared/models/shapes; only tests should import this package.
package recalltest

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/edged/edged/internal/shapes"
)

//go:embed testdata/shapes.json testdata/scenes
var files embed.FS

// Reference is the shapes models' reference data.
type Reference struct {
	// Labels are the 15 zero-shot labels, "red circle" …, in shapes.Labels() order.
	Labels []string
	// Template is the prompt the label embeddings were made with: "a photo of a {}".
	Template string
	// LogitScale is CLIP's softmax multiplier (exp of the checkpoint's logit_scale).
	LogitScale float64
	// LabelEmbeddings are transformers' normalised CLIP text embeddings of the prompts, one
	// per label.
	LabelEmbeddings [][]float32
	Cases           []Case
}

// Case is one reference scene.
type Case struct {
	Index int
	// Scene is the scene's truth: background and objects. Object positions and sizes are not
	// recorded in the reference data and are zero.
	Scene shapes.Scene
	// Caption is transformers' greedy BLIP caption (mistakes included).
	Caption string
	// CLIPTop1 and CLIPProbs are transformers' zero-shot result over Labels.
	CLIPTop1  string
	CLIPProbs []float64
	// QA are questions with transformers' BLIP answers.
	QA []shapes.QA
	// Embedding is transformers' normalised CLIP image embedding of the scene.
	Embedding []float32
	// JPEG is the scene at most 160 pixels wide; Image is it decoded.
	JPEG  []byte
	Image image.Image
}

// Has says whether the scene shows an object with the label "<colour> <shape>".
func (c Case) Has(label string) bool {
	for _, o := range c.Scene.Objects {
		if o.Label() == label {
			return true
		}
	}
	return false
}

// Answer returns transformers' answer to one of the case's questions.
func (c Case) Answer(question string) (string, bool) {
	for _, qa := range c.QA {
		if qa.Question == question {
			return qa.Answer, true
		}
	}
	return "", false
}

// LabelEmbedding returns the text embedding of a label, given as "red circle" or as its
// prompt "a photo of a red circle" (case and surrounding space ignored).
func (r *Reference) LabelEmbedding(text string) ([]float32, bool) {
	text = strings.ToLower(strings.TrimSpace(text))
	prefix, _, _ := strings.Cut(r.Template, "{}")
	text = strings.TrimPrefix(text, prefix)
	text = strings.TrimPrefix(text, "a ")
	i := slices.Index(r.Labels, text)
	if i < 0 {
		return nil, false
	}
	return r.LabelEmbeddings[i], true
}

// ZeroShot scores an image embedding against every label as CLIP does: softmax over the
// labels of LogitScale times the cosine similarity. Best first.
func (r *Reference) ZeroShot(imageEmbedding []float32) []LabelScore {
	out := make([]LabelScore, len(r.Labels))
	maxLogit := math.Inf(-1)
	for i, le := range r.LabelEmbeddings {
		var d float64
		for j := range le {
			d += float64(le[j]) * float64(imageEmbedding[j])
		}
		out[i] = LabelScore{Label: r.Labels[i], Score: r.LogitScale * d}
		maxLogit = max(maxLogit, out[i].Score)
	}
	var sum float64
	for i := range out {
		out[i].Score = math.Exp(out[i].Score - maxLogit)
		sum += out[i].Score
	}
	for i := range out {
		out[i].Score /= sum
	}
	slices.SortStableFunc(out, func(a, b LabelScore) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	return out
}

// LabelScore is one label's zero-shot probability.
type LabelScore struct {
	Label string
	Score float64
}

var (
	loadOnce sync.Once
	loaded   *Reference
	loadErr  error
)

// Shapes returns the reference data. It is loaded once and shared: treat it as read-only.
func Shapes() (*Reference, error) {
	loadOnce.Do(func() { loaded, loadErr = load() })
	return loaded, loadErr
}

type fixture struct {
	Labels          []string    `json:"labels"`
	Template        string      `json:"template"`
	LogitScale      float64     `json:"logit_scale"`
	LabelEmbeddings [][]float32 `json:"label_text_embeddings"`
	Cases           []struct {
		Index      int         `json:"index"`
		Background string      `json:"background"`
		Objects    [][2]string `json:"objects"`
		Caption    string      `json:"caption"`
		CLIPTop1   string      `json:"clip_top1"`
		CLIPProbs  []float64   `json:"clip_probs"`
		QA         []shapes.QA `json:"qa"`
		Embedding  []float32   `json:"image_embedding"`
		Image      string      `json:"image"`
	} `json:"cases"`
}

func load() (*Reference, error) {
	data, err := files.ReadFile("testdata/shapes.json")
	if err != nil {
		return nil, err
	}
	var fx fixture
	if err := json.Unmarshal(data, &fx); err != nil {
		return nil, fmt.Errorf("recalltest: shapes.json: %w", err)
	}
	ref := &Reference{Labels: fx.Labels, Template: fx.Template, LogitScale: fx.LogitScale, LabelEmbeddings: fx.LabelEmbeddings}
	for _, c := range fx.Cases {
		jp, err := files.ReadFile("testdata/" + c.Image)
		if err != nil {
			return nil, err
		}
		img, err := jpeg.Decode(bytes.NewReader(jp))
		if err != nil {
			return nil, fmt.Errorf("recalltest: %s: %w", c.Image, err)
		}
		sc := shapes.Scene{Background: c.Background}
		for _, o := range c.Objects {
			sc.Objects = append(sc.Objects, shapes.Object{Color: o[0], Shape: o[1]})
		}
		ref.Cases = append(ref.Cases, Case{Index: c.Index, Scene: sc, Caption: c.Caption, CLIPTop1: c.CLIPTop1,
			CLIPProbs: c.CLIPProbs, QA: c.QA, Embedding: c.Embedding, JPEG: jp, Image: img})
	}
	return ref, nil
}
