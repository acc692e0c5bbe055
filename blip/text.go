package blip

import (
	"fmt"
	"strings"
)

// Caption describes im in words, as BlipForConditionalGeneration.generate followed by
// decode(skip_special_tokens=True) does. With a prompt ("a picture of") the caption continues
// it and, as in transformers, starts with it.
func (s *Session) Caption(im *Image, prompt string, o GenerateOptions) (string, error) {
	tok, err := s.m.Tokenizer()
	if err != nil {
		return "", err
	}
	var ids []int32
	if strings.TrimSpace(prompt) != "" {
		ids = tok.Encode(prompt)
	}
	out, err := s.CaptionIDs(im, ids, o)
	if err != nil {
		return "", err
	}
	return tok.Decode(out), nil
}

// Answer answers a question about im, as BlipForQuestionAnswering.generate followed by
// decode(skip_special_tokens=True) does.
func (s *Session) Answer(im *Image, question string, o GenerateOptions) (string, error) {
	tok, err := s.m.Tokenizer()
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(question) == "" {
		return "", fmt.Errorf("blip: empty question")
	}
	out, err := s.AnswerIDs(im, tok.Encode(question), o)
	if err != nil {
		return "", err
	}
	return tok.Decode(out), nil
}

// Match scores how well text describes im (see MatchIDs).
func (s *Session) Match(im *Image, text string) (Match, error) {
	ids, err := s.matchText(text)
	if err != nil {
		return Match{}, err
	}
	return s.MatchIDs(im, ids)
}

// ITM is Match with the matching head alone (see ITMIDs).
func (s *Session) ITM(im *Image, text string) (Match, error) {
	ids, err := s.matchText(text)
	if err != nil {
		return Match{}, err
	}
	return s.ITMIDs(im, ids)
}

func (s *Session) matchText(text string) ([]int32, error) {
	tok, err := s.m.Tokenizer()
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("blip: empty text to match")
	}
	return tok.Encode(text), nil
}
