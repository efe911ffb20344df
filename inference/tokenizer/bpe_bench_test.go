package tokenizer

import (
	"strings"
	"testing"
)

// BenchmarkBPEEncode tokenizes English prose with the Llama 3 pre-tokenizer.
func BenchmarkBPEEncode(b *testing.B) {
	tok := loadBPE(b, bpeSpecs[0], buildBPEVocab(b))
	text := strings.Repeat("And God said, Let there be light: and there was light. I'm sure it's 2024!\n", 64)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text, true)
	}
}

// BenchmarkBPEEncodeRuns tokenizes long single-class runs, the inputs a quadratic step would show on.
func BenchmarkBPEEncodeRuns(b *testing.B) {
	toks := bpeFuzzTokenizers(b)
	for _, run := range []string{"a", " ", "1", "😀", "'s", ".", "\n "} {
		text := strings.Repeat(run, 16<<10/len(run))
		b.Run(strings.NewReplacer(" ", "space", "\n", "nl").Replace(run), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				for _, tok := range toks {
					tok.Encode(text, false)
				}
			}
		})
	}
}
