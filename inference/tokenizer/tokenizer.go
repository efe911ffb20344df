// Package tokenizer implements llama.cpp's SentencePiece ("llama", SPM) and byte-level BPE ("gpt2")
// tokenizers from GGUF metadata. The BPE one is described in bpe.go; the rest of this comment is SPM.
//
// Encoding follows llama.cpp exactly: special-token partitioning, the optional space prefix, " " → "▁",
// a split into UTF-8 characters, then repeated merging of the adjacent pair whose concatenation is the
// highest-scoring vocabulary token (ties: leftmost pair), with pieces that are not tokens falling back to
// <0xXX> byte tokens. For a SentencePiece model trained with --model_type=bpe this equals spm_encode.
package tokenizer

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

// Type is a token's type, numbered as llama.cpp's llama_token_type (tokenizer.ggml.token_type).
type Type int32

// Token types.
const (
	Undefined   Type = 0
	Normal      Type = 1
	Unknown     Type = 2
	Control     Type = 3
	UserDefined Type = 4
	Unused      Type = 5
	Byte        Type = 6
)

// ErrInvalid reports tokenizer metadata that cannot be used.
var ErrInvalid = errors.New("invalid tokenizer")

// spaceMarker is U+2581, SentencePiece's visible space.
const spaceMarker = "\u2581"

// maxResegmentDepth bounds recursion in resegment; a well-formed session never gets near it.
const maxResegmentDepth = 1 << 12

// Config is everything a tokenizer is built from (what GGUF stores under tokenizer.ggml.*).
type Config struct {
	Tokens []string
	// Scores and Types may be nil (all zero / all Normal), otherwise len(Tokens) long.
	Scores []float32
	Types  []Type
	// BOS, EOS, UNK ids; -1 for none.
	BOS, EOS, UNK  int32
	AddBOS, AddEOS bool
	AddSpacePrefix bool
	// Model is ModelSPM ("llama", also when empty) or ModelBPE ("gpt2").
	Model string
	// Merges are the BPE merges, "left right" in the byte-to-unicode alphabet, by rank (BPE only).
	Merges []string
	// Pre names the BPE pre-tokenizer (tokenizer.ggml.pre; BPE only).
	Pre string
	// EOG are end-of-generation ids besides EOS (EOT, EOM, ...); ids outside the vocabulary are ignored.
	EOG []int32
}

// Tokenizer is immutable after construction and safe for concurrent use.
type Tokenizer struct {
	tokens []string
	scores []float32
	// types are as llama.cpp uses them: the GGUF's, with eogTexts tokens made Control.
	types []Type
	// INVARIANT: toID[tokens[i]] is the LAST i with that text, as in llama.cpp.
	toID map[string]int32
	// byteTok[b] is the token for raw byte b in byte fallback, -1 when there is none.
	byteTok [256]int32
	// tokByte[i] is the byte value of byte token i, -1 for other tokens.
	tokByte []int16
	// pieces[i] is Piece(i), computed once.
	pieces []string
	// eog lists the end-of-generation tokens, sorted.
	eog []int32
	// special lists control, user-defined and unknown tokens by text length, longest first.
	special []int32

	bos, eos, unk  int32
	addBOS, addEOS bool
	addSpacePrefix bool
	// bpe is nil for a SentencePiece tokenizer.
	bpe *bpeModel
}

