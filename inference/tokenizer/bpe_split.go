package tokenizer

import (
	"unicode"
)

// This file is llama.cpp's pre-tokenizer (unicode.cpp, unicode_regex_split): text is split into words
// over code points by the model's regexes, each word is re-encoded as UTF-8 and then mapped byte by byte
// through GPT-2's byte-to-unicode table. The regexes are implemented by hand, the way llama.cpp's own fast
// paths walk the code points, so every branch below mirrors one alternative of the regex it names.

// cptFlags is what the splitters need to know about a code point, as llama.cpp's unicode_cpt_flags.
type cptFlags uint8

const (
	// fPresent marks a position inside the current segment: llama.cpp gives positions outside it
	// all-zero flags, and every code point inside some non-zero flag (at least "undefined").
	fPresent    cptFlags = 1 << iota
	fLetter              // \p{L}
	fNumber              // \p{N}
	fWhitespace          // \s (llama.cpp's list, which equals Unicode White_Space)
	fPunct               // \p{P}
	fSymbol              // \p{S}
	fMark                // \p{M}
)

// unicode151Letters and unicode151Symbols are the code points Unicode 15.1 assigned (CJK Extension I and
// the new ideographic description characters): llama.cpp's tables are Unicode 15.1, Go's are 15.0.
var (
	unicode151Letters = [2]rune{0x2EBF0, 0x2EE5D}
	unicode151Symbols = [...]rune{0x2FFC, 0x2FFD, 0x2FFE, 0x2FFF, 0x31EF}
)

