package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

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
	fs := newFlagSet("match", stderr, "usage: edged match --model DIR --text TEXT [--json] IMAGE...\n\n"+
		"Scores the text against each image as transformers' BlipForImageTextRetrieval does: itm is\n"+
		"the matching head's probability, itc the cosine of the projected features. --model is a\n"+
		"bundle or a Hugging Face checkpoint folder, converted on first use.\n\n")
	bf := addBlipFlags(fs)
	text := fs.String("text", "", "the text to match")
	images, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if bf.model == "" || len(images) == 0 {
		fs.Usage()
		return 2
	}
	if strings.TrimSpace(*text) == "" {
		fmt.Fprintf(stderr, "edged match: empty text: give one with --text TEXT\n")
		return 2
	}
	return bf.run("match", blip.ArchRetrieval, images, stdout, stderr, func(s *blip.Session, _ blip.GenerateOptions, path string, im *blip.Image) (any, string, error) {
		m, err := s.Match(im, *text)
		return matchResult{Image: path, Text: *text, ITM: m.ITM, ITC: m.ITC}, fmt.Sprintf("%s: itm %.4f itc %.4f", path, m.ITM, m.ITC), err
	})
}

// newFlagSet is a flag set writing to stderr with a usage text before the flags.
func newFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}