// FromGGUF builds the tokenizer described by a GGUF file's tokenizer.ggml.* metadata.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	model, ok, err := f.String("tokenizer.ggml.model")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: tokenizer.ggml.model is missing", ErrInvalid)
	}
	var cfg Config
	switch model {
	case ModelSPM:
		cfg = Config{BOS: 1, EOS: 2, UNK: 0, AddBOS: true, AddSpacePrefix: true}
	case ModelBPE:
		cfg = Config{Model: ModelBPE, BOS: 11, EOS: 11, UNK: -1}
		if cfg.Pre, _, err = f.String("tokenizer.ggml.pre"); err != nil {
			return nil, err
		}
		cfg.AddBOS = defaultAddBOS(cfg.Pre)
		arr, ok, err := f.Array("tokenizer.ggml.merges")
		if err != nil {
			return nil, err
		}
		if cfg.Merges, _ = arr.Values.([]string); !ok || (cfg.Merges == nil && arr.Len() > 0) {
			return nil, fmt.Errorf("%w: tokenizer.ggml.merges is missing or not a string array", ErrInvalid)
		}
	default:
		return nil, fmt.Errorf("%w: tokenizer.ggml.model %q is not supported (only %q, SentencePiece, and %q, byte-level BPE)", ErrInvalid, model, ModelSPM, ModelBPE)
	}
	arr, ok, err := f.Array("tokenizer.ggml.tokens")
	if err != nil {
		return nil, err
	}
	if cfg.Tokens, _ = arr.Values.([]string); !ok || cfg.Tokens == nil {
		return nil, fmt.Errorf("%w: tokenizer.ggml.tokens is missing or not a string array", ErrInvalid)
	}
	// As llama.cpp, a default special token id outside the vocabulary means none (an explicit one is an error).
	for _, id := range []*int32{&cfg.BOS, &cfg.EOS, &cfg.UNK} {
		if *id >= int32(len(cfg.Tokens)) {
			*id = -1
		}
	}
	if arr, ok, err = f.Array("tokenizer.ggml.scores"); err != nil {
		return nil, err
	} else if ok {
		if cfg.Scores, _ = arr.Values.([]float32); cfg.Scores == nil && arr.Len() > 0 {
			return nil, fmt.Errorf("%w: tokenizer.ggml.scores is %v, want float32 array", ErrInvalid, arr.Elem)
		}
	}
	if arr, ok, err = f.Array("tokenizer.ggml.token_type"); err != nil {
		return nil, err
	} else if ok {
		ts, isI32 := arr.Values.([]int32)
		if !isI32 && arr.Len() > 0 {
			return nil, fmt.Errorf("%w: tokenizer.ggml.token_type is %v, want int32 array", ErrInvalid, arr.Elem)
		}
		cfg.Types = make([]Type, len(ts))
		for i, t := range ts {
			cfg.Types[i] = Type(t)
		}
	}
	for key, dst := range map[string]*int32{
		"tokenizer.ggml.bos_token_id":     &cfg.BOS,
		"tokenizer.ggml.eos_token_id":     &cfg.EOS,
		"tokenizer.ggml.unknown_token_id": &cfg.UNK,
	} {
		v, ok, err := f.Uint(key)
		if err != nil {
			return nil, err
		}
		if ok {
			if v >= uint64(len(cfg.Tokens)) {
				return nil, fmt.Errorf("%w: %s %d is outside the %d-token vocabulary", ErrInvalid, key, v, len(cfg.Tokens))
			}
			*dst = int32(v)
		}
	}
	for _, key := range eogKeys {
		v, ok, err := f.Uint(key)
		if err != nil {
			return nil, err
		}
		// As llama.cpp, an id outside the vocabulary is ignored.
		if ok && v < uint64(len(cfg.Tokens)) {
			cfg.EOG = append(cfg.EOG, int32(v))
		}
	}
	boolKeys := map[string]*bool{
		"tokenizer.ggml.add_bos_token":    &cfg.AddBOS,
		"tokenizer.ggml.add_eos_token":    &cfg.AddEOS,
		"tokenizer.ggml.add_space_prefix": &cfg.AddSpacePrefix,
	}
	if model == ModelBPE {
		// The BPE tokenizer never adds a space prefix; llama.cpp reads the key for detokenizing only.
		delete(boolKeys, "tokenizer.ggml.add_space_prefix")
	}
	for key, dst := range boolKeys {
		v, ok, err := f.Bool(key)
		if err != nil {
			return nil, err
		}
		if ok {
			*dst = v
		}
	}
	return New(cfg)
}

