package tokenizer

import (
	"container/heap"
	"fmt"
	"slices"
	"strings"
)

// This file is llama.cpp's byte-level BPE tokenizer (tokenizer.ggml.model "gpt2", llm_tokenizer_bpe):
// special tokens are partitioned out first, each text fragment is pre-tokenized into words by the model's
// regexes (bpe_split.go), each word is written in GPT-2's byte-to-unicode alphabet and merged by rank,
// lowest rank first and leftmost on ties.

// Tokenizer models (tokenizer.ggml.model).
const (
	ModelSPM = "llama"
	ModelBPE = "gpt2"
)

// preTokenizer is one supported tokenizer.ggml.pre family.
type preTokenizer struct {
	name      string
	splitters []splitter
	// ignoreMerges: a word that is itself a token is not merged (llama.cpp sets it for Llama 3).
	ignoreMerges bool
	// addBOS is the default of tokenizer.ggml.add_bos_token.
	addBOS bool
	// cleanSpaces is clean_up_tokenization_spaces, applied by Decode.
	cleanSpaces bool
}

var (
	preDefault = preTokenizer{name: "default", cleanSpaces: true, splitters: []splitter{
		func(s *segment, out []int) []int { return splitRuns(s, out, defaultPunct) },
		splitGPT2,
		func(s *segment, out []int) []int { return splitRuns(s, out, defaultNumber) },
		splitDigitTriples,
	}}
	preLlama3 = preTokenizer{name: "llama3", ignoreMerges: true, addBOS: true, cleanSpaces: true, splitters: []splitter{
		func(s *segment, out []int) []int { return splitLlama3(s, out, 3) },
	}}
	preGPT2  = preTokenizer{name: "gpt-2", cleanSpaces: true, splitters: []splitter{splitGPT2}}
	preQwen2 = preTokenizer{name: "qwen2", splitters: []splitter{
		func(s *segment, out []int) []int { return splitLlama3(s, out, 1) },
	}}
	preStableLM2 = preTokenizer{name: "stablelm2", cleanSpaces: true, splitters: preQwen2.splitters}
)

// preTokenizers maps tokenizer.ggml.pre to its pre-tokenizer, with llama.cpp's aliases (those with the same
// regexes and flags). Left out on purpose: jina-v2-es/-de/-code and modern-bert, for which llama.cpp also
// gives <mask>/[MASK] an lstrip attribute, and every pre-tokenizer with other regexes (deepseek, falcon,
// starcoder, command-r, refact, qwen35, ...).
var preTokenizers = map[string]*preTokenizer{
	"default": &preDefault,
	// llama.cpp treats a missing tokenizer.ggml.pre as "default" (with a loud warning).
	"": &preDefault,

	"llama3": &preLlama3, "llama-v3": &preLlama3, "llama-bpe": &preLlama3, "falcon3": &preLlama3,
	"falcon-h1": &preLlama3, "pixtral": &preLlama3, "midm-2.0": &preLlama3, "lfm2": &preLlama3,
	"jina-v5-nano": &preLlama3,

	"gpt-2": &preGPT2, "phi-2": &preGPT2, "jina-es": &preGPT2, "jina-de": &preGPT2, "gigachat": &preGPT2,
	"a.x-4.0": &preGPT2, "mellum": &preGPT2, "mpt": &preGPT2, "olmo": &preGPT2,

	"qwen2": &preQwen2, "deepseek-r1-qwen": &preQwen2, "kormo": &preQwen2, "f2llmv2": &preQwen2,
	"stablelm2": &preStableLM2,
}

