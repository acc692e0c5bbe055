package tokenizer

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// A normalizer rewrites text before it is split into words (tokenizers' "normalizer").
type normalizer func(string) string

// chain applies normalizers in order.
func chain(steps ...normalizer) normalizer {
	return func(s string) string {
		for _, step := range steps {
			s = step(s)
		}
		return s
	}
}

func nfc(s string) string  { return norm.NFC.String(s) }
func nfd(s string) string  { return norm.NFD.String(s) }
func nfkc(s string) string { return norm.NFKC.String(s) }
func nfkd(s string) string { return norm.NFKD.String(s) }

// lowercase maps each character to lower case on its own, as Rust's char::to_lowercase
// does for the tokenizers library: İ becomes "i̇" (the one unconditional multi-character
// mapping in Unicode) and Σ is always σ (there is no final-sigma context per character).
func lowercase(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == 'İ' {
			b.WriteString("i\u0307")
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// collapseSpaces replaces every run of whitespace with one space (CLIP's Replace(\s+, " ")).
func collapseSpaces(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	inSpace := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			if !inSpace {
				b.WriteByte(' ')
			}
			inSpace = true
			continue
		}
		inSpace = false
		b.WriteRune(r)
	}
	return b.String()
}

// stripAccents decomposes (NFD) and drops non-spacing marks, as BertNormalizer does. The
// text stays decomposed, as there.
func stripAccents(s string) string { return dropMarks(nfd(s)) }

// dropMarks removes non-spacing marks (tokenizers' StripAccents normalizer).
func dropMarks(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, s)
}

// bertNormalizer is tokenizers' BertNormalizer: clean the text, space out CJK characters,
// strip accents (by default when lower-casing), lower-case.
func bertNormalizer(cleanText, chineseChars, lower bool, strip *bool) normalizer {
	var steps []normalizer
	if cleanText {
		steps = append(steps, cleanBertText)
	}
	if chineseChars {
		steps = append(steps, spaceCJK)
	}
	if (strip == nil && lower) || (strip != nil && *strip) {
		steps = append(steps, stripAccents)
	}
	if lower {
		steps = append(steps, lowercase)
	}
	return chain(steps...)
}

// cleanBertText drops NUL, U+FFFD and control characters and turns whitespace into spaces.
func cleanBertText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == 0 || r == unicode.ReplacementChar || isBertControl(r):
			return -1
		case isBertSpace(r):
			return ' '
		}
		return r
	}, s)
}

// isBertSpace counts tab, newline and carriage return as whitespace, as BERT does.
func isBertSpace(r rune) bool { return r == '\t' || r == '\n' || r == '\r' || unicode.IsSpace(r) }

// isBertControl is Unicode's "other" category (Cc, Cf, Cs, Co and unassigned) minus tab,
// newline and carriage return, which BERT treats as whitespace.
func isBertControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Cs, unicode.Co) {
		return true
	}
	// Unassigned (Cn): in no category at all.
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// spaceCJK puts spaces around CJK ideographs so that each becomes a word.
func spaceCJK(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if isCJK(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isCJK is the CJK Unified Ideographs blocks BERT treats as words of their own (not
// Hiragana, Katakana or Hangul, which are written with spaces or split otherwise).
func isCJK(r rune) bool {
	return r >= 0x4E00 && r <= 0x9FFF || r >= 0x3400 && r <= 0x4DBF ||
		r >= 0x20000 && r <= 0x2A6DF || r >= 0x2A700 && r <= 0x2B73F ||
		r >= 0x2B740 && r <= 0x2B81F || r >= 0x2B920 && r <= 0x2CEAF ||
		r >= 0xF900 && r <= 0xFAFF || r >= 0x2F800 && r <= 0x2FA1F
}