// New builds a tokenizer from its parts.
func New(cfg Config) (*Tokenizer, error) {
	n := len(cfg.Tokens)
	if n == 0 {
		return nil, fmt.Errorf("%w: empty vocabulary", ErrInvalid)
	}
	if n > 1<<30 {
		return nil, fmt.Errorf("%w: %d tokens", ErrInvalid, n)
	}
	if cfg.Scores != nil && len(cfg.Scores) != n {
		return nil, fmt.Errorf("%w: %d scores for %d tokens", ErrInvalid, len(cfg.Scores), n)
	}
	if cfg.Types != nil && len(cfg.Types) != n {
		return nil, fmt.Errorf("%w: %d token types for %d tokens", ErrInvalid, len(cfg.Types), n)
	}
	for name, id := range map[string]int32{"BOS": cfg.BOS, "EOS": cfg.EOS, "UNK": cfg.UNK} {
		if id < -1 || id >= int32(n) {
			return nil, fmt.Errorf("%w: %s id %d is outside the %d-token vocabulary", ErrInvalid, name, id, n)
		}
	}
	var bpe *bpeModel
	switch cfg.Model {
	case "", ModelSPM:
	case ModelBPE:
		var err error
		if bpe, err = newBPE(cfg); err != nil {
			return nil, err
		}
		cfg.AddSpacePrefix = false
	default:
		return nil, fmt.Errorf("%w: tokenizer model %q is not supported (only %q and %q)", ErrInvalid, cfg.Model, ModelSPM, ModelBPE)
	}
	t := &Tokenizer{
		bpe:            bpe,
		tokens:         slices.Clone(cfg.Tokens),
		scores:         cfg.Scores,
		types:          slices.Clone(cfg.Types),
		toID:           make(map[string]int32, n),
		tokByte:        make([]int16, n),
		bos:            cfg.BOS,
		eos:            cfg.EOS,
		unk:            cfg.UNK,
		addBOS:         cfg.AddBOS,
		addEOS:         cfg.AddEOS,
		addSpacePrefix: cfg.AddSpacePrefix,
	}
	if t.scores == nil {
		t.scores = make([]float32, n)
	}
	if t.types == nil {
		t.types = make([]Type, n)
		for i := range t.types {
			t.types[i] = Normal
		}
	}
	for i, s := range t.tokens {
		if s == "" {
			// llama.cpp renames empty tokens so they can never match text.
			s = "[EMPTY_" + strconv.Itoa(i) + "]"
			t.tokens[i] = s
		}
		t.toID[s] = int32(i)
	}
	t.markEOG(cfg.EOG)
	for i, s := range t.tokens {
		t.tokByte[i] = -1
		switch t.types[i] {
		case Byte:
			b, ok := parseByteToken(s)
			if !ok {
				return nil, fmt.Errorf("%w: byte token %d has text %q, want <0xXX>", ErrInvalid, i, s)
			}
			t.tokByte[i] = int16(b)
		case Control, UserDefined, Unknown:
			t.special = append(t.special, int32(i))
		}
	}
	slices.SortStableFunc(t.special, func(a, b int32) int {
		return cmp.Compare(len(t.tokens[b]), len(t.tokens[a]))
	})
	t.pieces = make([]string, n)
	for i := range t.pieces {
		t.pieces[i] = t.piece(int32(i))
	}
	for b := range t.byteTok {
		t.byteTok[b] = t.unk
		if id, ok := t.toID[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.byteTok[b] = id
		} else if id, ok := t.toID[string([]byte{byte(b)})]; ok {
			t.byteTok[b] = id
		}
	}
	return t, nil
}

func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[3:5], 16, 8)
	return byte(v), err == nil
}

// VocabSize is the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// BOS is the beginning-of-sequence token, -1 if none.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS is the end-of-sequence token, -1 if none.
func (t *Tokenizer) EOS() int32 { return t.eos }

// UNK is the unknown token, -1 if none.
func (t *Tokenizer) UNK() int32 { return t.unk }

