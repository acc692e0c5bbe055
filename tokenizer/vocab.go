package tokenizer

import (
	"fmt"

	"github.com/edged/edged/hf"
)

// vocabulary maps tokens to ids and back, over the model's vocabulary and the added tokens.
type vocabulary struct {
	ids    map[string]int32
	tokens []string // by id; "" where no token has the id
}

func newVocabulary(model map[string]int32, added []hf.AddedToken) (*vocabulary, error) {
	v := &vocabulary{ids: make(map[string]int32, len(model)+len(added))}
	n := int32(0)
	for tok, id := range model {
		if id < 0 {
			return nil, fmt.Errorf("token %q has negative id %d", tok, id)
		}
		v.ids[tok] = id
		n = max(n, id+1)
	}
	for _, t := range added {
		if t.ID < 0 || t.ID > 1<<30 {
			return nil, fmt.Errorf("added token %q has id %d", t.Content, t.ID)
		}
		v.ids[t.Content] = int32(t.ID)
		n = max(n, int32(t.ID)+1)
	}
	v.tokens = make([]string, n)
	for tok, id := range v.ids {
		v.tokens[id] = tok
	}
	// An id may be claimed twice (an added token that is also in the model's vocabulary
	// with its own id); the added token's content is what decodes.
	for _, t := range added {
		v.tokens[t.ID] = t.Content
	}
	return v, nil
}

// token is the token of id, or false for an id no token has.
func (v *vocabulary) token(id int32) (string, bool) {
	if id < 0 || int(id) >= len(v.tokens) || v.tokens[id] == "" {
		return "", false
	}
	return v.tokens[id], true
}

// size is one more than the largest id.
func (v *vocabulary) size() int { return len(v.tokens) }
