package main

import (
	"fmt"
	"io"
	"os"

	"github.com/edged/edged/blip"
)

func init() {
	register("caption", "describe images in words with a BLIP captioning model", runCaption)
}

// captionResult is the JSON line printed per image with --json: a contract other tools rely
// on, so its field names never change.
type captionResult struct {
	Image   string `json:"image"`
	Caption string `json:"caption"`
}

func runCaption(args []string) int { return caption(args, os.Stdout, os.Stderr) }

func caption(args []string, stdout, stderr io.Writer) int {
	c := &blipCommand{name: "caption", arch: blip.ArchCaption, generates: true,
		usage: "usage: edged caption --model DIR [--beams N] [--max-tokens N] [--prompt TEXT] [--json] IMAGE...\n\n" +
			"Captions each image as transformers' BlipForConditionalGeneration.generate does. With\n" +
			"--prompt the caption continues the prompt. --model is a bundle or a Hugging Face\n" +
			"checkpoint folder, converted on first use into the cache.\n\n",
		text: textFlag{name: "prompt", usage: "text the caption starts with (conditional captioning)"},
		do: func(s *blip.Session, o blip.GenerateOptions, prompt, path string, im *blip.Image) (any, string, error) {
			text, err := s.Caption(im, prompt, o)
			return captionResult{Image: path, Caption: text}, fmt.Sprintf("%s: %s", path, text), err
		}}
	return c.main(args, stdout, stderr)
}
