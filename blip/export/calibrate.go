package export

import (
	"errors"
	"fmt"
	"image"
	"io/fs"
	"path/filepath"

	"github.com/edged/edged/blip/spec"
	"github.com/edged/edged/bundle"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/internal/graph/nn"
	"github.com/edged/edged/quant"
	"github.com/edged/edged/runtime/tflite"
)

// At full int8 (graph.Int8Full) a BLIP bundle mixes precisions, each model file saying its
// own in the manifest: the vision tower is calibrated on images and runs int8; every other
// model is fp32 (TextPrecision says why not int8-dynamic). The vision tower is where the time
// goes, and the one model the calibration images reach: the text models see no images, and a
// checkpoint comes with no representative texts to calibrate them on. The image's
// cross-attention keys and values stay float too: per-tensor int8 keys cost the shapes model a
// caption word. Figures: BENCHMARKS.md, "What BLIP calibrates". A caller that calibrates text
// models itself (package textcal, on the float model's own captions and answers) passes their
// ranges in convert.Options.Ranges, and those models are written at full int8.

// calibrateVision builds the float vision tower with b and observes its activations on the
// calibration images, preprocessed as inference will. The graph is not kept: its weights go
// while the calibration runs (convert.CalibrateImages).
func calibrateVision(src *convert.Source, s shape, b modelBuilder, opts convert.Options) (map[string]quant.Range, bundle.CalibrationInfo, error) {
	proc, err := calibrationProcessor(src, s.vision.ImageSize)
	if err != nil {
		return nil, bundle.CalibrationInfo{}, err
	}
	vision, err := buildModel(s, b, src.Weights)
	if err != nil {
		return nil, bundle.CalibrationInfo{}, err
	}
	pixels := make([]float32, s.vision.ImageSize*s.vision.ImageSize*3)
	return convert.CalibrateImages(vision, opts, "blip: calibrate the vision tower", func(ip *tflite.Interpreter, img image.Image) error {
		if _, err := proc.Process(img, pixels); err != nil {
			return err
		}
		in, err := ip.InputByName(spec.InPixelValues)
		if err != nil {
			return err
		}
		return in.SetFloat32(pixels)
	})
}

// calibrationProcessor preprocesses calibration images as inference will: the checkpoint's
// preprocessor_config.json, or BlipImageProcessor's defaults at the model's size.
func calibrationProcessor(src *convert.Source, size int) (*imageproc.Processor, error) {
	cfg, err := imageproc.LoadConfig(filepath.Join(src.Dir, "preprocessor_config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		cfg, err = imageproc.BLIPDefaults(), nil
		cfg.Size = imageproc.Size{Height: size, Width: size}
	}
	if err != nil {
		return nil, fmt.Errorf("blip: calibration preprocessing: %w", err)
	}
	p, err := imageproc.New(cfg, imageproc.Options{})
	if err != nil {
		return nil, fmt.Errorf("blip: calibration preprocessing: %w", err)
	}
	return p, nil
}

// keepFloat keeps in float the operators of the full-int8 vision tower where 8 bits cost
// accuracy: layer norms, softmax, L2 normalisation and the residual adds (nn.FloatOps), as
// for CLIP's vision tower; keeping GELU in float too changed nothing on the shapes scenes.
var keepFloat = nn.KeepFloat{Ops: nn.FloatOps, Names: []string{"/ln", "layernorm"}}.Keep

// keepFloatText keeps in float, in a text model written at full int8 (convert.Options.Ranges,
// calibrated on the float decoder's own captions and answers), what keepFloat keeps in the
// vision tower, and the embeddings (word and position tables summed and normalised): a token's
// embedding is a row of a table that 8 bits per tensor would flatten.
var keepFloatText = nn.KeepFloat{Ops: nn.FloatOps, Names: []string{"/ln", "/ffn_ln", "embeddings"}}.Keep
