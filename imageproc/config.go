// Package imageproc turns pictures into the pixel tensors CLIP and BLIP take, exactly as
// Hugging Face's CLIPImageProcessor and BlipImageProcessor do: resize with antialiasing when
// shrinking (Pillow's convolution, in 8-bit fixed point, rounded after each pass), centre
// crop with transformers' offsets and zero padding, rescale and normalise. Two backends
// reproduce transformers' two to the bit: Torchvision (its default in version 5, which made
// the reference data) and PIL (Pillow's Image.resize and NumPy).
//
// A Processor is configured from a checkpoint's preprocessor_config.json (ParseConfig,
// LoadConfig) and writes float32 in NHWC layout [1, H, W, 3], the layout of the TFLite
// graphs, into a caller's buffer. It reads Go images and packed RGB or BGR frames (an
// OpenCV Mat's bytes) without converting them first.
package imageproc

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
)

// Resample is a PIL resampling filter, numbered as PIL.Image.Resampling (and as the
// "resample" field of preprocessor_config.json).
type Resample int

// PIL's resampling filters. Nearest is listed for completeness; the processors here reject it.
const (
	Nearest  Resample = 0
	Lanczos  Resample = 1
	Bilinear Resample = 2
	Bicubic  Resample = 3
	Box      Resample = 4
	Hamming  Resample = 5
)

func (r Resample) String() string {
	switch r {
	case Nearest:
		return "nearest"
	case Lanczos:
		return "lanczos"
	case Bilinear:
		return "bilinear"
	case Bicubic:
		return "bicubic"
	case Box:
		return "box"
	case Hamming:
		return "hamming"
	}
	return fmt.Sprintf("Resample(%d)", int(r))
}

// Size is a resize or crop target: either ShortestEdge (the shorter side becomes this, the
// aspect ratio is kept) or Height and Width.
type Size struct {
	ShortestEdge int `json:"shortest_edge,omitempty"`
	Height       int `json:"height,omitempty"`
	Width        int `json:"width,omitempty"`
}

// Config is what a preprocessor_config.json says, with the processor class's defaults filled
// in for absent keys.
type Config struct {
	ProcessorType string   // "CLIPImageProcessor" or "BlipImageProcessor"
	DoResize      bool     // resize to Size with Resample
	Size          Size     // ShortestEdge (CLIP) or Height and Width (BLIP)
	Resample      Resample // PIL filter
	DoCenterCrop  bool     // crop the centre CropSize (Height and Width) after resizing
	CropSize      Size
	DoRescale     bool    // multiply by RescaleFactor (1/255)
	RescaleFactor float64 //
	DoNormalize   bool    // then (x - ImageMean) / ImageStd per channel
	ImageMean     [3]float64
	ImageStd      [3]float64
	DoConvertRGB  bool // kept for fidelity to the file; input is always read as RGB
}

// The OpenAI CLIP normalisation, the default of both processors.
var (
	openAIClipMean = [3]float64{0.48145466, 0.4578275, 0.40821073}
	openAIClipStd  = [3]float64{0.26862954, 0.26130258, 0.27577711}
)

// CLIPDefaults is CLIPImageProcessor() as transformers constructs it (openai/clip-vit-base-patch32).
func CLIPDefaults() Config {
	return Config{
		ProcessorType: "CLIPImageProcessor",
		DoResize:      true, Size: Size{ShortestEdge: 224}, Resample: Bicubic,
		DoCenterCrop: true, CropSize: Size{Height: 224, Width: 224},
		DoRescale: true, RescaleFactor: 1.0 / 255,
		DoNormalize: true, ImageMean: openAIClipMean, ImageStd: openAIClipStd,
		DoConvertRGB: true,
	}
}

