package shapes

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/edged/edged/internal/testutil"
)

// referenceFile is reference.json of models/shapes as transformers wrote it (copied from the
// shared reference data).
type referenceFile struct {
	Labels   []string `json:"labels"`
	Template string   `json:"template"`
	Cases    []struct {
		Image string `json:"image"`
		Scene struct {
			Bg      string      `json:"bg"`
			Objects [][2]string `json:"objects"`
		} `json:"scene"`
		TruthCaption string `json:"truth_caption"`
		VQA          []struct {
			Question string `json:"question"`
			Answer   string `json:"answer"`
		} `json:"vqa"`
	} `json:"cases"`
}

func loadReference(t *testing.T) referenceFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref referenceFile
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatalf("testdata/reference.json: %v", err)
	}
	if len(ref.Cases) != 24 {
		t.Fatalf("reference.json has %d cases, want 24", len(ref.Cases))
	}
	return ref
}

// referenceScene is one of the 24 reference scenes as the generator drew it.
type referenceScene struct {
	scene         Scene
	width, height int
	noisy         bool
	sigma         float64 // noise level drawn for a noisy scene
}

// replayReferenceScenes redraws the reference scenes with the generator's own random stream
// (src/train_demo.py, references(): random.Random(4321) for the shipped variant "b", then per
// scene sample_scene and render's draws: r, cx, cy per object, a colour jitter per object and
// a noise level when the scene is noisy, i.e. when i % 3 != 0).
func replayReferenceScenes() []referenceScene {
	rng := newPyRandom(4321)
	sizes := [][2]int{{128, 128}, {320, 240}, {640, 480}, {64, 64}}
	var out []referenceScene
	for i := 0; i < 24; i++ {
		n := pyChoice(rng, []int{1, 1, 2})
		s := Scene{Background: pyChoice(rng, backgroundNames)}
		for len(s.Objects) < n {
			o := Object{Color: pyChoice(rng, colorNames), Shape: pyChoice(rng, shapeNames)}
			dup := false
			for _, p := range s.Objects {
				dup = dup || p.Label() == o.Label()
			}
			if !dup {
				s.Objects = append(s.Objects, o)
			}
		}
		rs := referenceScene{width: sizes[i%4][0], height: sizes[i%4][1], noisy: i%3 != 0}
		for j := range s.Objects {
			o := &s.Objects[j]
			switch {
			case n == 1:
				o.Size = rng.uniform(0.14, 0.28)
				o.X = rng.uniform(0.32, 0.68)
			case j == 0:
				o.Size = rng.uniform(0.12, 0.2)
				o.X = rng.uniform(0.22, 0.32)
			default:
				o.Size = rng.uniform(0.12, 0.2)
				o.X = rng.uniform(0.68, 0.78)
			}
			o.Y = rng.uniform(0.32, 0.68)
			if rs.noisy {
				for c := range o.Tint {
					o.Tint[c] = rng.uniform(-15, 15)
				}
			}
		}
		if rs.noisy {
			rs.sigma = rng.uniform(0, 6)
		}
		rs.scene = s
		out = append(out, rs)
	}
	return out
}

func sceneFromTruth(bg string, objects [][2]string) Scene {
	s := Scene{Background: bg}
	for _, o := range objects {
		s.Objects = append(s.Objects, Object{Color: o[0], Shape: o[1]})
	}
	return s
}

