package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edged/edged/blip"
)

func init() {
	register("ask", "answer a question about images with a BLIP VQA model", runAsk)
}

// askResult is the JSON line printed per image with --json (a frozen contract).
type askResult struct {
	Image    string `json:"image"`
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

func runAsk(args []string) int { return ask(args, os.Stdout, os.Stderr) }

func ask(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ask", stderr, "usage: edged ask --model DIR --question TEXT [--beams N] [--max-tokens N] [--json] IMAGE...\n\n"+
		"Answers the question about each image as transformers' BlipForQuestionAnswering.generate\n"+
		"does. --model is a bundle or a Hugging Face checkpoint folder, converted on first use.\n\n")
	bf := addBlipFlags(fs)
	question := fs.String("question", "", "the question to answer")
	images, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if bf.model == "" || len(images) == 0 {
		fs.Usage()
		return 2
	}
	if strings.TrimSpace(*question) == "" {
		fmt.Fprintf(stderr, "edged ask: empty question: give one with --question TEXT\n")
		return 2
	}
	return bf.run("ask", blip.ArchVQA, images, stdout, stderr, func(s *blip.Session, o blip.GenerateOptions, path string, im *blip.Image) (any, string, error) {
		answer, err := s.Answer(im, *question, o)
		return askResult{Image: path, Question: *question, Answer: answer}, fmt.Sprintf("%s: %s", path, answer), err
	})
}
