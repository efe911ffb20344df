package tokenizer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

// bpeWrite makes TestWriteBPEModels write the BPE reference models (GGUF) into a folder, for
// tools/llamacpp-ref/bpe-reference.mjs. Without it that test is skipped.
var bpeWrite = flag.String("bpe.write", "", "write the llama.cpp BPE reference models (GGUF) into this folder")

// bpeFixturePath is written by tools/llamacpp-ref/bpe-reference.mjs from llama.cpp itself.
const bpeFixturePath = "../../models/testdata/llamacpp-bpe-reference.json"

// bpeNumMerges is how many merges trainBPE learns for the reference vocabulary.
const bpeNumMerges = 480

// bpeSpecials are appended after the learned vocabulary, Llama 3 style; the last one is user-defined
// (matched in text even without parse_special), the others control tokens.
var bpeSpecials = []string{"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<tool_call>"}

// bpeExtraWords are whole-word tokens that no merge path reaches: with Llama 3's ignore_merges a word
// equal to one becomes that token, with the other pre-tokenizers it is merged as usual.
var bpeExtraWords = []string{"Ġwonderful", "unbelievable", "ĠBethlehem", "Ġ2024"}

// bpePromoted are turn-ending tokens typed other than control in the GGUF: llama.cpp makes them control
// and end-of-generation tokens by their text.
var bpePromoted = []struct {
	text string
	typ  Type
}{{"<|im_end|>", Normal}, {"<|endoftext|>", UserDefined}}

// bpeOrphanMerges are merges appended after the learned ones without adding their result to the vocabulary.
var bpeOrphanMerges = []bpePair{{"Ġ", "z"}, {"Ġ", "q"}}

// bpeSpec is one reference model: the shared vocabulary under one pre-tokenizer and special-token setup.
// INVARIANT: changing a spec, the corpus or the trainer changes the model's tokenizer hash, which the
// fixture records: regenerate it (tools/llamacpp-ref/README.md).
type bpeSpec struct {
	name, pre string
	// specialIDs: write tokenizer.ggml.bos_token_id/eos_token_id (else llama.cpp's defaults, id 11).
	specialIDs bool
	// eomText: write tokenizer.ggml.eom_token_id for this token (an end-of-generation id by key).
	eomText string
	// addBOS: nil leaves tokenizer.ggml.add_bos_token out (the pre-tokenizer's default applies).
	addBOS *bool
}

var bpeSpecs = []bpeSpec{
	{name: "bpe-llama3", pre: "llama-bpe", specialIDs: true},
	{name: "bpe-qwen2", pre: "qwen2", specialIDs: true, addBOS: ptr(false), eomText: "<|start_header_id|>"},
	{name: "bpe-gpt2", pre: "gpt-2", specialIDs: true, addBOS: ptr(true)},
	{name: "bpe-default", pre: "default"},
}