// flagsOf classifies a code point (always with fPresent).
func flagsOf(c rune) cptFlags {
	f := fPresent
	if c < 0x80 {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			return f | fLetter
		case c >= '0' && c <= '9':
			return f | fNumber
		case c == ' ', c >= '\t' && c <= '\r':
			return f | fWhitespace
		case c < 0x20 || c == 0x7f:
			return f
		case c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' || c == '`' || c == '|' || c == '~':
			return f | fSymbol
		}
		return f | fPunct
	}
	if isSpace(c) {
		f |= fWhitespace
	}
	switch {
	case c > unicode.MaxRune:
	case unicode.IsLetter(c) || (c >= unicode151Letters[0] && c <= unicode151Letters[1]):
		f |= fLetter
	case unicode.IsNumber(c):
		f |= fNumber
	case unicode.IsPunct(c):
		f |= fPunct
	case unicode.IsSymbol(c):
		f |= fSymbol
	case unicode.IsMark(c):
		f |= fMark
	default:
		for _, s := range unicode151Symbols {
			if c == s {
				f |= fSymbol
			}
		}
	}
	return f
}

// isSpace is llama.cpp's whitespace set (unicode_set_whitespace).
func isSpace(c rune) bool {
	switch c {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return c >= 0x2000 && c <= 0x200A
}

// toCodepoints decodes text as llama.cpp's unicode_cpts_from_utf8 does: lead bytes decide the length,
// only continuation bytes are checked (overlong forms and surrogates pass), and a bad sequence becomes
// U+FFFD while the decoder moves on by one byte.
func toCodepoints(s string) []rune {
	out := make([]rune, 0, len(s))
	for i := 0; i < len(s); {
		b := s[i]
		cont := func(k int) bool { return i+k < len(s) && s[i+k]&0xC0 == 0x80 }
		switch {
		case b < 0x80:
			out = append(out, rune(b))
			i++
		case b&0xE0 == 0xC0 && cont(1):
			out = append(out, rune(b&0x1F)<<6|rune(s[i+1]&0x3F))
			i += 2
		case b&0xF0 == 0xE0 && cont(1) && cont(2):
			out = append(out, rune(b&0x0F)<<12|rune(s[i+1]&0x3F)<<6|rune(s[i+2]&0x3F))
			i += 3
		case b&0xF8 == 0xF0 && cont(1) && cont(2) && cont(3):
			c := rune(b&0x07)<<18 | rune(s[i+1]&0x3F)<<12 | rune(s[i+2]&0x3F)<<6 | rune(s[i+3]&0x3F)
			if c > unicode.MaxRune {
				// llama.cpp throws out of llama_tokenize here; the replacement character keeps us total.
				c = 0xFFFD
			}
			out = append(out, c)
			i += 4
		default:
			out = append(out, 0xFFFD)
			i++
		}
	}
	return out
}

// appendCodepoint is unicode_cpt_to_utf8: plain UTF-8, surrogates included (Go's encoder would refuse them).
func appendCodepoint(b []byte, c rune) []byte {
	switch {
	case c < 0x80:
		return append(b, byte(c))
	case c < 0x800:
		return append(b, 0xC0|byte(c>>6), 0x80|byte(c)&0x3F)
	case c < 0x10000:
		return append(b, 0xE0|byte(c>>12), 0x80|byte(c>>6)&0x3F, 0x80|byte(c)&0x3F)
	}
	return append(b, 0xF0|byte(c>>18), 0x80|byte(c>>12)&0x3F, 0x80|byte(c>>6)&0x3F, 0x80|byte(c)&0x3F)
}

// segment is a run of code points [start, end) that a splitter works inside; splitters never look past it.
type segment struct {
	cpts       []rune
	flags      []cptFlags
	start, end int
}

func (s *segment) cpt(pos int) rune {
	if pos >= s.start && pos < s.end {
		return s.cpts[pos]
	}
	return -1
}

func (s *segment) flag(pos int) cptFlags {
	if pos >= s.start && pos < s.end {
		return s.flags[pos]
	}
	return 0
}

// asciiLower lowercases for the contraction check; no non-ASCII code point lowercases to s, t, m, d, r,
// e, v or l, so ASCII is all llama.cpp's unicode_tolower can change here.
func asciiLower(c rune) rune {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// contraction is the length of 's|'t|'re|'ve|'m|'ll|'d at pos (0 if none), optionally case-insensitive.
func (s *segment) contraction(pos int, fold bool) int {
	if s.cpt(pos) != '\'' || pos+1 >= s.end {
		return 0
	}
	lower := func(c rune) rune {
		if fold {
			return asciiLower(c)
		}
		return c
	}
	switch next := lower(s.cpt(pos + 1)); next {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v', 'l':
		if pos+2 < s.end {
			nn := lower(s.cpt(pos + 2))
			if (next == 'l' && nn == 'l') || (next != 'l' && nn == 'e') {
				return 3
			}
		}
	}
	return 0
}

// wordCuts collects word lengths (code points) from cuts at increasing positions of a segment.
type wordCuts struct {
	out  []int
	prev int // where the current word starts
}

// cut ends the current word at end (appending nothing for an empty word) and returns its length.
func (w *wordCuts) cut(end int) int {
	n := end - w.prev
	if n > 0 {
		w.out = append(w.out, n)
	}
	w.prev = end
	return n
}

// splitGPT2 splits by 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (unicode_regex_split_custom_gpt2), appending word lengths in code points.
func splitGPT2(s *segment, out []int) []int {
	w := wordCuts{out: out, prev: s.start}
	for pos := s.start; pos < s.end; {
		c, f := s.cpt(pos), s.flag(pos)
		if n := s.contraction(pos, false); n > 0 {
			pos += w.cut(pos + n)
			continue
		}
		f2 := f
		if c == ' ' {
			f2 = s.flag(pos + 1)
		}
		space := 0
		if c == ' ' {
			space = 1
		}
		switch {
		case f2&fLetter != 0: // ?\p{L}+
			pos += space
			for s.flag(pos)&fLetter != 0 {
				pos++
			}
			w.cut(pos)
			continue
		case f2&fNumber != 0: // ?\p{N}+
			pos += space
			for s.flag(pos)&fNumber != 0 {
				pos++
			}
			w.cut(pos)
			continue
		case f2&(fWhitespace|fLetter|fNumber) == 0 && f2 != 0: // ?[^\s\p{L}\p{N}]+
			pos += space
			for g := s.flag(pos); g&(fWhitespace|fLetter|fNumber) == 0 && g != 0; g = s.flag(pos) {
				pos++
			}
			w.cut(pos)
			continue
		}
		nws := 0
		for s.flag(pos+nws)&fWhitespace != 0 {
			nws++
		}
		switch {
		case nws > 1 && s.cpt(pos+nws) != -1: // \s+(?!\S): leave the last space to the next word
			pos += nws - 1
			w.cut(pos)
		case nws > 0: // \s+
			pos += nws
			w.cut(pos)
		default:
			pos++
			w.cut(pos)
		}
	}
	return w.out
}

// splitLlama3 splits by (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ — llama3 with maxDigits 3, qwen2 with 1
// (unicode_regex_split_custom_llama3 and _qwen2).
func splitLlama3(s *segment, out []int, maxDigits int) []int {
	w := wordCuts{out: out, prev: s.start}
	for pos := s.start; pos < s.end; {
		c, f := s.cpt(pos), s.flag(pos)
		if n := s.contraction(pos, true); n > 0 {
			pos += w.cut(pos + n)
			continue
		}
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if !(c == '\r' || c == '\n' || f&fNumber != 0) && (f&fLetter != 0 || s.flag(pos+1)&fLetter != 0) {
			pos++
			for s.flag(pos)&fLetter != 0 {
				pos++
			}
			w.cut(pos)
			continue
		}
		// \p{N}{1,maxDigits}
		if f&fNumber != 0 {
			ini := pos
			for s.flag(pos)&fNumber != 0 {
				pos++
				if pos-ini >= maxDigits {
					w.cut(pos)
					ini = pos
				}
			}
			w.cut(pos)
			continue
		}
		// ?[^\s\p{L}\p{N}]+[\r\n]*
		f2 := f
		if c == ' ' {
			f2 = s.flag(pos + 1)
		}
		if f2&(fWhitespace|fLetter|fNumber) == 0 && f != 0 {
			if c == ' ' {
				pos++
			}
			for f2&(fWhitespace|fLetter|fNumber) == 0 && f2 != 0 {
				pos++
				f2 = s.flag(pos)
			}
			for c2 := s.cpt(pos); c2 == '\r' || c2 == '\n'; c2 = s.cpt(pos) {
				pos++
			}
			w.cut(pos)
			continue
		}
		nws, lastNL := 0, 0
		for s.flag(pos+nws)&fWhitespace != 0 {
			if c2 := s.cpt(pos + nws); c2 == '\r' || c2 == '\n' {
				lastNL = pos + nws + 1
			}
			nws++
		}
		switch {
		case lastNL > 0: // \s*[\r\n]+
			pos = lastNL
			w.cut(pos)
		case nws > 1 && s.cpt(pos+nws) != -1: // \s+(?!\S)
			pos += nws - 1
			w.cut(pos)
		case nws > 0: // \s+
			pos += nws
			w.cut(pos)
		default:
			pos++
			w.cut(pos)
		}
	}
	return w.out
}

// splitRuns isolates maximal runs of code points for which in is true, keeping the text between runs as
// words too: std::regex_iterator over a pattern "[set]+" as llama.cpp's unicode_regex_split_stl uses it.
func splitRuns(s *segment, out []int, in func(c rune, f cptFlags) bool) []int {
	w := wordCuts{out: out, prev: s.start}
	for pos := s.start; pos < s.end; {
		if !in(s.cpts[pos], s.flags[pos]) {
			pos++
			continue
		}
		w.cut(pos)
		for pos < s.end && in(s.cpts[pos], s.flags[pos]) {
			pos++
		}
		w.cut(pos)
	}
	w.cut(s.end)
	return w.out
}

// splitDigitTriples isolates [0-9][0-9][0-9] matches, leftmost first and non-overlapping, keeping the rest.
func splitDigitTriples(s *segment, out []int) []int {
	w := wordCuts{out: out, prev: s.start}
	digit := func(p int) bool { return p < s.end && s.cpts[p] >= '0' && s.cpts[p] <= '9' }
	for pos := s.start; pos < s.end; {
		if !(digit(pos) && digit(pos+1) && digit(pos+2)) {
			pos++
			continue
		}
		w.cut(pos)
		pos += 3
		w.cut(pos)
	}
	w.cut(s.end)
	return w.out
}

// defaultPunct is [\p{P}\$\+<=>\^~\|] as llama.cpp runs it on its "collapsed" text: every ASCII
// punctuation and symbol character but '`', and non-ASCII code points whose category is P (non-ASCII
// whitespace is collapsed to \v first, so it never matches).
func defaultPunct(c rune, f cptFlags) bool {
	if c < 0x80 {
		return c != '`' && f&(fPunct|fSymbol) != 0
	}
	return f&fWhitespace == 0 && f&fPunct != 0
}

// defaultNumber is \p{N} on the collapsed text.
func defaultNumber(c rune, f cptFlags) bool {
	return f&fNumber != 0 && (c < 0x80 || f&fWhitespace == 0)
}

// splitter refines a list of word lengths (code points) into a finer one, one regex of a pre-tokenizer.
type splitter func(s *segment, out []int) []int

// pretokenize splits text into words (raw UTF-8 after llama.cpp's re-encoding of the code points).
func pretokenize(text string, splitters []splitter) [][]byte {
	cpts := toCodepoints(text)
	if len(cpts) == 0 {
		return nil
	}
	flags := make([]cptFlags, len(cpts))
	for i, c := range cpts {
		flags[i] = flagsOf(c)
	}
	offsets := []int{len(cpts)}
	for _, split := range splitters {
		var next []int
		start := 0
		for _, n := range offsets {
			next = split(&segment{cpts: cpts, flags: flags, start: start, end: start + n}, next)
			start += n
		}
		offsets = next
	}
	words := make([][]byte, 0, len(offsets))
	start := 0
	for _, n := range offsets {
		var w []byte
		for _, c := range cpts[start : start+n] {
			w = appendCodepoint(w, c)
		}
		words = append(words, w)
		start += n
	}
	return words
}
