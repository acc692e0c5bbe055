package main

import (
	"fmt"
	"io"
	"os"

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
	c := &blipCommand{name: "ask", arch: blip.ArchVQA, generates: true,
		usage: "usage: edged ask --model DIR --question TEXT [--beams N] [--max-tokens N] [--json] IMAGE...\n\n" +
			"Answers the question about each image as transformers' BlipForQuestionAnswering.generate\n" +
			"does. --model is a bundle or a Hugging Face checkpoint folder, converted on first use.\n\n",
		text: textFlag{name: "question", usage: "the question to answer", required: true},
		do: func(s *blip.Session, o blip.GenerateOptions, question string, p picture) (any, string, error) {
			answer, err := s.Answer(p.im, question, o)
			return askResult{Image: p.path, Question: question, Answer: answer}, fmt.Sprintf("%s: %s", p.path, answer), err
		}}
	return c.main(args, stdout, stderr)
}