// trainBPE learns n merges from text pre-tokenized like Llama 3: each step merges the most frequent
// adjacent pair (ties: the smaller pair as strings), so the result is deterministic.
func trainBPE(text string, n int) []bpePair {
	counts := map[string]int{}
	for _, w := range pretokenize(text, preLlama3.splitters) {
		counts[byteEncode(w)]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	type word struct {
		syms []string
		n    int
	}
	words := make([]word, len(keys))
	for i, k := range keys {
		for _, r := range k {
			words[i].syms = append(words[i].syms, string(r))
		}
		words[i].n = counts[k]
	}
	var merges []bpePair
	for len(merges) < n {
		pairs := map[bpePair]int{}
		for _, w := range words {
			for i := 1; i < len(w.syms); i++ {
				pairs[bpePair{w.syms[i-1], w.syms[i]}] += w.n
			}
		}
		var best bpePair
		bestN := 0
		for p, c := range pairs {
			if c > bestN || (c == bestN && (p.left+" "+p.right) < (best.left+" "+best.right)) {
				best, bestN = p, c
			}
		}
		if bestN == 0 {
			break
		}
		merges = append(merges, best)
		for i := range words {
			s := words[i].syms
			out := s[:0]
			for j := 0; j < len(s); j++ {
				if j+1 < len(s) && s[j] == best.left && s[j+1] == best.right {
					out = append(out, s[j]+s[j+1])
					j++
					continue
				}
				out = append(out, s[j])
			}
			words[i].syms = out
		}
	}
	return merges
}

// bpeVocab is the reference vocabulary: 256 byte tokens in byte order, the learned merges' results,
// bpeExtraWords, then bpeSpecials.
type bpeVocab struct {
	Tokens []string `json:"tokens"`
	Types  []int32  `json:"types"`
	Merges []string `json:"merges"`
}

// bpeVocabOnce trains the reference vocabulary once per test binary.
var bpeVocabOnce = sync.OnceValues(func() (bpeVocab, error) {
	corpus, err := os.ReadFile("testdata/bpe-corpus.txt")
	if err != nil {
		return bpeVocab{}, err
	}
	return trainBPEVocab(string(corpus)), nil
})

func buildBPEVocab(tb testing.TB) bpeVocab {
	v, err := bpeVocabOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func trainBPEVocab(corpus string) bpeVocab {
	var v bpeVocab
	seen := map[string]bool{}
	add := func(s string, typ Type) {
		if !seen[s] {
			seen[s] = true
			v.Tokens = append(v.Tokens, s)
			v.Types = append(v.Types, int32(typ))
		}
	}
	for b := range 256 {
		add(byteToRune[b], Normal)
	}
	for _, m := range trainBPE(corpus, bpeNumMerges) {
		v.Merges = append(v.Merges, m.left+" "+m.right)
		add(m.left+m.right, Normal)
	}
	for _, w := range bpeExtraWords {
		add(w, Normal)
	}
	// Orphan merges, whose result is no token: llama.cpp then falls back to single raw bytes, so the
	// encoded space of "Ġz" is dropped and only "z" remains.
	for _, m := range bpeOrphanMerges {
		if seen[m.left+m.right] {
			panic("orphan merge " + m.left + " " + m.right + " was learned")
		}
		v.Merges = append(v.Merges, m.left+" "+m.right)
	}
	for i, s := range bpeSpecials {
		typ := Control
		if i == len(bpeSpecials)-1 {
			typ = UserDefined
		}
		add(s, typ)
	}
	for _, p := range bpePromoted {
		add(p.text, p.typ)
	}
	return v
}

// tokenizerHash identifies everything that decides a spec's tokenization.
func (s bpeSpec) tokenizerHash(v bpeVocab) string {
	b, _ := json.Marshal(struct {
		V          bpeVocab
		Pre        string
		SpecialIDs bool
		AddBOS     *bool
		EOM        string
	}{v, s.pre, s.specialIDs, s.addBOS, s.eomText})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// buildBPEModel writes a GGUF that llama.cpp loads: the spec's tokenizer and tiny random llama weights.
func buildBPEModel(tb testing.TB, s bpeSpec, v bpeVocab) []byte {
	const embd, ffn, heads, ctx = 16, 32, 2, 256
	w := gguf.NewWriter()
	w.AddKV("general.architecture", "llama")
	w.AddKV("general.name", s.name)
	w.AddKV("llama.context_length", uint32(ctx))
	w.AddKV("llama.embedding_length", uint32(embd))
	w.AddKV("llama.block_count", uint32(1))
	w.AddKV("llama.feed_forward_length", uint32(ffn))
	w.AddKV("llama.attention.head_count", uint32(heads))
	w.AddKV("llama.attention.head_count_kv", uint32(heads))
	w.AddKV("llama.rope.dimension_count", uint32(embd/heads))
	w.AddKV("llama.attention.layer_norm_rms_epsilon", float32(1e-5))
	w.AddKV("tokenizer.ggml.model", ModelBPE)
	w.AddKV("tokenizer.ggml.pre", s.pre)
	w.AddKV("tokenizer.ggml.tokens", v.Tokens)
	w.AddKV("tokenizer.ggml.token_type", v.Types)
	w.AddKV("tokenizer.ggml.merges", v.Merges)
	if s.specialIDs {
		w.AddKV("tokenizer.ggml.bos_token_id", uint32(slices.Index(v.Tokens, "<|begin_of_text|>")))
		w.AddKV("tokenizer.ggml.eos_token_id", uint32(slices.Index(v.Tokens, "<|end_of_text|>")))
	}
	if s.addBOS != nil {
		w.AddKV("tokenizer.ggml.add_bos_token", *s.addBOS)
	}
	if s.eomText != "" {
		w.AddKV("tokenizer.ggml.eom_token_id", uint32(slices.Index(v.Tokens, s.eomText)))
	}
	rng := rand.New(rand.NewPCG(7, uint64(len(s.name))))
	tensor := func(name string, dims ...uint64) {
		n := uint64(1)
		for _, d := range dims {
			n *= d
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64()) * 0.2
			if len(dims) == 1 {
				x[i]++ // norm weights around 1
			}
		}
		w.AddF32(name, dims, x)
	}
	nv := uint64(len(v.Tokens))
	tensor("token_embd.weight", embd, nv)
	tensor("blk.0.attn_norm.weight", embd)
	tensor("blk.0.attn_q.weight", embd, embd)
	tensor("blk.0.attn_k.weight", embd, embd)
	tensor("blk.0.attn_v.weight", embd, embd)
	tensor("blk.0.attn_output.weight", embd, embd)
	tensor("blk.0.ffn_norm.weight", embd)
	tensor("blk.0.ffn_gate.weight", embd, ffn)
	tensor("blk.0.ffn_up.weight", embd, ffn)
	tensor("blk.0.ffn_down.weight", ffn, embd)
	tensor("output_norm.weight", embd)
	tensor("output.weight", embd, nv)
	b, err := w.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func loadBPE(tb testing.TB, s bpeSpec, v bpeVocab) *Tokenizer {
	f, err := gguf.Read(buildBPEModel(tb, s, v))
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := FromGGUF(f)
	if err != nil {
		tb.Fatalf("%s: %v", s.name, err)
	}
	return tok
}

func TestWriteBPEModels(t *testing.T) {
	if *bpeWrite == "" {
		t.Skip("set -bpe.write=DIR to write the llama.cpp BPE reference models")
	}
	if err := os.MkdirAll(*bpeWrite, 0o755); err != nil {
		t.Fatal(err)
	}
	v := buildBPEVocab(t)
	for _, s := range bpeSpecs {
		path := filepath.Join(*bpeWrite, s.name+".gguf")
		if err := os.WriteFile(path, buildBPEModel(t, s, v), 0o644); err != nil {
			t.Fatal(err)
		}
		// bpe-reference.mjs copies this into the fixture so the test knows which tokenizer it describes.
		if err := os.WriteFile(path+".tokenizer-sha256", []byte(s.tokenizerHash(v)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d tokens, %d merges", path, len(v.Tokens), len(v.Merges))
	}
}

// bpeFixtureModel is what llama.cpp made of one model or vocabulary.
type bpeFixtureModel struct {
	Name string `json:"name"`
	File string `json:"file"`
	// TokenizerHash (synthetic models) is bpeSpec.tokenizerHash; SHA256 (real vocabularies) the file's.
	TokenizerHash string `json:"tokenizer_sha256"`
	SHA256        string `json:"sha256"`
	// BOS and EOS are nil when llama.cpp's id is not a control token: node-llama-cpp reports those as null.
	BOS    *int32 `json:"bos_id"`
	EOS    *int32 `json:"eos_id"`
	AddBOS bool   `json:"add_bos"`
	// EOG are the ids llama_vocab_is_eog accepts, Control the ids whose attributes have
	// LLAMA_TOKEN_ATTR_CONTROL.
	EOG     []int32 `json:"eog_ids"`
	Control []int32 `json:"control_ids"`
	Cases   []struct {
		Text                    string  `json:"text"`
		IDs                     []int32 `json:"ids"`
		IDsParseSpecial         []int32 `json:"ids_parse_special"`
		Detokenized             string  `json:"detokenized"`
		DetokenizedParseSpecial string  `json:"detokenized_parse_special"`
	} `json:"cases"`
}

// bpeFixture is models/testdata/llamacpp-bpe-reference.json.
type bpeFixture struct {
	NodeLlamaCpp string            `json:"node_llama_cpp"`
	Models       []bpeFixtureModel `json:"models"`
	Vocabs       []bpeFixtureModel `json:"vocabs"`
}

func readBPEFixture(t *testing.T) bpeFixture {
	raw, err := os.ReadFile(bpeFixturePath)
	if err != nil {
		t.Fatal(err)
	}
	var fx bpeFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	return fx
}

// checkAgainstLlamaCpp requires tok to agree with llama.cpp on special tokens and on every case.
// lossless also requires DecodeRaw to give each valid UTF-8 text back.
func checkAgainstLlamaCpp(t *testing.T, tok *Tokenizer, fm bpeFixtureModel, lossless func(text string) bool) {
	for _, sp := range []struct {
		name string
		got  int32
		want *int32
	}{{"BOS", tok.BOS(), fm.BOS}, {"EOS", tok.EOS(), fm.EOS}} {
		if sp.want == nil && tok.TokenType(sp.got) == Control || sp.want != nil && sp.got != *sp.want {
			t.Errorf("%s %d (%v), llama.cpp %v", sp.name, sp.got, tok.TokenType(sp.got), sp.want)
		}
	}
	if !slices.Equal(tok.EOG(), fm.EOG) {
		t.Errorf("EOG %v, llama.cpp %v", tok.EOG(), fm.EOG)
	}
	var control []int32
	for id := range int32(tok.VocabSize()) {
		if tok.TokenType(id) == Control {
			control = append(control, id)
		}
	}
	if !slices.Equal(control, fm.Control) {
		t.Errorf("control tokens %v, llama.cpp %v", control, fm.Control)
	}
	if tok.AddBOS() != fm.AddBOS {
		t.Errorf("add_bos %v, llama.cpp %v", tok.AddBOS(), fm.AddBOS)
	}
	if len(fm.Cases) < 50 {
		t.Fatalf("only %d cases", len(fm.Cases))
	}
	for _, c := range fm.Cases {
		if got := tok.Encode(c.Text, false); !slices.Equal(got, c.IDs) && len(got)+len(c.IDs) > 0 {
			t.Errorf("Encode(%q) =\n %v, llama.cpp\n %v", c.Text, got, c.IDs)
		}
		if got := tok.EncodeSpecial(c.Text, false, true); !slices.Equal(got, c.IDsParseSpecial) && len(got)+len(c.IDsParseSpecial) > 0 {
			t.Errorf("EncodeSpecial(%q, parse_special) =\n %v, llama.cpp\n %v", c.Text, got, c.IDsParseSpecial)
		}
		if got := tok.Decode(c.IDs); got != c.Detokenized {
			t.Errorf("Decode(%v) = %q, llama.cpp %q", c.IDs, got, c.Detokenized)
		}
		if got := tok.Decode(c.IDsParseSpecial); got != c.DetokenizedParseSpecial {
			t.Errorf("Decode(%v) = %q, llama.cpp %q", c.IDsParseSpecial, got, c.DetokenizedParseSpecial)
		}
		if got := tok.DecodeRaw(c.IDs); utf8.ValidString(c.Text) && lossless(c.Text) && got != c.Text {
			t.Errorf("DecodeRaw(Encode(%q)) = %q", c.Text, got)
		}
	}
}

// TestLlamaCppBPE requires the Go BPE tokenizer to give llama.cpp's ids (with and without special-token
// parsing), detokenized text, special and end-of-generation tokens on every reference prompt, for every
// pre-tokenizer.
func TestLlamaCppBPE(t *testing.T) {
	fx := readBPEFixture(t)
	v := buildBPEVocab(t)
	specs := map[string]bpeSpec{}
	for _, s := range bpeSpecs {
		specs[s.name] = s
	}
	if len(fx.Models) != len(bpeSpecs) {
		t.Fatalf("fixture has %d models, want %d (regenerate it)", len(fx.Models), len(bpeSpecs))
	}
	for _, fm := range fx.Models {
		t.Run(fm.Name, func(t *testing.T) {
			s, ok := specs[fm.Name]
			if !ok {
				t.Fatalf("fixture model %q is not a spec", fm.Name)
			}
			if h := s.tokenizerHash(v); h != fm.TokenizerHash {
				t.Fatalf("tokenizer hash %s, fixture %s: the vocabulary changed, regenerate the fixture", h, fm.TokenizerHash)
			}
			tok := loadBPE(t, s, v)
			if !s.specialIDs && (tok.BOS() != 11 || tok.EOS() != 11) {
				// llama.cpp's defaults for a "gpt2" model without bos/eos ids (llama-vocab.cpp).
				t.Errorf("default BOS/EOS %d/%d, want 11/11", tok.BOS(), tok.EOS())
			}
			// Byte-level BPE is lossless, unless an orphan merge dropped a space.
			checkAgainstLlamaCpp(t, tok, fm, func(text string) bool { return !strings.ContainsAny(text, "zq") })
		})
	}
}

// bpeVocabs is a folder holding llama.cpp's models/ggml-vocab-*.gguf (bpe-regen.sh extracts them).
var bpeVocabs = flag.String("bpe.vocabs", "", "folder with llama.cpp's ggml-vocab-*.gguf files, for TestLlamaCppBPEVocabs")

// TestLlamaCppBPEVocabs checks real vocabularies (Llama 3, Qwen2, GPT-2, MPT: llama.cpp's vocab-only test
// GGUFs, 2–8 MB each, so not in the repository) against llama.cpp. It needs -bpe.vocabs.
func TestLlamaCppBPEVocabs(t *testing.T) {
	fx := readBPEFixture(t)
	if len(fx.Vocabs) == 0 {
		t.Fatal("the fixture has no real vocabularies (regenerate it with bpe-regen.sh)")
	}
	if *bpeVocabs == "" {
		t.Skip("set -bpe.vocabs=DIR (tools/llamacpp-ref/bpe-regen.sh does) to check real vocabularies")
	}
	for _, fm := range fx.Vocabs {
		t.Run(fm.Name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(*bpeVocabs, fm.File))
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != fm.SHA256 {
				t.Fatalf("%s is not the file the fixture was made from", fm.File)
			}
			f, err := gguf.Read(b)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := FromGGUF(f)
			if err != nil {
				t.Fatal(err)
			}
			if !tok.IsBPE() {
				t.Fatal("not a BPE vocabulary")
			}
			checkAgainstLlamaCpp(t, tok, fm, func(string) bool { return true })
		})
	}
}

// bpeFuzzTokenizers are the reference tokenizers, built once for the fuzz targets.
func bpeFuzzTokenizers(tb testing.TB) []*Tokenizer {
	v := buildBPEVocab(tb)
	var toks []*Tokenizer
	for _, s := range bpeSpecs {
		toks = append(toks, loadBPE(tb, s, v))
	}
	return toks
}

// FuzzBPE: no input makes the tokenizer fail, every id is in the vocabulary, and valid UTF-8 comes back
// unchanged from DecodeRaw (without special parsing; control tokens would drop out of the text).
func FuzzBPE(f *testing.F) {
	for _, s := range []string{"", " ", "  \n\n  ", "Hello world", "I'M here, you'Re", "12345 6789", "日本語 😀👍🏽",
		"<|begin_of_text|>x<|eot_id|>", "a<tool_call>b", "\xff\xfe bad \xc3", "\xed\xa0\x80", "\t\t x \r\n", "a  b   c",
		"¼ ½ ٣ x² Ⅻ", "\u00a0\u3000\u2028 z", "'s 'S 't 'Ll 'VE", "$$$ +++ ``` |||", "1,234,567.89"} {
		f.Add(s)
	}
	toks := bpeFuzzTokenizers(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range toks {
			for _, special := range []bool{false, true} {
				ids := tok.EncodeSpecial(s, true, special)
				for _, id := range ids {
					if id < 0 || int(id) >= tok.VocabSize() {
						t.Fatalf("id %d outside the vocabulary", id)
					}
				}
				_ = tok.Decode(ids)
			}
			if !utf8.ValidString(s) {
				continue
			}
			ids := tok.Encode(s, false)
			if got := tok.DecodeRaw(ids); got != s && !strings.ContainsAny(s, "zq") {
				t.Fatalf("DecodeRaw(Encode(%q)) = %q", s, got)
			}
		}
	})
}

func TestBPEUnknownPreTokenizer(t *testing.T) {
	v := buildBPEVocab(t)
	f, err := gguf.Read(buildBPEModel(t, bpeSpec{name: "x", pre: "no-such-pre"}, v))
	if err != nil {
		t.Fatal(err)
	}
	_, err = FromGGUF(f)
	if err == nil || !strings.Contains(err.Error(), `"no-such-pre"`) || !strings.Contains(err.Error(), "llama-bpe") {
		t.Fatalf("err = %v, want one naming the value and the supported pre-tokenizers", err)
	}
}

func TestBPECleanSpaces(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "",
		"a":                         "a",
		"Hello , world !":           "Hello, world!",
		"a ' b":                     "a'b",
		"it 's I 'm we 're you 've": "it's I'm we're you've",
		"don 't I 'd we 'll":        "don 't I 'd we 'll",
		" .":                        ".",
	} {
		if got := string(cleanSpaces([]byte(in))); got != want {
			t.Errorf("cleanSpaces(%q) = %q, want %q", in, got, want)
		}
	}
	if !bytes.Equal(cleanSpaces(nil), nil) {
		t.Error("cleanSpaces(nil) is not empty")
	}
}

func ptr[T any](v T) *T { return &v }

func TestBPEAddSpecial(t *testing.T) {
	v := buildBPEVocab(t)
	for _, s := range bpeSpecs {
		tok := loadBPE(t, s, v)
		ids := tok.Encode("Hello", true)
		plain := tok.Encode("Hello", false)
		wantBOS := s.pre == "llama-bpe" || (s.addBOS != nil && *s.addBOS)
		if wantBOS != tok.AddBOS() {
			t.Errorf("%s: AddBOS %v, want %v", s.name, tok.AddBOS(), wantBOS)
		}
		if wantBOS {
			plain = append([]int32{tok.BOS()}, plain...)
		}
		if !slices.Equal(ids, plain) {
			t.Errorf("%s: Encode(add_special) = %v, want %v", s.name, ids, plain)
		}
	}
}