// TestRenderMatchesReferenceScenes re-renders the 24 reference scenes and compares them with
// the PNG files the models' references were computed from.
//
//   - Clean scenes (every third) must be identical byte for byte: this pins the geometry,
//     the float32 edge tests and the colours.
//   - Noisy scenes carry PyTorch's Gaussian noise, which cannot be replayed. Render without
//     noise (colour jitter included) and check that the difference is that noise: every
//     channel of every pixel within 6σ+1 levels (σ ≤ 6, so a pixel on the wrong side of an
//     edge, at least 63 levels away, fails); and over the samples the reference did not clip,
//     the mean and mean square of the difference within 0.02 + 5% of what Gaussian noise of
//     the replayed σ, rounded to integers, gives for each pixel's exact clean value.
func TestRenderMatchesReferenceScenes(t *testing.T) {
	ref := loadReference(t)
	for i, rs := range replayReferenceScenes() {
		c := ref.Cases[i]
		t.Run(filepath.Base(c.Image), func(t *testing.T) {
			truth := sceneFromTruth(c.Scene.Bg, c.Scene.Objects)
			if got := stripGeometry(rs.scene); !reflect.DeepEqual(got, truth) {
				t.Fatalf("replayed scene %+v differs from reference truth %+v: the random stream is off", got, truth)
			}
			want := testutil.DecodeImage(t, filepath.Join("testdata", "scenes", filepath.Base(c.Image)))
			if b := want.Bounds(); b.Dx() != rs.width || b.Dy() != rs.height {
				t.Fatalf("PNG is %dx%d, replay says %dx%d", b.Dx(), b.Dy(), rs.width, rs.height)
			}
			got, err := Render(rs.scene, rs.width, rs.height, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !rs.noisy {
				compareExact(t, got, want)
				return
			}
			compareNoise(t, got, want, rs.scene, rs.sigma)
		})
	}
}

func stripGeometry(s Scene) Scene {
	out := Scene{Background: s.Background}
	for _, o := range s.Objects {
		out.Objects = append(out.Objects, Object{Color: o.Color, Shape: o.Shape})
	}
	return out
}

func compareExact(t *testing.T, got *image.RGBA, want image.Image) {
	t.Helper()
	diff := 0
	b := got.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if g, w := got.RGBAAt(x, y), rgbAt(want, x, y); [3]uint8{g.R, g.G, g.B} != w {
				if diff < 5 {
					t.Errorf("pixel (%d,%d) = %v, PNG has %v", x, y, [3]uint8{g.R, g.G, g.B}, w)
				}
				diff++
			}
		}
	}
	if diff > 0 {
		t.Errorf("%d pixels differ, want 0", diff)
	}
}

func compareNoise(t *testing.T, got *image.RGBA, want image.Image, scene Scene, sigma float64) {
	t.Helper()
	clean := cleanValues(scene)
	bound := 6*sigma + 1
	moments := map[float64][2]float64{} // a few distinct clean values; erf is slow
	var sum, sumSq, expSum, expSumSq float64
	var n, outliers int
	b := got.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g, w := got.RGBAAt(x, y), rgbAt(want, x, y)
			gb := [3]uint8{g.R, g.G, g.B}
			v, ok := clean[gb]
			if !ok {
				t.Fatalf("pixel (%d,%d) = %v is neither the background nor an object colour", x, y, gb)
			}
			for c := range gb {
				d := float64(w[c]) - float64(gb[c])
				if math.Abs(d) > bound {
					if outliers < 5 {
						t.Errorf("pixel (%d,%d) channel %d: PNG %d, clean render %d: more than 6σ+1 = %.2f apart", x, y, c, w[c], gb[c], bound)
					}
					outliers++
				}
				if w[c] == 0 || w[c] == 255 { // clipped by the reference renderer
					continue
				}
				m, ok := moments[v[c]]
				if !ok {
					m[0], m[1] = roundedNoiseMoments(v[c], sigma)
					moments[v[c]] = m
				}
				sum += d
				sumSq += d * d
				expSum += m[0]
				expSumSq += m[1]
				n++
			}
		}
	}
	if outliers > 0 {
		t.Fatalf("%d samples outside 6σ+1", outliers)
	}
	mean, meanSq := sum/float64(n), sumSq/float64(n)
	expMean, expMeanSq := expSum/float64(n), expSumSq/float64(n)
	if math.Abs(mean-expMean) > 0.02+0.05*math.Sqrt(expMeanSq) || math.Abs(meanSq-expMeanSq) > 0.02+0.05*expMeanSq {
		t.Errorf("σ = %.4f: residual mean %.4f, mean square %.4f; Gaussian noise would give %.4f and %.4f", sigma, mean, meanSq, expMean, expMeanSq)
	}
	t.Logf("σ = %.3f: residual mean %.4f (expected %.4f), mean square %.4f (expected %.4f)", sigma, mean, expMean, meanSq, expMeanSq)
}

// cleanValues maps each colour of a clean rendering to the float value it was rounded from.
func cleanValues(s Scene) map[[3]uint8][3]float64 {
	out := map[[3]uint8][3]float64{}
	bg := backgroundValues[s.Background]
	out[bg] = [3]float64{float64(bg[0]), float64(bg[1]), float64(bg[2])}
	for _, o := range s.Objects {
		var key [3]uint8
		var val [3]float64
		for c, v := range objectColor(o) {
			key[c], val[c] = toByte(v), float64(v)
		}
		out[key] = val
	}
	return out
}

