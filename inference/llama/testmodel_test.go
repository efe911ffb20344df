package llama

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cocoon-go/cocoon/inference/gguf"
	"github.com/cocoon-go/cocoon/inference/tokenizer"
)

// testSpec describes a random-weight llama model built in tests and benchmarks.
type testSpec struct {
	embd, layers, heads, kvHeads, ffn, ctx int
	ropeDim                                int // 0: head size
	extraVocab                             int // random extra pieces on top of the base vocabulary
	tied                                   bool
	weightType                             gguf.GGMLType
	// typeFor, when set, picks the type of each matrix (by tensor name) instead of weightType, for
	// mixes such as llama.cpp's Q4_K_M.
	typeFor  func(name string) gguf.GGMLType
	seed     uint64
	freqBase float32
	scale    float32 // weight scale, 0: 1/sqrt(fan-in)-ish default
	// extraKV is added to the GGUF metadata (e.g. tokenizer.ggml.eot_token_id).
	extraKV map[string]any
	// ropeFreqs, when set, is written as rope_freqs.weight (F32, ropeDim/2 values), after all other
	// tensors so that models without it keep their bytes.
	ropeFreqs []float32
	// arch is general.architecture and the metadata prefix; "" is "llama".
	arch string
	// qkvBias adds attn_{q,k,v}.bias to every block and outBias output.bias (qwen2's tensors); both
	// draw from the random stream only when set, so that other models keep their bytes.
	qkvBias, outBias bool
}

// testVocab: <unk>, <s>, </s>, 256 byte tokens, then word pieces with SentencePiece-like scores.
func testVocab(extra int, rng *rand.Rand) ([]string, []float32, []int32) {
	var toks []string
	var scores []float32
	var types []int32
	add := func(s string, score float32, typ tokenizer.Type) {
		toks = append(toks, s)
		scores = append(scores, score)
		types = append(types, int32(typ))
	}
	add("<unk>", 0, tokenizer.Unknown)
	add("<s>", 0, tokenizer.Control)
	add("</s>", 0, tokenizer.Control)
	for b := 0; b < 256; b++ {
		add(fmt.Sprintf("<0x%02X>", b), 0, tokenizer.Byte)
	}
	pieces := []string{"▁", "e", "t", "a", "o", "i", "n", "s", "h", "r", "d", "l", "u", "▁t", "he", "▁the", "▁a",
		"in", "er", "▁and", "▁of", "é", "▁é", "€", "😀", "▁h", "▁he", "ll", "llo", "▁hello", ",", ".", "▁w", "or", "ld", "▁world"}
	for i, p := range pieces {
		add(p, -float32(i), tokenizer.Normal)
	}
	letters := "abcdefghijklmnopqrstuvwxyz"
	seen := map[string]bool{}
	for _, p := range toks {
		seen[p] = true
	}
	for len(toks) < 259+len(pieces)+extra {
		n := 2 + rng.IntN(5)
		b := []byte("▁")
		if rng.IntN(2) == 0 {
			b = nil
		}
		for j := 0; j < n; j++ {
			b = append(b, letters[rng.IntN(len(letters))])
		}
		if s := string(b); !seen[s] {
			seen[s] = true
			add(s, -float32(len(toks)), tokenizer.Normal)
		}
	}
	return toks, scores, types
}

