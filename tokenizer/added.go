package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/edged/edged/hf"
)

// addedTokens are tokens matched in the text before the model sees it, such as
// <|endoftext|>, [SEP] or BLIP's [DEC]: wherever one appears it becomes its id, whole.
// Tokens marked normalized are matched in the normalized text, the others in the raw text,
// as the tokenizers library does.
type addedTokens struct {
	raw, normalized []addedToken
	byID            map[int32]hf.AddedToken
}

type addedToken struct {
	content        string // as matched (normalized for normalized tokens)
	id             int32
	lstrip, rstrip bool // also swallow whitespace on that side
}

func newAddedTokens(tokens []hf.AddedToken, normalize normalizer) (*addedTokens, error) {
	a := &addedTokens{byID: map[int32]hf.AddedToken{}}
	for _, t := range tokens {
		if t.Content == "" {
			return nil, fmt.Errorf("added token %d has no content", t.ID)
		}
		if t.SingleWord {
			return nil, fmt.Errorf("added token %q: single_word matching is not supported", t.Content)
		}
		a.byID[int32(t.ID)] = t
		at := addedToken{content: t.Content, id: int32(t.ID), lstrip: t.LStrip, rstrip: t.RStrip}
		if t.Normalized {
			at.content = normalize(t.Content)
			if at.content == "" {
				continue // normalizes to nothing (whitespace): it can never be matched
			}
			a.normalized = append(a.normalized, at)
		} else {
			a.raw = append(a.raw, at)
		}
	}
	return a, nil
}

// segment is a stretch of text, or an added token's id (text "" then).
type segment struct {
	text string
	id   int32
}

// split cuts text at the added tokens of list, leftmost first and longest among those
// starting at the same place. Text segments keep id -1.
func split(text string, list []addedToken, out []segment) []segment {
	if len(list) == 0 {
		return append(out, segment{text: text, id: -1})
	}
	last := 0
	for i := 0; i < len(text); {
		best := -1
		for k, t := range list {
			if strings.HasPrefix(text[i:], t.content) && (best < 0 || len(t.content) > len(list[best].content)) {
				best = k
			}
		}
		if best < 0 {
			_, size := utf8.DecodeRuneInString(text[i:])
			i += size
			continue
		}
		t := list[best]
		start, end := i, i+len(t.content)
		if t.lstrip {
			start = last + len(strings.TrimRightFunc(text[last:start], unicode.IsSpace))
		}
		if t.rstrip {
			end += len(text[end:]) - len(strings.TrimLeftFunc(text[end:], unicode.IsSpace))
		}
		if start > last {
			out = append(out, segment{text: text[last:start], id: -1})
		}
		out = append(out, segment{id: t.id})
		last, i = end, end
	}
	if last < len(text) {
		out = append(out, segment{text: text[last:], id: -1})
	}
	return out
}

// segments splits text at added tokens and normalizes the text between them.
func (a *addedTokens) segments(text string, normalize normalizer) []segment {
	var out []segment
	for _, s := range split(text, a.raw, nil) {
		if s.id >= 0 {
			out = append(out, s)
			continue
		}
		out = split(normalize(s.text), a.normalized, out)
	}
	return out
}

// special reports whether id is an added token marked special (skipped when decoding).
func (a *addedTokens) special(id int32) bool {
	t, ok := a.byID[id]
	return ok && t.Special
}