// SupportedPreTokenizers lists the accepted tokenizer.ggml.pre values, sorted.
func SupportedPreTokenizers() []string {
	var names []string
	for n := range preTokenizers {
		if n != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// defaultAddBOS is llama.cpp's default for tokenizer.ggml.add_bos_token in a BPE model: true for the
// Llama 3 family of pre-tokenizers, false for the others.
func defaultAddBOS(pre string) bool {
	p, ok := preTokenizers[pre]
	return ok && p.addBOS
}

// bpePair is a merge: two adjacent symbols, in the byte-to-unicode alphabet.
type bpePair struct{ left, right string }

// bpeModel is the BPE part of a Tokenizer.
type bpeModel struct {
	pre *preTokenizer
	// ranks[pair] is the index of the first merge line naming the pair (lower merges first).
	ranks map[bpePair]int32
}

func newBPE(cfg Config) (*bpeModel, error) {
	pre, ok := preTokenizers[cfg.Pre]
	if !ok {
		return nil, fmt.Errorf("%w: tokenizer.ggml.pre %q is not supported (supported: %s)", ErrInvalid, cfg.Pre, strings.Join(SupportedPreTokenizers(), ", "))
	}
	m := &bpeModel{pre: pre, ranks: make(map[bpePair]int32, len(cfg.Merges))}
	for i, line := range cfg.Merges {
		// As llama.cpp: split at the first space after the first byte; a line without one is the pair ("", "").
		var p bpePair
		if j := strings.IndexByte(line[min(1, len(line)):], ' '); j >= 0 {
			j += min(1, len(line))
			p = bpePair{line[:j], line[j+1:]}
		}
		if _, dup := m.ranks[p]; !dup {
			m.ranks[p] = int32(i)
		}
	}
	return m, nil
}

// byteToRune is GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for themselves, the other 68
// bytes for U+0100 onwards in byte order. runeToByte is its inverse.
var byteToRune, runeToByte = func() ([256]string, map[string]byte) {
	var fwd [256]string
	inv := make(map[string]byte, 256)
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			r = rune(256 + n)
			n++
		}
		fwd[b] = string(r)
		inv[string(r)] = byte(b)
	}
	return fwd, inv
}()

// byteEncode writes raw bytes in the byte-to-unicode alphabet.
func byteEncode(b []byte) string {
	var sb strings.Builder
	sb.Grow(2 * len(b))
	for _, c := range b {
		sb.WriteString(byteToRune[c])
	}
	return sb.String()
}

// bpeDecodeText is llama_decode_text: a normal token's text back to raw bytes. A code point outside the
// byte-to-unicode alphabet is spelled out the way llama.cpp does it.
func bpeDecodeText(text string) string {
	var sb strings.Builder
	for _, c := range toCodepoints(text) {
		u := string(appendCodepoint(nil, c))
		if b, ok := runeToByte[u]; ok {
			sb.WriteByte(b)
			continue
		}
		sb.WriteString("[UNK_BYTE_0x")
		for i := 0; i < len(u); i++ {
			fmt.Fprintf(&sb, "%02x", u[i])
		}
		sb.WriteString(text + "]")
	}
	return sb.String()
}

// bpeBigram is a candidate merge of symbols left and right, which together are size bytes long.
type bpeBigram struct {
	left, right int
	rank        int32
	size        int
}

// bpeQueue pops the lowest rank first, then the leftmost pair.
type bpeQueue []bpeBigram