// AddBOS reports whether the model expects BOS in front of a prompt (tokenizer.ggml.add_bos_token).
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// TokenText is the vocabulary text of a token ("" when out of range).
func (t *Tokenizer) TokenText(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// TokenType is the type of a token (Undefined when out of range).
func (t *Tokenizer) TokenType(id int32) Type {
	if id < 0 || int(id) >= len(t.types) {
		return Undefined
	}
	return t.types[id]
}

// Encode tokenizes text like llama_tokenize(add_special=addBOS, parse_special=false): user-defined tokens
// are matched literally, control tokens written in the text are not. EOS is appended only when addBOS is
// set and the model asks for it (tokenizer.ggml.add_eos_token), as llama.cpp does.
func (t *Tokenizer) Encode(text string, addBOS bool) []int32 {
	return t.EncodeSpecial(text, addBOS, false)
}

// EncodeSpecial is Encode with parse_special: when set, control tokens written in the text (e.g. "</s>")
// become those tokens.
func (t *Tokenizer) EncodeSpecial(text string, addSpecial, parseSpecial bool) []int32 {
	if t.bpe != nil {
		return t.encodeBPE(text, addSpecial, parseSpecial)
	}
	var out []int32
	addBOS := addSpecial && t.addBOS && t.bos >= 0
	if addBOS {
		out = append(out, t.bos)
	}
	isPrevSpecial := true // a space prefix goes in front of the first text fragment
	for _, fr := range t.partition(text, parseSpecial) {
		if fr.token >= 0 {
			out = append(out, fr.token)
			isPrevSpecial = true
			continue
		}
		s := fr.text
		if t.addSpacePrefix && isPrevSpecial {
			s = " " + s
		}
		out = t.spm(strings.ReplaceAll(s, " ", spaceMarker), out)
		isPrevSpecial = false
	}
	if addSpecial && t.addEOS && t.eos >= 0 {
		out = append(out, t.eos)
	}
	return out
}

// fragment is a piece of input text or a special token found in it.
type fragment struct {
	text  string
	token int32 // -1 for text
}

// partition splits text around special tokens, longest token text first, like tokenizer_st_partition.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{text: text, token: -1}}
	for _, id := range t.special {
		if !parseSpecial && t.types[id] != UserDefined {
			continue
		}
		tok := t.tokens[id]
		var next []fragment
		changed := false
		for _, fr := range frags {
			if fr.token >= 0 || !strings.Contains(fr.text, tok) {
				next = append(next, fr)
				continue
			}
			changed = true
			s := fr.text
			for {
				i := strings.Index(s, tok)
				if i < 0 {
					break
				}
				if i > 0 {
					next = append(next, fragment{text: s[:i], token: -1})
				}
				next = append(next, fragment{token: id})
				s = s[i+len(tok):]
			}
			if s != "" {
				next = append(next, fragment{text: s, token: -1})
			}
		}
		if changed {
			frags = next
		}
	}
	return frags
}

// symbol is a run of input bytes in the SPM merge list. n == 0 marks a symbol merged into its left neighbour.
type symbol struct {
	start, n   int
	prev, next int
}

type bigram struct {
	left, right int
	score       float32
	size        int
}

// bigramQueue pops the highest score first, then the leftmost pair.
type bigramQueue []bigram

func (q bigramQueue) Len() int { return len(q) }
func (q bigramQueue) Less(i, j int) bool {
	if q[i].score != q[j].score {
		return q[i].score > q[j].score
	}
	return q[i].left < q[j].left
}
func (q bigramQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *bigramQueue) Push(x any)   { *q = append(*q, x.(bigram)) }
func (q *bigramQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// spmSession is llm_tokenizer_spm_session: one text fragment being tokenized.
type spmSession struct {
	t        *Tokenizer
	text     string
	symbols  []symbol
	queue    bigramQueue
	revMerge map[string][2]int
}

// utf8Len is the length of the UTF-8 sequence starting with byte b, from its high nibble, as llama.cpp's
// unicode_len_utf8 (continuation and invalid bytes count as one).
func utf8Len(b byte) int {
	return [16]int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4}[b>>4]
}

// spm appends the tokens of an escaped fragment to out.
func (t *Tokenizer) spm(text string, out []int32) []int32 {
	s := &spmSession{t: t, text: text, revMerge: map[string][2]int{}}
	for offs := 0; offs < len(text); {
		n := min(utf8Len(text[offs]), len(text)-offs)
		next := len(s.symbols) + 1
		if offs+n == len(text) {
			next = -1
		}
		s.symbols = append(s.symbols, symbol{start: offs, n: n, prev: len(s.symbols) - 1, next: next})
		offs += n
	}
	for i := 1; i < len(s.symbols); i++ {
		s.tryAddBigram(i-1, i)
	}
	for s.queue.Len() > 0 {
		bg := heap.Pop(&s.queue).(bigram)
		left, right := &s.symbols[bg.left], &s.symbols[bg.right]
		// Skip pairs whose symbols changed since the pair was queued.
		if left.n == 0 || right.n == 0 || left.n+right.n != bg.size {
			continue
		}
		left.n += right.n
		right.n = 0
		left.next = right.next
		if right.next >= 0 {
			s.symbols[right.next].prev = bg.left
		}
		s.tryAddBigram(left.prev, bg.left)
		s.tryAddBigram(bg.left, left.next)
	}
	for i := 0; i != -1 && len(s.symbols) > 0; i = s.symbols[i].next {
		out = s.resegment(i, out, 0)
	}
	return out
}

