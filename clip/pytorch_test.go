package clip

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/edged/edged/hf/hub"
	"github.com/edged/edged/hf/hub/hubtest"
	"github.com/edged/edged/internal/graph"
)

// shapesPyTorch is the shapes CLIP's weights re-saved by torch.save (testdata/README.md).
const shapesPyTorch = "testdata/shapes_pytorch/pytorch_model.bin"

// The shapes CLIP served by a hub with only pytorch_model.bin for weights is pulled, converts
// to the same models byte for byte as its safetensors, and classifies the 24 reference
// scenes exactly as the safetensors one does: the same labels in the same order with the
// same scores, and transformers' top-1 on every scene.
func TestShapesFromPyTorchPull(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddFolder(t, "shapes/clip", shapesModel, hubtest.RepoOptions{}) // the shipped safetensors checkpoint
	files := hubtest.ReadFolder(t, shapesModel)
	delete(files, "model.safetensors")
	bin, err := os.ReadFile(shapesPyTorch)
	if err != nil {
		t.Fatal(err)
	}
	files["pytorch_model.bin"] = bin
	srv.AddFiles("shapes/clip-pytorch", files, hubtest.RepoOptions{})
	for _, k := range []string{"HF_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT"} {
		t.Setenv(k, "")
	}
	t.Setenv("HF_HOME", t.TempDir())
	opts := hub.Options{Endpoint: srv.URL, CacheDir: t.TempDir()}
	binDir, err := hub.Pull(context.Background(), "shapes/clip-pytorch", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	stDir, err := hub.Pull(context.Background(), "shapes/clip", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(binDir, "model.safetensors")); err == nil {
		t.Fatal("the .bin repository's snapshot has safetensors")
	}
	for _, p := range []graph.Precision{graph.FP32, graph.Int8Dynamic} {
		t.Run(p.String(), func(t *testing.T) {
			binBundle, stBundle := testBundle(t, binDir, p), testBundle(t, stDir, p)
			if binBundle.Manifest.Source.Hash == stBundle.Manifest.Source.Hash {
				t.Error("both checkpoints have the same hash: the .bin was not what was read")
			}
			for i, f := range stBundle.Manifest.Files {
				a, _ := os.ReadFile(filepath.Join(stBundle.Dir, f.Path))
				b, err := os.ReadFile(filepath.Join(binBundle.Dir, binBundle.Manifest.Files[i].Path))
				if err != nil || !bytes.Equal(a, b) {
					t.Errorf("%s differs between the safetensors and the .bin bundle (%v)", f.Path, err)
				}
			}
			fromBin, fromST := testModel(t, binDir, p), testModel(t, stDir, p)
			ref := loadShapesCases(t)
			set, err := NewLabelSet("shapes", ref.Labels, []string{ref.Template})
			if err != nil {
				t.Fatal(err)
			}
			binCls, err := fromBin.Classifier(set)
			if err != nil {
				t.Fatal(err)
			}
			stCls, err := fromST.Classifier(set)
			if err != nil {
				t.Fatal(err)
			}
			agree := 0
			for _, c := range ref.Cases {
				img := decodePNG(t, c.imageFile)
				var scores [2][]Score
				for k, m := range []struct {
					model *Model
					cls   *Classifier
				}{{fromBin, binCls}, {fromST, stCls}} {
					emb, err := m.model.EmbedImage(img)
					if err != nil {
						t.Fatal(err)
					}
					if scores[k], err = m.cls.Classify(emb); err != nil {
						t.Fatal(err)
					}
				}
				if !reflect.DeepEqual(scores[0], scores[1]) {
					t.Errorf("%s: .bin %v, safetensors %v", c.Image, scores[0][:3], scores[1][:3])
				}
				if scores[0][0].Label == c.Top1 {
					agree++
				}
			}
			if p == graph.FP32 && agree != 24 {
				t.Errorf("top-1 agrees with transformers on %d/24, want 24", agree)
			}
			t.Logf("%v: identical scores on 24 scenes; top-1 agrees with transformers on %d/24", p, agree)
		})
	}
}
