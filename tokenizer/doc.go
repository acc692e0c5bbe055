// Package tokenizer turns text into the token ids CLIP and BLIP take, and BLIP's output ids
// back into text, exactly as Hugging Face transformers (5.x, whose tokenizers all run on the
// Rust "tokenizers" library) does:
//
//   - CLIP: byte-level BPE (CLIPTokenizer). NFC, whitespace runs to one space and lower
//     case; CLIP's pre-tokenizer regex; bytes mapped to printable characters; merges by
//     rank with "</w>" ending each word; <|startoftext|> … <|endoftext|>; padded with the
//     pad token to the context length, with an attention mask.
//   - BERT: WordPiece (BertTokenizer, used by BLIP). Text cleanup, CJK characters split,
//     accent stripping and lower case as the checkpoint says; whitespace and punctuation
//     split; greedy longest-prefix word pieces with "##"; [CLS] … [SEP]; added tokens such
//     as BLIP's [DEC] and [ENC]. Decode joins word pieces as decode(ids,
//     skip_special_tokens=True) does.
//
// Both load from a checkpoint folder's tokenizer.json (the format current checkpoints ship)
// or from the older files (vocab.json + merges.txt, vocab.txt), with tokenizer_config.json
// when present. Where transformers' old Python ("slow") tokenizers and the tokenizers
// library differ, this package follows the tokenizers library, which transformers 5 uses
// for both.
//
// A loaded tokenizer is immutable and safe for concurrent use.
package tokenizer
