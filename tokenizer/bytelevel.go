package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// byteToRune is GPT-2's bytes_to_unicode: each byte maps to a printable character, so
// that byte-level BPE vocabularies are text. Printable Latin-1 bytes map to themselves,
// the rest (controls, space, 0x7F-0xA0, 0xAD) to U+0100 onwards in byte order.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var table [256]rune
	back := make(map[rune]byte, 256)
	next := rune(256)
	for b := 0; b < 256; b++ {
		printable := b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF
		if printable {
			table[b] = rune(b)
		} else {
			table[b] = next
			next++
		}
		back[table[b]] = byte(b)
	}
	return table, back
}()

// byteLevel maps a piece's UTF-8 bytes to their characters.
func byteLevel(piece string) []string {
	out := make([]string, len(piece))
	for i := 0; i < len(piece); i++ {
		out[i] = string(byteToRune[piece[i]])
	}
	return out
}

// byteLevelDecode is tokenizers' ByteLevel decoder: every token's characters back to
// bytes (a token with a character outside the table, such as an added token, keeps its
// own UTF-8 bytes), then the bytes read as UTF-8 with invalid sequences replaced by U+FFFD.
func byteLevelDecode(tokens []string) string {
	var buf []byte
	for _, tok := range tokens {
		start := len(buf)
		for _, r := range tok {
			b, ok := runeToByte[r]
			if !ok {
				buf = append(buf[:start], tok...)
				break
			}
			buf = append(buf, b)
		}
	}
	return strings.ToValidUTF8(string(buf), "\uFFFD")
}

// clipWords splits normalized text as CLIP's pre-tokenizer regex does,
//
//	<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// keeping the matches and dropping what lies between them (whitespace). The special-token
// alternatives never match here: special tokens are split off before normalization. The
// byte-level step that follows in tokenizer.json applies GPT-2's regex to each piece, which
// leaves these pieces whole, so it needs no code.
func clipWords(s string) []string {
	var words []string
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(r):
			i += size
		case r == '\'' && contraction(s[i+1:]) > 0:
			n := 1 + contraction(s[i+1:])
			words = append(words, s[i:i+n])
			i += n
		case unicode.IsLetter(r):
			j := i + size
			for j < len(s) {
				r, n := utf8.DecodeRuneInString(s[j:])
				if !unicode.IsLetter(r) {
					break
				}
				j += n
			}
			words = append(words, s[i:j])
			i = j
		case unicode.IsNumber(r):
			words = append(words, s[i:i+size]) // one digit at a time
			i += size
		default:
			j := i + size
			for j < len(s) {
				r, n := utf8.DecodeRuneInString(s[j:])
				if unicode.IsSpace(r) || unicode.IsLetter(r) || unicode.IsNumber(r) {
					break
				}
				j += n
			}
			words = append(words, s[i:j])
			i = j
		}
	}
	return words
}

// contraction is the length of the contraction suffix (s, t, re, ve, m, ll, d) at the start
// of rest, in the order the regex tries them, or 0.
func contraction(rest string) int {
	for _, c := range []string{"s", "t", "re", "ve", "m", "ll", "d"} {
		if strings.HasPrefix(rest, c) {
			return len(c)
		}
	}
	return 0
}

// bertWords is tokenizers' BertPreTokenizer: split on whitespace (dropped), then make
// every punctuation character a word of its own.
func bertWords(s string) []string {
	var words []string
	start := -1
	for i, r := range s {
		switch {
		case unicode.IsSpace(r):
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
		case isBertPunct(r):
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
			words = append(words, string(r))
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		words = append(words, s[start:])
	}
	return words
}

// isBertPunct is BERT's punctuation: every ASCII symbol (including $+<=>^`|~, which Unicode
// calls symbols) and Unicode's punctuation categories.
func isBertPunct(r rune) bool {
	if r < 128 {
		return r >= '!' && r <= '/' || r >= ':' && r <= '@' || r >= '[' && r <= '`' || r >= '{' && r <= '~'
	}
	return unicode.IsPunct(r)
}