func (s *spmSession) tryAddBigram(left, right int) {
	if left == -1 || right == -1 {
		return
	}
	l := s.symbols[left]
	text := s.text[l.start : l.start+l.n+s.symbols[right].n]
	id, ok := s.t.toID[text]
	if !ok {
		return
	}
	heap.Push(&s.queue, bigram{left: left, right: right, score: s.t.scores[id], size: len(text)})
	s.revMerge[text] = [2]int{left, right}
}

func (s *spmSession) resegment(i int, out []int32, depth int) []int32 {
	sym := s.symbols[i]
	text := s.text[sym.start : sym.start+sym.n]
	if id, ok := s.t.toID[text]; ok {
		return append(out, id)
	}
	if p, ok := s.revMerge[text]; ok && depth < maxResegmentDepth {
		out = s.resegment(p[0], out, depth+1)
		return s.resegment(p[1], out, depth+1)
	}
	for j := 0; j < len(text); j++ {
		if id := s.t.byteTok[text[j]]; id >= 0 {
			out = append(out, id)
		}
	}
	return out
}

// Piece is the text a token contributes to generated output (llama.cpp's token_to_piece without special
// rendering): "▁" becomes a space in normal tokens, byte tokens give their raw byte, user-defined tokens
// their text, and control, unknown and unused tokens nothing.
func (t *Tokenizer) Piece(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

func (t *Tokenizer) piece(id int32) string {
	if t.bpe != nil {
		return t.bpePiece(id)
	}
	switch t.types[id] {
	case Normal:
		return strings.ReplaceAll(t.tokens[id], spaceMarker, " ")
	case UserDefined:
		return t.tokens[id]
	case Byte:
		return string([]byte{byte(t.tokByte[id])})
	}
	return ""
}

// Decode turns tokens back into text: the concatenated pieces, with the leading space that the space
// prefix added removed from the first token (the one after a leading BOS), as SentencePiece does. Byte
// tokens are assembled into raw bytes, so the result is what was encoded (invalid UTF-8 included).
//
// For BPE it is llama_detokenize(remove_special=false, unparse_special=false): the concatenated pieces,
// then clean_up_tokenization_spaces when the pre-tokenizer asks for it (Llama 3, GPT-2: " ." → "."), so
// only DecodeRaw inverts Encode there.
func (t *Tokenizer) Decode(ids []int32) string {
	if t.bpe != nil {
		b := []byte(t.DecodeRaw(ids))
		if t.bpe.pre.cleanSpaces {
			b = cleanSpaces(b)
		}
		return string(b)
	}
	var sb strings.Builder
	first := 0
	if len(ids) > 0 && ids[0] == t.bos && t.bos >= 0 {
		first = 1
	}
	for i, id := range ids {
		p := t.Piece(id)
		if i == first && t.addSpacePrefix {
			p = strings.TrimPrefix(p, " ")
		}
		sb.WriteString(p)
	}
	return sb.String()
}

// DecodeRaw is the concatenation of the tokens' pieces, with no clean-up: for BPE it inverts Encode on
// valid UTF-8 (byte-level BPE is lossless).
func (t *Tokenizer) DecodeRaw(ids []int32) string {
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(t.Piece(id))
	}
	return sb.String()
}

// IsBPE reports whether this is a byte-level BPE tokenizer (tokenizer.ggml.model "gpt2").
func (t *Tokenizer) IsBPE() bool { return t.bpe != nil }

// encodeBPE is llama_tokenize for a BPE vocabulary.
func (t *Tokenizer) encodeBPE(text string, addSpecial, parseSpecial bool) []int32 {
	var out []int32
	if addSpecial && t.addBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	for _, fr := range t.partition(text, parseSpecial) {
		if fr.token >= 0 {
			out = append(out, fr.token)
			continue
		}
		out = t.bpeEncode(fr.text, out)
	}
	if addSpecial && t.addEOS && t.eos >= 0 {
		out = append(out, t.eos)
	}
	return out
}
