package main

import (
	"fmt"
	"io"
	"os"

	"github.com/edged/edged/blip"
)

func init() {
	register("match", "score how well a text describes images with a BLIP retrieval model (ITM, ITC)", runMatch)
}

// matchResult is the JSON line printed per image with --json (a frozen contract): the ITM
// head's match probability and the ITC cosine similarity.
type matchResult struct {
	Image string  `json:"image"`
	Text  string  `json:"text"`
	ITM   float64 `json:"itm"`
	ITC   float64 `json:"itc"`
}

func runMatch(args []string) int { return match(args, os.Stdout, os.Stderr) }

func match(args []string, stdout, stderr io.Writer) int {
	c := &blipCommand{name: "match", arch: blip.ArchRetrieval,
		usage: "usage: edged match --model DIR --text TEXT [--json] IMAGE...\n\n" +
			"Scores the text against each image as transformers' BlipForImageTextRetrieval does: itm is\n" +
			"the matching head's probability, itc the cosine of the projected features. --model is a\n" +
			"bundle or a Hugging Face checkpoint folder, converted on first use.\n\n",
		text: textFlag{name: "text", usage: "the text to match", required: true},
		do: func(s *blip.Session, _ blip.GenerateOptions, text string, p picture) (any, string, error) {
			m, err := s.Match(p.im, text)
			return matchResult{Image: p.path, Text: text, ITM: m.ITM, ITC: m.ITC}, fmt.Sprintf("%s: itm %.4f itc %.4f", p.path, m.ITM, m.ITC), err
		}}
	return c.main(args, stdout, stderr)
}
