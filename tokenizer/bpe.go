package tokenizer

import (
	"fmt"
	"math"
)

// bpe is a byte-pair-encoding model: a vocabulary and merge rules ranked by priority.
type bpe struct {
	vocab     map[string]int32
	merges    map[[2]int32]merge
	endOfWord string // suffix of a word's last symbol ("</w>" for CLIP)
	unk       int32  // id for a symbol not in the vocabulary
	tokenByID []string
}

// merge is the result of merging a pair: its rank (lower merges first) and the new id.
type merge struct {
	rank int
	id   int32
}

// newBPE checks that every merge's parts and result are in the vocabulary, as the
// tokenizers library does when it loads a model.
func newBPE(vocab map[string]int32, pairs [][2]string, endOfWord string, unk string) (*bpe, error) {
	if err := checkIDs(vocab); err != nil {
		return nil, err
	}
	unkID, ok := vocab[unk]
	if !ok {
		return nil, fmt.Errorf("unknown token %q is not in the vocabulary", unk)
	}
	m := &bpe{vocab: vocab, merges: make(map[[2]int32]merge, len(pairs)), endOfWord: endOfWord, unk: unkID}
	for rank, p := range pairs {
		a, okA := vocab[p[0]]
		b, okB := vocab[p[1]]
		ab, okAB := vocab[p[0]+p[1]]
		if !okA || !okB || !okAB {
			return nil, fmt.Errorf("merge %d (%q %q): %q, %q or %q is not in the vocabulary", rank+1, p[0], p[1], p[0], p[1], p[0]+p[1])
		}
		if _, dup := m.merges[[2]int32{a, b}]; !dup { // the first (highest priority) wins
			m.merges[[2]int32{a, b}] = merge{rank: rank, id: ab}
		}
	}
	m.tokenByID = invert(vocab)
	return m, nil
}

// invert lists tokens by id ("" for ids no token has).
func invert(vocab map[string]int32) []string {
	n := int32(0)
	for _, id := range vocab {
		n = max(n, id+1)
	}
	out := make([]string, n)
	for tok, id := range vocab {
		out[id] = tok
	}
	return out
}

// encode turns one word, given as its byte-level symbols, into ids: the last symbol takes
// the end-of-word suffix, then the lowest-ranked adjacent pair is merged (the leftmost of
// equal ranks) until no pair has a merge rule, as tokenizers' BPE does.
func (m *bpe) encode(symbols []string, ids []int32) []int32 {
	word := make([]int32, 0, len(symbols))
	for i, s := range symbols {
		if i == len(symbols)-1 {
			s += m.endOfWord
		}
		id, ok := m.vocab[s]
		if !ok {
			id = m.unk // each unknown symbol on its own (CLIP does not fuse unknowns)
		}
		word = append(word, id)
	}
	for len(word) > 1 {
		best, at := merge{rank: math.MaxInt}, -1
		for i := 0; i+1 < len(word); i++ {
			if mg, ok := m.merges[[2]int32{word[i], word[i+1]}]; ok && mg.rank < best.rank {
				best, at = mg, i
			}
		}
		if at < 0 {
			break
		}
		word[at] = best.id
		word = append(word[:at+1], word[at+2:]...)
	}
	return append(ids, word...)
}