func (q bpeQueue) Len() int { return len(q) }
func (q bpeQueue) Less(i, j int) bool {
	if q[i].rank != q[j].rank {
		return q[i].rank < q[j].rank
	}
	return q[i].left < q[j].left
}
func (q bpeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *bpeQueue) Push(x any)   { *q = append(*q, x.(bpeBigram)) }
func (q *bpeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// bpeEncode appends the tokens of one text fragment (no special tokens in it) to out.
func (t *Tokenizer) bpeEncode(text string, out []int32) []int32 {
	var (
		symbols []symbol
		queue   bpeQueue
	)
	for _, raw := range pretokenize(text, t.bpe.pre.splitters) {
		word := byteEncode(raw)
		if t.bpe.pre.ignoreMerges {
			if id, ok := t.toID[word]; ok {
				out = append(out, id)
				continue
			}
		}
		symbols = symbols[:0]
		for offs := 0; offs < len(word); {
			n := min(utf8Len(word[offs]), len(word)-offs)
			next := len(symbols) + 1
			if offs+n == len(word) {
				next = -1
			}
			symbols = append(symbols, symbol{start: offs, n: n, prev: len(symbols) - 1, next: next})
			offs += n
		}
		queue = queue[:0]
		addBigram := func(left, right int) {
			if left == -1 || right == -1 {
				return
			}
			l, r := symbols[left], symbols[right]
			rank, ok := t.bpe.ranks[bpePair{word[l.start : l.start+l.n], word[r.start : r.start+r.n]}]
			if !ok {
				return
			}
			heap.Push(&queue, bpeBigram{left: left, right: right, rank: rank, size: l.n + r.n})
		}
		for i := 1; i < len(symbols); i++ {
			addBigram(i-1, i)
		}
		for queue.Len() > 0 {
			bg := heap.Pop(&queue).(bpeBigram)
			left, right := &symbols[bg.left], &symbols[bg.right]
			// Skip pairs whose symbols changed since the pair was queued (llama.cpp compares the texts;
			// symbols only grow to the right, so comparing lengths is the same test).
			if left.n == 0 || right.n == 0 || left.n+right.n != bg.size {
				continue
			}
			left.n += right.n
			right.n = 0
			left.next = right.next
			if right.next >= 0 {
				symbols[right.next].prev = bg.left
			}
			addBigram(left.prev, bg.left)
			addBigram(bg.left, left.next)
		}
		for _, sym := range symbols {
			if sym.n == 0 {
				continue
			}
			s := word[sym.start : sym.start+sym.n]
			if id, ok := t.toID[s]; ok {
				out = append(out, id)
				continue
			}
			// A symbol that is no token falls back to the tokens spelled as its single raw bytes (as
			// llama.cpp does; in a byte-level vocabulary those exist only for printable ASCII).
			for i := 0; i < len(s); i++ {
				if id, ok := t.toID[s[i:i+1]]; ok {
					out = append(out, id)
				}
			}
		}
	}
	return out
}

// bpePiece is token_to_piece(special=false) for a BPE vocabulary.
func (t *Tokenizer) bpePiece(id int32) string {
	switch t.types[id] {
	case Normal:
		return bpeDecodeText(t.tokens[id])
	case UserDefined:
		return t.tokens[id]
	case Byte:
		return string([]byte{byte(t.tokByte[id])})
	}
	return ""
}

// cleanSpaces is llama.cpp's clean_up_tokenization_spaces on detokenized text, three passes done in
// place exactly as llama_detokenize does them: drop the space before ? ! . , ; turn " ' " into "'";
// drop the space before 's 'm 're 've.
func cleanSpaces(b []byte) []byte {
	total := len(b)
	// Pass 1: " ?", " !", " .", " ,".
	n := total
	total = min(total, 1)
	for i := 1; i < n; i++ {
		x := b[i]
		if b[i-1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',') {
			total--
		}
		b[total] = x
		total++
	}
	// Pass 2: " ' ".
	n = total
	total = min(total, 1)
	for i := 1; i < n; i++ {
		x := b[i]
		if x == '\'' && i+1 < n && b[i-1] == ' ' && b[i+1] == ' ' {
			total--
			i++
			b[i] = 0
		}
		b[total] = x
		total++
	}
	// Pass 3: " 's", " 'm", " 're", " 've".
	n = total
	total = min(total, 1)
	for i := 1; i < n; i++ {
		x := b[i]
		if b[i-1] == ' ' && x == '\'' && i+1 < n {
			x1 := b[i+1]
			switch {
			case x1 == 's' || x1 == 'm':
				total--
			case x1 == 't' || x1 == 'd':
			case i+2 < n && ((x1 == 'r' && b[i+2] == 'e') || (x1 == 'v' && b[i+2] == 'e')):
				total--
			}
		}
		b[total] = x
		total++
	}
	return b[:total]
}