// BLIPDefaults is BlipImageProcessor() as transformers constructs it (BLIP base, 384×384).
func BLIPDefaults() Config {
	return Config{
		ProcessorType: "BlipImageProcessor",
		DoResize:      true, Size: Size{Height: 384, Width: 384}, Resample: Bicubic,
		DoRescale: true, RescaleFactor: 1.0 / 255,
		DoNormalize: true, ImageMean: openAIClipMean, ImageStd: openAIClipStd,
		DoConvertRGB: true,
	}
}

// processorKinds maps the class names found in preprocessor_config.json files (current,
// "Fast"/"Pil" backends, and the older feature extractors) to the defaults of their family.
var processorKinds = map[string]func() Config{
	"CLIPImageProcessor":     CLIPDefaults,
	"CLIPImageProcessorFast": CLIPDefaults,
	"CLIPImageProcessorPil":  CLIPDefaults,
	"CLIPFeatureExtractor":   CLIPDefaults,
	"BlipImageProcessor":     BLIPDefaults,
	"BlipImageProcessorFast": BLIPDefaults,
	"BlipImageProcessorPil":  BLIPDefaults,
}

// rawConfig is the JSON as written; pointers tell absent keys from zero values, and size
// fields stay raw because they may be a number or an object.
type rawConfig struct {
	ImageProcessorType   string          `json:"image_processor_type"`
	FeatureExtractorType string          `json:"feature_extractor_type"`
	DoResize             *bool           `json:"do_resize"`
	Size                 json.RawMessage `json:"size"`
	Resample             *int            `json:"resample"`
	DoCenterCrop         *bool           `json:"do_center_crop"`
	CropSize             json.RawMessage `json:"crop_size"`
	DoRescale            *bool           `json:"do_rescale"`
	RescaleFactor        *float64        `json:"rescale_factor"`
	DoNormalize          *bool           `json:"do_normalize"`
	ImageMean            json.RawMessage `json:"image_mean"`
	ImageStd             json.RawMessage `json:"image_std"`
	DoConvertRGB         *bool           `json:"do_convert_rgb"`
}

