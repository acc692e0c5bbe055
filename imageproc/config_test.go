package imageproc

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseConfigShapesCheckpoints(t *testing.T) {
	clip, err := LoadConfig(filepath.Join("testdata", "shapes_config", "clip_preprocessor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := CLIPDefaults()
	want.Size = Size{ShortestEdge: 64}
	want.CropSize = Size{Height: 64, Width: 64}
	want.RescaleFactor = 0.00392156862745098
	if !reflect.DeepEqual(clip, want) {
		t.Errorf("clip config\n got %+v\nwant %+v", clip, want)
	}
	blip, err := LoadConfig(filepath.Join("testdata", "shapes_config", "blip_preprocessor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	want = BLIPDefaults()
	want.Size = Size{Height: 64, Width: 64}
	want.RescaleFactor = 0.00392156862745098
	if !reflect.DeepEqual(blip, want) {
		t.Errorf("blip config\n got %+v\nwant %+v", blip, want)
	}
}

// TestParseConfigLegacyAndPartialFiles covers the shapes real checkpoints ship: the original
// openai/clip-vit-base-patch32 file (a feature extractor, sizes as bare numbers, no rescale
// keys) and Salesforce BLIP's (no crop keys).
func TestParseConfigLegacyAndPartialFiles(t *testing.T) {
	openai := `{
  "crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
  "feature_extractor_type": "CLIPFeatureExtractor",
  "image_mean": [0.48145466, 0.4578275, 0.40821073],
  "image_std": [0.26862954, 0.26130258, 0.27577711],
  "resample": 3, "size": 224}`
	cfg, err := ParseConfig([]byte(openai))
	if err != nil {
		t.Fatal(err)
	}
	if want := CLIPDefaults(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("openai config\n got %+v\nwant %+v", cfg, want)
	}
	salesforce := `{"do_normalize": true, "do_resize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073],
  "image_processor_type": "BlipImageProcessor", "image_std": [0.26862954, 0.26130258, 0.27577711],
  "processor_class": "BlipProcessor", "resample": 3, "rescale_factor": 0.00392156862745098,
  "size": {"height": 384, "width": 384}}`
	cfg, err = ParseConfig([]byte(salesforce))
	if err != nil {
		t.Fatal(err)
	}
	want := BLIPDefaults()
	want.RescaleFactor = 0.00392156862745098
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("salesforce config\n got %+v\nwant %+v", cfg, want)
	}
	// A bare-number size is a square for BLIP; one number for mean applies to all channels.
	cfg, err = ParseConfig([]byte(`{"image_processor_type": "BlipImageProcessor", "size": 96, "image_mean": 0.5, "do_rescale": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Size != (Size{Height: 96, Width: 96}) || cfg.ImageMean != [3]float64{0.5, 0.5, 0.5} || cfg.DoRescale {
		t.Errorf("got %+v", cfg)
	}
}

func TestParseConfigErrorsSayWhat(t *testing.T) {
	cases := []struct{ json, want string }{
		{`{`, "preprocessor config: unexpected end of JSON input"},
		{`{"size": 224}`, "no image_processor_type"},
		{`{"image_processor_type": "ViTImageProcessor"}`, `unsupported image_processor_type "ViTImageProcessor"`},
		{`{"image_processor_type": "CLIPImageProcessor", "size": {"longest_edge": 10}}`, `size: unsupported key "longest_edge"`},
		{`{"image_processor_type": "CLIPImageProcessor", "size": "big"}`, `size: want a number or an object`},
		{`{"image_processor_type": "CLIPImageProcessor", "size": {"height": 10}}`, `want shortest_edge > 0, or height and width > 0`},
		{`{"image_processor_type": "CLIPImageProcessor", "crop_size": 0}`, `crop_size {ShortestEdge:0 Height:0 Width:0}: want height and width > 0`},
		{`{"image_processor_type": "CLIPImageProcessor", "image_mean": [0.5, 0.5]}`, `image_mean: want three values (R, G, B), got 2`},
		{`{"image_processor_type": "CLIPImageProcessor", "image_std": [0.5, 0, 0.5]}`, `image_std[1] = 0 must be positive`},
		{`{"image_processor_type": "CLIPImageProcessor", "resample": 0}`, `resample 0 (nearest) is not supported`},
		{`{"image_processor_type": "CLIPImageProcessor", "rescale_factor": -1}`, `rescale_factor -1 must be a positive number`},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseConfig(%s) = %v, want an error containing %q", c.json, err, c.want)
		}
	}
	if _, err := LoadConfig(filepath.Join("testdata", "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("LoadConfig of a missing file: %v", err)
	}
}
