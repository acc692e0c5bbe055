package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/edged/edged/tokenizer"
)

// BLIP's BERT tokenizer from a checkpoint folder's tokenizer.json: [CLS], the words, [SEP].
func ExampleLoadBERT() {
	tok, err := tokenizer.LoadBERT("../models/shapes/blip_caption")
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("A red circle.")
	fmt.Println(len(ids), tok.Decode(ids))
	// Output: 6 a red circle.
}

// CLIP's byte-level BPE, padded to the context length as CLIPTokenizer pads.
func ExampleLoadCLIP() {
	tok, err := tokenizer.LoadCLIP("../models/shapes/clip")
	if err != nil {
		log.Fatal(err)
	}
	ids, mask := tok.Encode("a photo of a red circle")
	n := 0
	for _, m := range mask {
		n += int(m)
	}
	fmt.Println(len(ids) == tok.ContextLength(), n)
	// Output: true 8
}
