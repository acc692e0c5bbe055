package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// wordPiece is BERT's model: each word becomes its longest vocabulary prefix, then the
// longest "##"-prefixed piece of the rest, and so on; a word that cannot be covered, or is
// longer than maxChars characters, becomes the unknown token.
type wordPiece struct {
	vocab    map[string]int32
	prefix   string // continuing_subword_prefix, "##"
	unk      int32
	maxChars int
}

func (m *wordPiece) encode(word string, ids []int32) []int32 {
	if utf8.RuneCountInString(word) > m.maxChars {
		return append(ids, m.unk)
	}
	start := len(ids)
	var piece strings.Builder
	for begin := 0; begin < len(word); {
		end := len(word)
		found := int32(-1)
		for end > begin {
			piece.Reset()
			if begin > 0 {
				piece.WriteString(m.prefix)
			}
			piece.WriteString(word[begin:end])
			if id, ok := m.vocab[piece.String()]; ok {
				found = id
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[begin:end])
			end -= size
		}
		if found < 0 {
			return append(ids[:start], m.unk)
		}
		ids = append(ids, found)
		begin = end
	}
	return ids
}
