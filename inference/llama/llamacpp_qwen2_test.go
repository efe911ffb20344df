package llama

import (
	"flag"
	"slices"
	"testing"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

// llamacppQwen2Write makes TestWriteLlamaCppQwen2Models write the qwen2 reference models into a folder,
// for tools/llamacpp-ref/qwen2-reference.mjs. Without it that test is skipped.
var llamacppQwen2Write = flag.String("llamacpp.qwen2.write", "", "write the qwen2 llama.cpp reference models (GGUF) into this folder")

// llamacppQwen2Specs are random qwen2-architecture models (qwen2.* metadata, Q/K/V biases, NEOX RoPE)
// that tools/llamacpp-ref/qwen2-reference.mjs runs through llama.cpp: Qwen2.5's shapes in small
// (grouped-query attention, RoPE base 1e6, tied output in the small Qwen2.5 models), one with an output
// bias, one with linear RoPE scaling. They use the tests' SentencePiece vocabulary: llama.cpp takes any
// tokenizer with any architecture, and Qwen's byte-level BPE is covered by the tokenizer's own tests.
// INVARIANT: changing a spec changes its file's sha256, which the fixture records: regenerate it.
var llamacppQwen2Specs = []namedSpec{
	{"qwen2-f32-outbias", testSpec{arch: "qwen2", embd: 128, layers: 2, heads: 4, kvHeads: 2, ffn: 256, ctx: 1024, extraVocab: 300,
		seed: 31, freqBase: 1e6, qkvBias: true, outBias: true}},
	{"qwen2-q8_0-tied", testSpec{arch: "qwen2", embd: 128, layers: 2, heads: 2, kvHeads: 1, ffn: 256, ctx: 1024, extraVocab: 200,
		tied: true, weightType: gguf.Q8_0, seed: 32, freqBase: 1e6, qkvBias: true}},
	{"qwen2-bf16-linear", testSpec{arch: "qwen2", embd: 96, layers: 3, heads: 6, kvHeads: 2, ffn: 160, ctx: 1024, extraVocab: 250,
		weightType: gguf.BF16, seed: 33, qkvBias: true,
		extraKV: map[string]any{"qwen2.rope.scaling.type": "linear", "qwen2.rope.scaling.factor": float32(2)}}},
}

func TestWriteLlamaCppQwen2Models(t *testing.T) {
	if *llamacppQwen2Write == "" {
		t.Skip("set -llamacpp.qwen2.write=DIR to write the qwen2 llama.cpp reference models")
	}
	writeNamedSpecs(t, *llamacppQwen2Write, llamacppQwen2Specs)
}

// TestLlamaCppQwen2 compares the qwen2 models with llama.cpp as TestLlamaCppRopeScaling does: prompt
// ids and greedy continuations equal, every generated position's top-5 logits and log-sum-exp within
// tolerance. The model with adjacent-pair RoPE instead of NEOX, and without its Q/K/V biases, must each
// miss llama.cpp by far more, so that the fixture exercises both.
func TestLlamaCppQwen2(t *testing.T) {
	compareLongFixture(t, "../../models/testdata/llamacpp-qwen2-reference.json", "tools/llamacpp-ref/qwen2-regen.sh", llamacppQwen2Specs,
		func(t *testing.T, spec testSpec, m *Model) map[string]*Model {
			in := m.Info()
			if in.Architecture != "qwen2" || !in.RopeNeox || !in.QKVBias || (m.outBias != nil) != spec.outBias {
				t.Fatalf("qwen2 model loaded as %+v (output bias %v)", in, m.outBias != nil)
			}
			norm := *m
			norm.info.RopeNeox = false
			noBias := *m
			noBias.layers = slices.Clone(m.layers)
			for i := range noBias.layers {
				noBias.layers[i].bq, noBias.layers[i].bk, noBias.layers[i].bv = nil, nil, nil
			}
			return map[string]*Model{"with adjacent-pair RoPE": &norm, "without the Q/K/V biases": &noBias}
		})
}
