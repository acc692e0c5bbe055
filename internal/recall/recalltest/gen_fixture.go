//go:build ignore

// gen_fixture writes testdata/ from the shapes models' reference outputs (made by
// transformers, see ../shared/models/shapes/README.md):
//
//	go run gen_fixture.go /work/shared/models/shapes
//
// It keeps what recall and web tests need: each reference scene's truth, transformers' CLIP
// image embedding, zero-shot probabilities, greedy caption and VQA answers, the 15 label text
// embeddings and the logit scale, and the scene itself as a small JPEG.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"

	"github.com/edged/edged/hf"
)

type refCase struct {
	Image string `json:"image"`
	Scene struct {
		Bg      string     `json:"bg"`
		Objects [][]string `json:"objects"`
	} `json:"scene"`
	CaptionGreedy string    `json:"caption_greedy"`
	CLIPTop1      string    `json:"clip_top1"`
	CLIPProbs     []float64 `json:"clip_probs"`
	VQA           []struct {
		Question string `json:"question"`
		Answer   string `json:"answer"`
	} `json:"vqa"`
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: go run gen_fixture.go <shapes models folder>")
	}
	dir := os.Args[1]
	var ref struct {
		Labels   []string  `json:"labels"`
		Template string    `json:"template"`
		Cases    []refCase `json:"cases"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	check(err)
	check(json.Unmarshal(data, &ref))
	st, err := hf.OpenSafetensors(filepath.Join(dir, "reference.safetensors"))
	check(err)
	model, err := hf.OpenSafetensors(filepath.Join(dir, "clip", "model.safetensors"))
	check(err)
	scale, err := model.Float32("logit_scale")
	check(err)
	labelEmb, err := st.Float32("label_text_embeds", len(ref.Labels), 48)
	check(err)

	out := fixture{Labels: ref.Labels, Template: ref.Template, LogitScale: math.Exp(float64(scale[0]))}
	for i := range ref.Labels {
		out.LabelEmbeddings = append(out.LabelEmbeddings, labelEmb[i*48:(i+1)*48])
	}
	check(os.MkdirAll("testdata/scenes", 0o755))
	for i, c := range ref.Cases {
		emb, err := st.Float32(fmt.Sprintf("image_embeds_%02d", i), 1, 48)
		check(err)
		fc := fixtureCase{Index: i, Background: c.Scene.Bg, Caption: c.CaptionGreedy, CLIPTop1: c.CLIPTop1,
			CLIPProbs: c.CLIPProbs, Embedding: emb, Image: fmt.Sprintf("scenes/scene_%02d.jpg", i)}
		for _, o := range c.Scene.Objects {
			fc.Objects = append(fc.Objects, [2]string{o[0], o[1]})
		}
		for _, q := range c.VQA {
			fc.QA = append(fc.QA, qa{q.Question, q.Answer})
		}
		writeJPEG(filepath.Join(dir, c.Image), filepath.Join("testdata", fc.Image))
		out.Cases = append(out.Cases, fc)
	}
	js, err := json.MarshalIndent(out, "", " ")
	check(err)
	check(os.WriteFile("testdata/shapes.json", append(js, '\n'), 0o644))
}

type qa struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

type fixtureCase struct {
	Index      int         `json:"index"`
	Background string      `json:"background"`
	Objects    [][2]string `json:"objects"` // colour, shape
	Caption    string      `json:"caption"`
	CLIPTop1   string      `json:"clip_top1"`
	CLIPProbs  []float64   `json:"clip_probs"`
	QA         []qa        `json:"qa"`
	Embedding  []float32   `json:"image_embedding"`
	Image      string      `json:"image"`
}

type fixture struct {
	Labels          []string      `json:"labels"`
	Template        string        `json:"template"`
	LogitScale      float64       `json:"logit_scale"`
	LabelEmbeddings [][]float32   `json:"label_text_embeddings"`
	Cases           []fixtureCase `json:"cases"`
}

// writeJPEG stores a scene no wider than 160 pixels (box filter), enough for a page and a test.
func writeJPEG(src, dst string) {
	f, err := os.Open(src)
	check(err)
	defer f.Close()
	img, err := png.Decode(f)
	check(err)
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	if w := b.Dx(); w > 160 {
		step := (w + 159) / 160
		small := image.NewRGBA(image.Rect(0, 0, w/step, b.Dy()/step))
		for y := range small.Rect.Dy() {
			for x := range small.Rect.Dx() {
				var sum [3]int
				for dy := range step {
					for dx := range step {
						p := rgba.Pix[rgba.PixOffset(x*step+dx, y*step+dy):]
						sum[0], sum[1], sum[2] = sum[0]+int(p[0]), sum[1]+int(p[1]), sum[2]+int(p[2])
					}
				}
				n := step * step
				d := small.Pix[small.PixOffset(x, y):]
				d[0], d[1], d[2], d[3] = uint8(sum[0]/n), uint8(sum[1]/n), uint8(sum[2]/n), 255
			}
		}
		rgba = small
	}
	var buf bytes.Buffer
	check(jpeg.Encode(&buf, rgba, &jpeg.Options{Quality: 85}))
	check(os.WriteFile(dst, buf.Bytes(), 0o644))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