// LoadConfig reads and parses a preprocessor_config.json file.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("imageproc: read preprocessor config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses the contents of a preprocessor_config.json. Keys the file leaves out take
// the defaults of its processor class; keys this package has no use for are ignored. A size
// given as a bare number means what transformers makes of it: the shortest edge for CLIP's
// resize, a square otherwise.
func ParseConfig(data []byte) (Config, error) {
	var raw rawConfig
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("imageproc: preprocessor config: %w", err)
	}
	kind := raw.ImageProcessorType
	if kind == "" {
		kind = raw.FeatureExtractorType
	}
	defaults, ok := processorKinds[kind]
	if !ok {
		if kind == "" {
			return Config{}, fmt.Errorf("imageproc: preprocessor config: no image_processor_type")
		}
		return Config{}, fmt.Errorf("imageproc: preprocessor config: unsupported image_processor_type %q (want CLIPImageProcessor or BlipImageProcessor)", kind)
	}
	cfg := defaults()
	isCLIP := strings.HasPrefix(cfg.ProcessorType, "CLIP")

	setBool(&cfg.DoResize, raw.DoResize)
	setBool(&cfg.DoCenterCrop, raw.DoCenterCrop)
	setBool(&cfg.DoRescale, raw.DoRescale)
	setBool(&cfg.DoNormalize, raw.DoNormalize)
	setBool(&cfg.DoConvertRGB, raw.DoConvertRGB)
	if raw.Resample != nil {
		cfg.Resample = Resample(*raw.Resample)
	}
	if raw.RescaleFactor != nil {
		cfg.RescaleFactor = *raw.RescaleFactor
	}
	var err error
	if len(raw.Size) > 0 {
		if cfg.Size, err = parseSize(raw.Size, isCLIP); err != nil {
			return Config{}, fmt.Errorf("imageproc: preprocessor config: size: %w", err)
		}
	}
	if len(raw.CropSize) > 0 {
		if cfg.CropSize, err = parseSize(raw.CropSize, false); err != nil {
			return Config{}, fmt.Errorf("imageproc: preprocessor config: crop_size: %w", err)
		}
	}
	if len(raw.ImageMean) > 0 {
		if cfg.ImageMean, err = parseTriple(raw.ImageMean); err != nil {
			return Config{}, fmt.Errorf("imageproc: preprocessor config: image_mean: %w", err)
		}
	}
	if len(raw.ImageStd) > 0 {
		if cfg.ImageStd, err = parseTriple(raw.ImageStd); err != nil {
			return Config{}, fmt.Errorf("imageproc: preprocessor config: image_std: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

// parseSize reads a size as transformers' get_size_dict does: a number is the shortest edge
// when shortestEdgeForNumber (CLIP's resize, default_to_square=False) and a square otherwise.
func parseSize(raw json.RawMessage, shortestEdgeForNumber bool) (Size, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		if shortestEdgeForNumber {
			return Size{ShortestEdge: n}, nil
		}
		return Size{Height: n, Width: n}, nil
	}
	var fields map[string]int
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Size{}, fmt.Errorf("want a number or an object of integers, got %s", raw)
	}
	var s Size
	for k, v := range fields {
		switch k {
		case "shortest_edge":
			s.ShortestEdge = v
		case "height":
			s.Height = v
		case "width":
			s.Width = v
		default:
			return Size{}, fmt.Errorf("unsupported key %q (want shortest_edge, or height and width)", k)
		}
	}
	return s, nil
}

// parseTriple reads a per-channel value: a list of three numbers, or one number for all.
func parseTriple(raw json.RawMessage) ([3]float64, error) {
	var one float64
	if err := json.Unmarshal(raw, &one); err == nil {
		return [3]float64{one, one, one}, nil
	}
	var list []float64
	if err := json.Unmarshal(raw, &list); err != nil {
		return [3]float64{}, fmt.Errorf("want a number or a list of three, got %s", raw)
	}
	if len(list) != 3 {
		return [3]float64{}, fmt.Errorf("want three values (R, G, B), got %d", len(list))
	}
	return [3]float64{list[0], list[1], list[2]}, nil
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if c.DoResize {
		s := c.Size
		switch {
		case s.ShortestEdge > 0 && s.Height == 0 && s.Width == 0:
		case s.ShortestEdge == 0 && s.Height > 0 && s.Width > 0:
		default:
			return fmt.Errorf("imageproc: config: size %+v: want shortest_edge > 0, or height and width > 0", s)
		}
		if c.Resample < Lanczos || c.Resample > Hamming {
			return fmt.Errorf("imageproc: config: resample %d (%v) is not supported (want 1 lanczos, 2 bilinear, 3 bicubic, 4 box or 5 hamming)", int(c.Resample), c.Resample)
		}
	}
	if c.DoCenterCrop && (c.CropSize.Height <= 0 || c.CropSize.Width <= 0 || c.CropSize.ShortestEdge != 0) {
		return fmt.Errorf("imageproc: config: crop_size %+v: want height and width > 0", c.CropSize)
	}
	if c.DoRescale && (!(c.RescaleFactor > 0) || math.IsInf(c.RescaleFactor, 0)) {
		return fmt.Errorf("imageproc: config: rescale_factor %g must be a positive number", c.RescaleFactor)
	}
	if c.DoNormalize {
		for i := range 3 {
			if math.IsNaN(c.ImageMean[i]) || math.IsInf(c.ImageMean[i], 0) {
				return fmt.Errorf("imageproc: config: image_mean[%d] = %g", i, c.ImageMean[i])
			}
			if !(c.ImageStd[i] > 0) || math.IsInf(c.ImageStd[i], 0) {
				return fmt.Errorf("imageproc: config: image_std[%d] = %g must be positive", i, c.ImageStd[i])
			}
		}
	}
	return nil
}
