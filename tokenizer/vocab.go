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

// checkIDs refuses ids outside [0, hf.MaxVocab): tables indexed by id are as long as the
// largest id, so one id of 2^31 would ask for gigabytes.
func checkIDs(model map[string]int32) error {
	for tok, id := range model {
		if id < 0 || id >= hf.MaxVocab {
			return fmt.Errorf("token %q has id %d, outside 0 to %d", tok, id, hf.MaxVocab-1)
		}
	}
	return nil
}

func newVocabulary(model map[string]int32, added []hf.AddedToken) (*vocabulary, error) {
	if err := checkIDs(model); err != nil {
		return nil, err
	}
	v := &vocabulary{ids: make(map[string]int32, len(model)+len(added))}
	n := int32(0)
	for tok, id := range model {
		v.ids[tok] = id
		n = max(n, id+1)
	}
	for _, t := range added {
		if t.ID < 0 || t.ID >= hf.MaxVocab {
			return nil, fmt.Errorf("added token %q has id %d, outside 0 to %d", t.Content, t.ID, hf.MaxVocab-1)
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

// checkSpecial says which special token of the template an id is when no token has it.
func (v *vocabulary) checkSpecial(what string, id int32) error {
	if _, ok := v.token(id); !ok {
		return fmt.Errorf("%s token id %d is not in the vocabulary (%d ids)", what, id, v.size())
	}
	return nil
}

// size is one more than the largest id.
func (v *vocabulary) size() int { return len(v.tokens) }