// roundedNoiseMoments returns the mean and mean square of round(v+n) - round(v) for n drawn
// from N(0, σ²).
func roundedNoiseMoments(v, sigma float64) (mean, meanSq float64) {
	base := math.RoundToEven(v)
	phi := func(z float64) float64 { return 0.5 * (1 + math.Erf(z/(sigma*math.Sqrt2))) }
	reach := math.Ceil(8*sigma) + 1
	for k := base - reach; k <= base+reach; k++ {
		p := phi(k+0.5-v) - phi(k-0.5-v)
		d := k - base
		mean += p * d
		meanSq += p * d * d
	}
	return mean, meanSq
}

func rgbAt(img image.Image, x, y int) [3]uint8 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

// TestCaptionsMatchReferenceTruth checks Caption against the truth captions of the 24 scenes,
// with the replayed positions (the caption orders objects left to right).
func TestCaptionsMatchReferenceTruth(t *testing.T) {
	ref := loadReference(t)
	for i, rs := range replayReferenceScenes() {
		if got, want := rs.scene.Caption(), ref.Cases[i].TruthCaption; got != want {
			t.Errorf("scene %02d: caption %q, want %q", i, got, want)
		}
	}
}

// TestLabelsMatchReference checks the 15 labels and the template against reference.json.
func TestLabelsMatchReference(t *testing.T) {
	ref := loadReference(t)
	if got := Labels(); !reflect.DeepEqual(got, ref.Labels) {
		t.Errorf("Labels() = %q, want %q", got, ref.Labels)
	}
	if LabelTemplate != ref.Template {
		t.Errorf("LabelTemplate = %q, want %q", LabelTemplate, ref.Template)
	}
}

// TestQuestionsAgainstReference checks the truthful answers of Questions against the 120
// answers transformers' VQA model gave in reference.json. The model is not perfect, so the
// answers must agree everywhere except at the model's known mistakes, listed here with the
// truth that contradicts them; and a reference question missing from Questions must be one
// whose truthful answer is ambiguous (the colour of a shape that appears twice).
func TestQuestionsAgainstReference(t *testing.T) {
	modelMistakes := map[string]string{
		"00 is there a yellow triangle?": "yes",   // a yellow circle only
		"01 what color is the triangle?": "red",   // the triangle is green, the square red
		"05 is there a yellow triangle?": "yes",   // a yellow square only
		"11 what color is the circle?":   "green", // the circle is blue, the square green
		"12 what color is the triangle?": "red",   // the triangle is green, the square red
		"16 is there a yellow triangle?": "yes",   // a yellow circle only
		"20 is there a yellow triangle?": "yes",   // a yellow circle only
		"21 what color is the triangle?": "blue",  // the triangle is red, the square blue
	}
	ref := loadReference(t)
	agreed, ambiguous := 0, 0
	for i, c := range ref.Cases {
		scene := sceneFromTruth(c.Scene.Bg, c.Scene.Objects)
		truth := map[string]string{}
		for _, qa := range Questions(scene) {
			if _, dup := truth[qa.Question]; dup {
				t.Errorf("scene %02d: question %q asked twice", i, qa.Question)
			}
			truth[qa.Question] = qa.Answer
		}
		for _, q := range c.VQA {
			key := fmt.Sprintf("%02d %s", i, q.Question)
			answer, ok := truth[q.Question]
			switch {
			case !ok:
				if !shapeRepeated(scene) {
					t.Errorf("scene %02d: Questions lacks %q", i, q.Question)
				}
				ambiguous++
			case modelMistakes[key] != "":
				if q.Answer != modelMistakes[key] || answer == q.Answer {
					t.Errorf("%s: expected the model's mistake %q against the truth, got reference %q and truth %q", key, modelMistakes[key], q.Answer, answer)
				}
			case answer != q.Answer:
				t.Errorf("%s: truthful answer %q, transformers said %q", key, answer, q.Answer)
			default:
				agreed++
			}
		}
	}
	if agreed+ambiguous+len(modelMistakes) != 120 {
		t.Errorf("accounted for %d+%d+%d of 120 reference questions", agreed, ambiguous, len(modelMistakes))
	}
	t.Logf("%d answers agree with transformers, %d model mistakes, %d ambiguous questions left out", agreed, len(modelMistakes), ambiguous)
}

func shapeRepeated(s Scene) bool {
	seen := map[string]bool{}
	for _, o := range s.Objects {
		if seen[o.Shape] {
			return true
		}
		seen[o.Shape] = true
	}
	return false
}
