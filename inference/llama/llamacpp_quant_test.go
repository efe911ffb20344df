package llama

import (
	"flag"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

// llamacppQuantWrite makes TestWriteLlamaCppQuantModels write the quantized reference models into a
// folder, for tools/llamacpp-ref/quant-reference.mjs. Without it that test is skipped.
var llamacppQuantWrite = flag.String("llamacpp.quantwrite", "", "write the quantized llama.cpp reference models (GGUF) into this folder")

// q4KM is llama.cpp's Q4_K_M mix on the test models: Q6_K for the output projection and for
// attn_v and ffn_down of the first layer (llama-quantize gives them more bits), Q4_K elsewhere.
func q4KM(name string) gguf.GGMLType {
	if name == "output.weight" || name == "blk.0.attn_v.weight" || name == "blk.0.ffn_down.weight" {
		return gguf.Q6_K
	}
	return gguf.Q4_K
}

// llamacppQuantSpecs are random models in each ggml quantization the engine multiplies in place, run
// through llama.cpp by tools/llamacpp-ref/quant-reference.mjs. K-quant rows are whole 256-value
// super-blocks, so those models are 256 wide. The tied models get larger weights (scale 0.2) so that
// the layers, not the input token's own embedding, decide the output (otherwise greedy decoding
// repeats the input token).
// INVARIANT: changing a spec changes its file's sha256, which the fixture records: regenerate it.
var llamacppQuantSpecs = []namedSpec{
	{"rand-q4_0", testSpec{embd: 128, layers: 2, heads: 4, kvHeads: 2, ffn: 256, ctx: 512, extraVocab: 200,
		weightType: gguf.Q4_0, seed: 21}},
	{"rand-q4_1", testSpec{embd: 96, layers: 2, heads: 3, kvHeads: 1, ffn: 192, ctx: 512, extraVocab: 150,
		weightType: gguf.Q4_1, seed: 22, freqBase: 50000}},
	{"rand-q5_0-tied", testSpec{embd: 128, layers: 2, heads: 2, kvHeads: 2, ffn: 224, ctx: 512, extraVocab: 120,
		tied: true, weightType: gguf.Q5_0, seed: 23, scale: 0.2}},
	{"rand-q5_1", testSpec{embd: 64, layers: 3, heads: 4, kvHeads: 4, ffn: 160, ctx: 512, extraVocab: 250,
		weightType: gguf.Q5_1, seed: 24}},
	{"rand-q4_k", testSpec{embd: 256, layers: 2, heads: 4, kvHeads: 2, ffn: 512, ctx: 512, extraVocab: 200,
		weightType: gguf.Q4_K, seed: 25}},
	{"rand-q5_k-tied", testSpec{embd: 256, layers: 2, heads: 2, kvHeads: 1, ffn: 256, ctx: 512, extraVocab: 100,
		tied: true, weightType: gguf.Q5_K, seed: 26, freqBase: 1e6, scale: 0.2}},
	{"rand-q6_k", testSpec{embd: 256, layers: 2, heads: 4, kvHeads: 4, ffn: 256, ctx: 512, extraVocab: 180,
		weightType: gguf.Q6_K, seed: 27}},
	{"rand-q4_k_m", testSpec{embd: 256, layers: 3, heads: 4, kvHeads: 2, ffn: 768, ctx: 512, extraVocab: 300,
		typeFor: q4KM, seed: 28}},
}

func TestWriteLlamaCppQuantModels(t *testing.T) {
	if *llamacppQuantWrite == "" {
		t.Skip("set -llamacpp.quantwrite=DIR to write the quantized llama.cpp reference models")
	}
	writeNamedSpecs(t, *llamacppQuantWrite, llamacppQuantSpecs)
}

// llamacppQuantFixture is models/testdata/llamacpp-quant-reference.json, written by
// tools/llamacpp-ref/quant-reference.mjs from llama.cpp (same fields as llamacppFixture, one run).
type llamacppQuantFixture struct {
	NodeLlamaCpp string `json:"node_llama_cpp"`
	NGenerate    int    `json:"n_generate"`
	Models       []struct {
		Name      string `json:"name"`
		SHA256    string `json:"sha256"`
		Tokenizer []struct {
			Text string  `json:"text"`
			IDs  []int32 `json:"ids"`
		} `json:"tokenizer"`
		Greedy []llamacppGreedy `json:"greedy"`
	} `json:"models"`
}

// Tolerance against llama.cpp for the quantized models (llama.cpp with a float32 K/V cache and without
// flash attention, as this engine), relative to the size of the step's logits (its top logit, at least
// 1): the untied models' logits are 2 to 8, the tied ones' (larger weights) 24 to 66.
//
// Both sides quantize the activations identically (the same Q8_0/Q8_1/Q8_K integers and scales) and
// take each block's integer dot product exactly, so what remains is the float32 order of summing
// blocks: the Q4_0/Q4_1/Q5_0/Q5_1 AVX2 kernels keep ggml's AVX2 lane order (measured 5e-9 off), the
// K-quant and portable kernels sum in one lane, and prompt batches go through float32 kernels
// (~1e-6). That compounds through the next activation quantization: a value that lands within
// summation noise of a Q8 rounding boundary (1/127 of its block's maximum) becomes a different int8 on
// the two sides and moves that step's logits, by up to 0.2% of their size in the untied models and up
// to 1.5% in the tied ones, whose large attention weights amplify any change. Measured: 12 of 929
// steps beyond 1e-4 of the logits' size (6 with the portable kernels), the median step within 2e-7.
// So: every step within 3e-2 of the logits' size, the median step within 1e-5, and every greedy
// continuation equal.
const (
	llamacppQuantRel       = 3e-2
	llamacppQuantMedianRel = 1e-5
)

func loadLlamaCppQuantFixture(t *testing.T) *llamacppQuantFixture {
	t.Helper()
	var f llamacppQuantFixture
	readFixture(t, "../../models/testdata/llamacpp-quant-reference.json", &f)
	if len(f.Models) != len(llamacppQuantSpecs) {
		t.Fatalf("llamacpp-quant-reference.json has %d models, llamacppQuantSpecs %d: regenerate it", len(f.Models), len(llamacppQuantSpecs))
	}
	return &f
}

// TestLlamaCppQuant runs every prompt llama.cpp ran on the quantized models: tokenizations, prompt
// tokens and greedy continuations must be llama.cpp's exactly, and the logits of the first generated
// positions within the tolerance above.
func TestLlamaCppQuant(t *testing.T) {
	fx := loadLlamaCppQuantFixture(t)
	for _, fm := range fx.Models {
		t.Run(fm.Name, func(t *testing.T) {
			_, b := specModel(t, llamacppQuantSpecs, fm.Name, fm.SHA256, "tools/llamacpp-ref/quant-regen.sh")
			m, err := LoadBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			// The model really is in the format under test (not decoded to float32 at load).
			if l := m.layers[0].wq; l.kq == nil || !strings.Contains(strings.ToLower(fm.Name), strings.ToLower(l.qt.String())) {
				t.Fatalf("attn_q of %s loaded as %v (kq %v)", fm.Name, l.qt, l.kq != nil)
			}
			tok := m.Tokenizer()
			for _, c := range fm.Tokenizer {
				if got := tok.Encode(c.Text, false); !slices.Equal(got, c.IDs) && len(got)+len(c.IDs) > 0 {
					t.Errorf("Encode(%q) = %v, llama.cpp %v", c.Text, got, c.IDs)
				}
			}
			var st stepStats
			tol := func(size float64) float64 { return llamacppQuantRel * max(1, size) }
			for _, g := range fm.Greedy {
				compareGreedy(t, m, g, fx.NGenerate, "", nil)
				st.compareLogits(t, m, g, "", tol)
			}
			median := medianOf(st.rel)
			flips := len(st.rel) - sort.SearchFloat64s(slices.Sorted(slices.Values(st.rel)), 1e-4)
			if median > llamacppQuantMedianRel {
				t.Errorf("median step is %g off llama.cpp relative to the logits' size, want <= %g", median, llamacppQuantMedianRel)
			}
			t.Logf("%d prompts x %d tokens; %g logit steps: max |logit - llama.cpp| %.3g (relative to the logits' size %.2g), median relative %.2g, %d steps beyond 1e-4",
				len(fm.Greedy), fx.NGenerate, st.steps, st.worst, st.worstRel, median, flips)
		})
	}
}