// buildTestModel writes a GGUF file for spec and returns its bytes.
func buildTestModel(tb testing.TB, spec testSpec) []byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(spec.seed, 7))
	toks, scores, types := testVocab(spec.extraVocab, rng)
	vocab := len(toks)
	hd := spec.embd / spec.heads
	ropeDim := spec.ropeDim
	if ropeDim == 0 {
		ropeDim = hd
	}
	arch := spec.arch
	if arch == "" {
		arch = "llama"
	}
	w := gguf.NewWriter()
	w.AddKV("general.architecture", arch)
	w.AddKV("general.name", "test")
	w.AddKV(arch+".context_length", uint32(spec.ctx))
	w.AddKV(arch+".embedding_length", uint32(spec.embd))
	w.AddKV(arch+".block_count", uint32(spec.layers))
	w.AddKV(arch+".feed_forward_length", uint32(spec.ffn))
	w.AddKV(arch+".attention.head_count", uint32(spec.heads))
	w.AddKV(arch+".attention.head_count_kv", uint32(spec.kvHeads))
	w.AddKV(arch+".rope.dimension_count", uint32(ropeDim))
	if spec.freqBase != 0 {
		w.AddKV(arch+".rope.freq_base", spec.freqBase)
	}
	w.AddKV(arch+".attention.layer_norm_rms_epsilon", float32(1e-5))
	for _, k := range slices.Sorted(maps.Keys(spec.extraKV)) {
		w.AddKV(k, spec.extraKV[k])
	}
	w.AddKV("tokenizer.ggml.model", "llama")
	w.AddKV("tokenizer.ggml.tokens", toks)
	w.AddKV("tokenizer.ggml.scores", scores)
	w.AddKV("tokenizer.ggml.token_type", types)
	w.AddKV("tokenizer.ggml.bos_token_id", uint32(1))
	w.AddKV("tokenizer.ggml.eos_token_id", uint32(2))
	w.AddKV("tokenizer.ggml.unknown_token_id", uint32(0))

	tensor := func(name string, scale float32, dims ...int) {
		n := 1
		ud := make([]uint64, len(dims))
		for i, d := range dims {
			n *= d
			ud[i] = uint64(d)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64()) * scale
		}
		if len(dims) == 1 {
			// Norm weights: around 1, always F32 as llama.cpp stores them.
			for i := range v {
				v[i] = 1 + v[i]
			}
			w.AddF32(name, ud, v)
			return
		}
		typ := spec.weightType
		if spec.typeFor != nil {
			typ = spec.typeFor(name)
		}
		switch typ {
		case gguf.Q4_0, gguf.Q4_1, gguf.Q5_0, gguf.Q5_1, gguf.Q4_K, gguf.Q5_K, gguf.Q6_K:
			w.AddQuantized(name, typ, ud, v)
		case gguf.F16:
			w.AddF16(name, ud, v)
		case gguf.Q8_0:
			w.AddQ8_0(name, ud, v)
		case gguf.BF16:
			data := make([]byte, 0, 2*len(v))
			for _, x := range v {
				b := math.Float32bits(x)
				b += 0x7fff + b>>16&1 // round to nearest even
				data = binary.LittleEndian.AppendUint16(data, uint16(b>>16))
			}
			w.AddTensor(name, gguf.BF16, ud, data)
		default:
			w.AddF32(name, ud, v)
		}
	}
	// bias writes a F32 vector of N(0, scale²) values (tensor's 1-D case is a norm weight around 1).
	bias := func(name string, scale float32, n int) {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64()) * scale
		}
		w.AddF32(name, []uint64{uint64(n)}, v)
	}
	ws := func(fanIn int) float32 {
		if spec.scale != 0 {
			return spec.scale
		}
		return 1 / float32(fanIn) * 2
	}
	kvDim := spec.kvHeads * hd
	tensor("token_embd.weight", 1, spec.embd, vocab)
	for l := 0; l < spec.layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		tensor(p+"attn_norm.weight", 0.1, spec.embd)
		tensor(p+"attn_q.weight", ws(spec.embd)*4, spec.embd, spec.embd)
		tensor(p+"attn_k.weight", ws(spec.embd)*4, spec.embd, kvDim)
		tensor(p+"attn_v.weight", ws(spec.embd), spec.embd, kvDim)
		tensor(p+"attn_output.weight", ws(spec.embd), spec.embd, spec.embd)
		if spec.qkvBias {
			bias(p+"attn_q.bias", 0.5, spec.embd)
			bias(p+"attn_k.bias", 0.5, kvDim)
			bias(p+"attn_v.bias", 0.2, kvDim)
		}
		tensor(p+"ffn_norm.weight", 0.1, spec.embd)
		tensor(p+"ffn_gate.weight", ws(spec.embd), spec.embd, spec.ffn)
		tensor(p+"ffn_up.weight", ws(spec.embd), spec.embd, spec.ffn)
		tensor(p+"ffn_down.weight", ws(spec.ffn), spec.ffn, spec.embd)
	}
	tensor("output_norm.weight", 0.1, spec.embd)
	if !spec.tied {
		tensor("output.weight", ws(spec.embd)*8, spec.embd, vocab)
	}
	if spec.outBias {
		bias("output.bias", 0.5, vocab)
	}
	if spec.ropeFreqs != nil {
		w.AddF32("rope_freqs.weight", []uint64{uint64(len(spec.ropeFreqs))}, spec.ropeFreqs)
	}
	b, err := w.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func loadTestModel(tb testing.TB, spec testSpec) *Model {
	tb.Helper()
	m, err := LoadBytes(buildTestModel(tb, spec))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// smallSpec is the default test model: grouped-query attention, partial RoPE.
var smallSpec = testSpec{embd: 48, layers: 2, heads: 6, kvHeads: 2, ffn: 80, ctx: 96, ropeDim: 6, extraVocab: 40, seed: 1}
